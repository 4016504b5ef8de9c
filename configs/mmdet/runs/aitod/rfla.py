# RFLA on AI-TOD (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.aitod, runs.aitod/rfla).
_base_ = ['../../models/rfla_cascade_rcnn.py', '../../datasets/aitod.py',
          '../../schedules/sgd_12e_rfla.py', '../../default_runtime.py']
