# RFLA w/ SR-TOD on DroneSwarms: the run droneswarms/rfla plus SR-TOD with the paper's defaults and
# DroneSwarms's T_init (configs/mmdet/srtod/droneswarms.py).
_base_ = ['./rfla.py', '../../srtod/droneswarms.py']

model = _base_.pop('srtod_model')
