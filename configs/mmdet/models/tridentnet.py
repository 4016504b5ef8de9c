# TridentNet (Li et al., ICCV 2019) as mmdet's tridentnet_r50-caffe_1x_coco: Faster R-CNN C4 with
# a caffe-style ImageNet ResNet-50 whose stage 3 has 3 weight-sharing branches (dilations 1, 2,
# 3); the middle branch at test time. Model only.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50-caffe-c4.py'

custom_imports = dict(imports=['srtod'], allow_failed_imports=False)

model = dict(
    type='TridentFasterRCNN',
    backbone=dict(
        type='TridentResNet', trident_dilations=(1, 2, 3), num_branch=3, test_branch_idx=1,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet50_caffe')),
    roi_head=dict(type='TridentRoIHead', num_branch=3, test_branch_idx=1),
    train_cfg=dict(
        rpn_proposal=dict(max_per_img=500),
        rcnn=dict(sampler=dict(num=128, pos_fraction=0.5, add_gt_as_proposals=False))))
