# NAS-FPN on VisDrone2019 (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.visdrone, runs.visdrone/nasfpn).
_base_ = ['../../models/nasfpn.py', '../../datasets/visdrone.py',
          '../../schedules/sgd_12e_rfla.py', '../../default_runtime.py']

# 3000 pre-NMS boxes and 3000 detections per image: RFLA's RetinaNet protocol
# (Chasel-Tsui/mmdet-rfla@198977b:configs/_base_/models/retinanet_r50_fpn_aitod.py), as the
# authors' RetinaNet model (Hiyuur/SR-TOD@1c4d93b:configs/_base_/models/retinanet_r50_fpn.py)
model = dict(test_cfg=dict(nms_pre=3000, max_per_img=3000))
