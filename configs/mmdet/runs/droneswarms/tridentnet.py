# TridentNet on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/tridentnet).
_base_ = ['../../models/tridentnet.py', '../../datasets/droneswarms.py',
          '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py']
