# RFLA w/ SR-TOD on DOTA: the run dota/rfla plus SR-TOD with the paper's defaults and DOTA's T_init
# (configs/mmdet/srtod/dota.py).
_base_ = ['./rfla.py', '../../srtod/dota.py']

model = _base_.pop('srtod_model')
