# RFLA on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/rfla).
_base_ = ['../../models/rfla_cascade_rcnn.py', '../../datasets/droneswarms.py',
          '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py']
