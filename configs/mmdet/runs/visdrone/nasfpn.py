# NAS-FPN on VisDrone2019 (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.visdrone, runs.visdrone/nasfpn).
_base_ = [
    '../../models/nasfpn.py', '../../datasets/visdrone.py',
    '../../schedules/sgd_12e_rfla.py', '../../default_runtime.py'
]

model = dict(
    # RPN anchor scale 6 (the authors' code)
    rpn_head=dict(anchor_generator=dict(scales=[6])),
    # 3000 proposals in training and test, 3000 detections per image (code, as RFLA)
    train_cfg=dict(rpn_proposal=dict(nms_pre=3000, max_per_img=3000)),
    test_cfg=dict(rpn=dict(nms_pre=3000, max_per_img=3000), rcnn=dict(max_per_img=3000)))
