# RetinaNet on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/retinanet).
_base_ = ['../../models/retinanet.py', '../../datasets/droneswarms.py',
          '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py']

# anchor scale 2 (paper 4.1), and the test settings of the authors' RetinaNet model
# (Hiyuur/SR-TOD@1c4d93b:configs/_base_/models/retinanet_r50_fpn.py: octave_base_scale=2,
# nms_pre=3000, max_per_img=3000)
model = dict(bbox_head=dict(anchor_generator=dict(octave_base_scale=2)),
             test_cfg=dict(nms_pre=3000, max_per_img=3000))
