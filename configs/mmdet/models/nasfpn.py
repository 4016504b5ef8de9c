# RetinaNet with a NAS-FPN neck (Ghiasi et al., CVPR 2019): the authors' NAS-FPN config
# (Hiyuur/SR-TOD@1c4d93b:configs/nas_fpn/retinanet_r50_nasfpn_crop640-50e_coco.py), i.e. mmdet's
# NASFPN neck (7 stacked cells, BN, P3-P7) on their plain RetinaNet model
# (configs/retinanet/retinanet_r50_fpn_1x_coco.py), not on mmdet's 640-crop RetinaNet with
# separate-BN heads that the stock config uses. Model only.
_base_ = './retinanet.py'

model = dict(
    # every level of P3-P7 (strides 8-128) must divide the padded input for NAS-FPN's merges
    data_preprocessor=dict(pad_size_divisor=128),
    neck=dict(
        _delete_=True,
        type='NASFPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5,
        stack_times=7,
        start_level=1,
        norm_cfg=dict(type='BN', requires_grad=True)))
