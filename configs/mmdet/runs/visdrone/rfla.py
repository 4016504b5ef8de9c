# RFLA on VisDrone2019 (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.visdrone, runs.visdrone/rfla).
_base_ = ['../../models/rfla_cascade_rcnn.py', '../../datasets/visdrone.py',
          '../../schedules/sgd_12e_rfla.py', '../../default_runtime.py']
