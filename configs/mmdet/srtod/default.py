# SR-TOD with the paper's defaults: a reconstruction head on P2 (paper 3.1) trained with an MSE
# loss (paper 3.2), the pixel difference map (paper Table 7 'PD'), DGFE (paper 3.3) with a
# learnable threshold (paper Table 5 'Learnable T'), reweighting and difference map (supplement
# Table 1 'RW + DM') and enhancement by attention (paper Table 6 'EA'). The starting threshold
# T_init is the dataset's: ./<dataset>.py, the fragment a run takes.
#
# A fragment, not a `model`: mmengine forbids `model` in two sibling bases, so a `+srtod` run
# config lists its baseline and ./<dataset>.py as bases and takes the fragment with
#     model = _base_.pop('srtod_model')
# which merges it into the baseline's model and, being popped, leaves no `srtod_model` key in the
# resolved config.
srtod_model = dict(
    type='SRTODTwoStageDetector',
    data_preprocessor=dict(type='SRTODDataPreprocessor'),
    srtod=dict(
        level=0,  # the first level of the neck: P2
        rec_head=dict(type='ReconstructionHead', in_channels=256, stride=4),
        diff_map=dict(type='pixel'),
        dgfe=dict(type='DGFE', channels=256, reduction=16, threshold_init=None,
                  filtration='learnable', enhancement='ea', parts='rw+dm'),
        loss_rec=dict(type='mmdet.MSELoss', loss_weight=1.0),
        predicted=False))
