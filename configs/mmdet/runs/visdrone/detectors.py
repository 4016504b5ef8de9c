# DetectoRS on VisDrone2019 (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.visdrone, runs.visdrone/detectors).
_base_ = ['../../models/detectors.py', '../../datasets/visdrone.py',
          '../../schedules/sgd_12e_rfla.py', '../../default_runtime.py']

# The model's RPN anchor scale 8 (mmdet's default, as the authors' base models and RFLA's
# baselines); 3000 proposals in training and test and 3000 detections per image, RFLA's protocol
# (Chasel-Tsui/mmdet-rfla@198977b:configs/baselines/aitod_cascade_r50_1x.py, as the authors'
# Hiyuur/SR-TOD@1c4d93b:configs/_base_/models/cascade-rcnn_r50_fpn.py)
model = dict(
    train_cfg=dict(rpn_proposal=dict(nms_pre=3000, max_per_img=3000)),
    test_cfg=dict(rpn=dict(nms_pre=3000, max_per_img=3000), rcnn=dict(max_per_img=3000)))
