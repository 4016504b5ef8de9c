# Cascade RPN on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/cascade_rpn).
_base_ = ['../../models/cascade_rpn.py', '../../datasets/droneswarms.py',
          '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py']

# gradient clipping, as mmdet's Cascade RPN config
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
