# Cascade R-CNN w/ SR-TOD on DroneSwarms, variant: concatenation instead of attention (paper Table
# 6).
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(dgfe=dict(enhancement='concat')))
