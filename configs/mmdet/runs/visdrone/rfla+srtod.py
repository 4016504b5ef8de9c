# RFLA w/ SR-TOD on VisDrone2019: the run visdrone/rfla plus SR-TOD with the paper's defaults and
# VisDrone2019's T_init (configs/mmdet/srtod/visdrone.py).
_base_ = ['./rfla.py', '../../srtod/visdrone.py']

model = _base_.pop('srtod_model')
