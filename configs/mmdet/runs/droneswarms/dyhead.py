# DyHead on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/dyhead).
_base_ = ['../../models/dyhead.py', '../../datasets/droneswarms.py',
          '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py']

# anchor scale 2 (paper 4.1; Hiyuur/SR-TOD@1c4d93b:configs/dyhead/atss_r50_fpn_dyhead_1x_coco.py
# has octave_base_scale=2)
model = dict(bbox_head=dict(anchor_generator=dict(octave_base_scale=2)))
