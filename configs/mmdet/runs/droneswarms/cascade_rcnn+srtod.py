# Cascade R-CNN w/ SR-TOD on DroneSwarms: the run droneswarms/cascade_rcnn plus SR-TOD with the
# paper's defaults and DroneSwarms's T_init (configs/mmdet/srtod/droneswarms.py).
_base_ = ['./cascade_rcnn.py', '../../srtod/droneswarms.py']

model = _base_.pop('srtod_model')
