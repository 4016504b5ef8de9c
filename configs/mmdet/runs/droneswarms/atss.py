# ATSS on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/atss).
_base_ = ['../../models/atss.py', '../../datasets/droneswarms.py',
          '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py']

# anchor scale 2 (paper 4.1, for all DroneSwarms experiments); see configs/experiments.yaml
model = dict(bbox_head=dict(anchor_generator=dict(octave_base_scale=2)))
