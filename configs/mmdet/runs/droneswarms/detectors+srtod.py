# DetectoRS w/ SR-TOD on DroneSwarms: the run droneswarms/detectors plus SR-TOD with the paper's
# defaults and DroneSwarms's T_init (configs/mmdet/srtod/droneswarms.py).
_base_ = ['./detectors.py', '../../srtod/droneswarms.py']

model = _base_.pop('srtod_model')
