# SR-TOD on DOTA: the paper's defaults (./default.py) with T_init = 3/255, AI-TOD's value (our
# choice: the supplement gives none for DOTA, from whose scenes AI-TOD partly comes).
_base_ = './default.py'

srtod_model = dict(srtod=dict(dgfe=dict(threshold_init=3 / 255)))
