# RetinaNet w/ SR-TOD on DroneSwarms: the run droneswarms/retinanet plus SR-TOD with the paper's
# defaults and DroneSwarms's T_init (configs/mmdet/srtod/droneswarms.py). RetinaNet has no P2:
# SR-TOD reconstructs from P3 (paper 4.2) with log2(8) = 3 up-sampling blocks, so that I_r has
# the input's size (our decision, configs/experiments.yaml).
_base_ = ['./retinanet.py', '../../srtod/droneswarms.py']

model = _base_.pop('srtod_model')
model.type = 'SRTODSingleStageDetector'
model.srtod.rec_head.stride = 8  # level 0 of RetinaNet's neck is P3
