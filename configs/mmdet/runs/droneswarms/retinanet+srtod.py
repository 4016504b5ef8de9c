# RetinaNet w/ SR-TOD on DroneSwarms: the baseline run plus SR-TOD with the paper's
# defaults (EA, learnable threshold, RW + DM, pixel difference map), T_init = 40/255.
# RetinaNet has no P2: SR-TOD reconstructs from P3 with log2(8) = 3 up-sampling blocks so
# that I_r has the input's size (our decision, configs/experiments.yaml).
_base_ = './retinanet.py'

model = dict(
    type='SRTODSingleStageDetector',
    data_preprocessor=dict(type='SRTODDataPreprocessor'),
    srtod=dict(
        level=0,  # P3, the first level of RetinaNet's neck (P 3.1)
        rec_head=dict(type='ReconstructionHead', in_channels=256, stride=8),
        diff_map=dict(type='pixel'),
        dgfe=dict(type='DGFE', channels=256, reduction=16, threshold_init=40 / 255,
                  filtration='learnable', enhancement='ea', parts='rw+dm'),
        loss_rec=dict(type='mmdet.MSELoss', loss_weight=1.0),
        predicted=False))
