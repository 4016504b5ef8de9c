# RFLA w/ SR-TOD on AI-TOD: the run aitod/rfla plus SR-TOD with the paper's defaults and AI-TOD's
# T_init (configs/mmdet/srtod/aitod.py).
_base_ = ['./rfla.py', '../../srtod/aitod.py']

model = _base_.pop('srtod_model')
