# Faster R-CNN on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/faster_rcnn).
_base_ = ['../../models/faster_rcnn.py', '../../datasets/droneswarms.py',
          '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py']

# RPN anchor scale 2 (paper 4.1)
model = dict(rpn_head=dict(anchor_generator=dict(scales=[2])))
