# RetinaNet on DroneSwarms (paper tier). Settings and their reasons:
# configs/experiments.yaml (datasets.droneswarms, runs.droneswarms/retinanet).
_base_ = [
    '../../models/retinanet.py', '../../datasets/droneswarms.py',
    '../../schedules/sgd_20e_droneswarms.py', '../../default_runtime.py'
]
