# Faster R-CNN w/ SR-TOD on AI-TOD: the baseline run plus SR-TOD with the paper's
# defaults (EA, learnable threshold, RW + DM, pixel difference map), T_init = 3/255.
_base_ = './faster_rcnn.py'

model = dict(
    type='SRTODTwoStageDetector',
    data_preprocessor=dict(type='SRTODDataPreprocessor'),
    srtod=dict(
        level=0,  # P2
        rec_head=dict(type='ReconstructionHead', in_channels=256, stride=4),
        diff_map=dict(type='pixel'),
        dgfe=dict(type='DGFE', channels=256, reduction=16, threshold_init=3 / 255,
                  filtration='learnable', enhancement='ea', parts='rw+dm'),
        loss_rec=dict(type='mmdet.MSELoss', loss_weight=1.0),
        predicted=False))
