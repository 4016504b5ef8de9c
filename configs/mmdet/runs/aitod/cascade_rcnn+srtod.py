# Cascade R-CNN w/ SR-TOD on AI-TOD: the run aitod/cascade_rcnn-s4 plus SR-TOD with the paper's
# defaults and AI-TOD's T_init (configs/mmdet/srtod/aitod.py).
_base_ = ['./cascade_rcnn-s4.py', '../../srtod/aitod.py']

model = _base_.pop('srtod_model')
