# DetectoRS w/ PDM on AI-TOD (supplement Table 5): a predicted difference map in place of the
# reconstructed one. Our reading of the supplement ('predictive version by using ground truth'):
# a light head on P2 learns to predict a map rendered from the GT boxes; DGFE uses it; there is
# no reconstruction. See configs/experiments.yaml, runs.aitod/detectors+srtod-pdm.
_base_ = './detectors+srtod.py'

# The threshold filters a predicted probability, so it starts at 0.5 (not 3/255).
model = dict(srtod=dict(predicted=True, dgfe=dict(threshold_init=0.5)))
