# Full DetectoRS (Qiao et al., CVPR 2021): ./detectors.py plus Switchable Atrous Convolution in
# stages 2-4 of both backbones (mmdet's detectors_cascade-rcnn_r50_1x_coco). An option: the
# SR-TOD tables use ./detectors.py, as the authors' code does.
_base_ = './detectors.py'

model = dict(
    backbone=dict(sac=dict(type='SAC', use_deform=True),
                  stage_with_sac=(False, True, True, True)),
    neck=dict(rfp_backbone=dict(sac=dict(type='SAC', use_deform=True),
                                stage_with_sac=(False, True, True, True))))
