# ATSS on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/atss).
_base_ = [
    '../../models/atss.py', '../../datasets/droneswarms.py',
    '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py'
]
