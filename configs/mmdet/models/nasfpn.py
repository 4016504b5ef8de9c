# Cascade R-CNN with a NAS-FPN neck (Ghiasi et al., CVPR 2019; mmdet's NASFPN, 7 stacked cells,
# BN) on P2-P6, so that in supplement Table 6 only the neck differs from the FPN (Cascade R-CNN)
# and Recursive-FPN (DetectoRS) rows. The supplement does not name the host detector; this is our
# decision (configs/experiments.yaml). Model only.
_base_ = './cascade_rcnn.py'

model = dict(
    # every level of P2-P6 (strides 4-64) must divide the padded input for NAS-FPN's merges
    data_preprocessor=dict(pad_size_divisor=64),
    neck=dict(
        _delete_=True,
        type='NASFPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5,
        stack_times=7,
        start_level=0,
        norm_cfg=dict(type='BN', requires_grad=True)))
