# "DetectoRS" as in the SR-TOD authors' code: Cascade R-CNN + Recursive Feature Pyramid (2 steps,
# ASPP) + ConvAWS backbone, WITHOUT Switchable Atrous Convolution (= mmdet's
# cascade-rcnn_r50-rfp_1x_coco; Hiyuur/SR-TOD@1c4d93b:configs/detectors/
# cascade-rcnn_r50-rfp_1x_coco.py and srtod_project/srtod_detectors/config/
# srtod-cascade-rcnn_r50-rfp_1x_coco.py). Full DetectoRS (with SAC) is ./detectors_sac.py.
# Model only.
_base_ = './cascade_rcnn.py'

model = dict(
    backbone=dict(type='DetectoRS_ResNet', conv_cfg=dict(type='ConvAWS'), output_img=True),
    neck=dict(
        type='RFP',
        rfp_steps=2,
        aspp_out_channels=64,
        aspp_dilations=(1, 3, 6, 1),
        rfp_backbone=dict(
            type='DetectoRS_ResNet',
            depth=50,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            frozen_stages=1,
            norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=True,
            conv_cfg=dict(type='ConvAWS'),
            rfp_inplanes=256,
            pretrained='torchvision://resnet50',
            style='pytorch')))
