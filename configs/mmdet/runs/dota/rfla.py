# RFLA on DOTA (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.dota, runs.dota/rfla).
_base_ = ['../../models/rfla_cascade_rcnn.py', '../../datasets/dota.py',
          '../../schedules/sgd_12e_rfla.py', '../../default_runtime.py']
