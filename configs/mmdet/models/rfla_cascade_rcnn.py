# RFLA (Xu et al., ECCV 2022) in the RPN of mmdet's Cascade R-CNN R50-FPN: the "RFLA" detector
# of SR-TOD's tables ("RFLA is based on Cascade R-CNN", paper Table 1). Model only: the run configs
# add a dataset, a schedule and, for `+srtod` runs, SR-TOD (configs/mmdet/srtod/).
# Settings as RFLA's Chasel-Tsui/mmdet-rfla@198977b:configs/rfla/aitod_cascade_r50_rfla_kld_1x.py
# and the authors' Hiyuur/SR-TOD@1c4d93b:srtod_project/srtod_rfla/config/
# srtod_cascade_r50_rfla_kld_1x_visdrone.py (the same model): RFGenerator priors from P2 with
# fraction 0.5 (ratios 0.5/1/2 and the ResNet-50 receptive fields are the generator's defaults,
# Hiyuur/SR-TOD@1c4d93b:srtod_project/srtod_rfla/rf_generator.py), HieAssigner with the KL
# distance, topk [3, 1], ratio 0.9, and 3000 proposals and detections.
_base_ = 'mmdet::_base_/models/cascade-rcnn_r50_fpn.py'

custom_imports = dict(imports=['srtod'], allow_failed_imports=False)

model = dict(
    rpn_head=dict(
        anchor_generator=dict(
            _delete_=True,
            type='RFGenerator',
            fpn_layer='p2',          # priors on P2-P6
            fraction=0.5,            # effective receptive field = 0.5 x theoretical RF
            depth=50,                # must match model.backbone.depth (the TRF depends on it)
            ratios=[0.5, 1.0, 2.0],
            strides=[4, 8, 16, 32, 64])),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(
                _delete_=True,
                type='HieAssigner',
                ignore_iof_thr=-1,
                gpu_assign_thr=512,
                iou_calculator=dict(type='BboxDistanceMetric'),
                assign_metric='kl',  # KL divergence as the receptive-field distance
                topk=[3, 1],
                ratio=0.9,
                # The reference shrinks the priors in place (anchor_rescale in
                # Hiyuur/SR-TOD@1c4d93b:srtod_project/srtod_rfla/hierarchical_assigner.py and
                # Chasel-Tsui/mmdet-rfla@198977b:mmdet/core/bbox/assigners/
                # hierarchical_assigner.py), so the RPN head encodes its regression targets
                # against the shrunk priors; the published numbers were trained so.
                shrink_priors_inplace=True)),
        rpn_proposal=dict(nms_pre=3000, max_per_img=3000)),
    test_cfg=dict(
        rpn=dict(nms_pre=3000, max_per_img=3000),
        rcnn=dict(max_per_img=3000)))
