# RFLA (Xu et al., ECCV 2022) in the RPN of mmdet's Cascade R-CNN R50-FPN: the "RFLA" detector
# of SR-TOD's tables ("RFLA is based on Cascade R-CNN"). Model only: the registry composes it
# with a dataset, a schedule and, for `+srtod` runs, the SR-TOD detector type and `srtod` key.
# Settings: REFERENCE-FACTS section 2, "RFLA (Cascade)"; the same model as RFLA's
# configs/rfla/aitod_cascade_r50_rfla_kld_1x.py and SR-TOD's srtod_rfla configs.
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
                # The reference hands the shrunk priors back to the RPN head, which encodes its
                # regression targets against them; the published numbers were trained so.
                shrink_priors_inplace=True)),
        rpn_proposal=dict(nms_pre=3000, max_per_img=3000)),
    test_cfg=dict(
        rpn=dict(nms_pre=3000, max_per_img=3000),
        rcnn=dict(max_per_img=3000)))
