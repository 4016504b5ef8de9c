# SR-TOD on AI-TOD: the paper's defaults (./default.py) with T_init = 3/255 (supplement 1.3).
_base_ = './default.py'

srtod_model = dict(srtod=dict(dgfe=dict(threshold_init=3 / 255)))
