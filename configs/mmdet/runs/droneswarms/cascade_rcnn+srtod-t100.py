# Cascade R-CNN w/ SR-TOD on DroneSwarms, variant: T_init = 100/255 (supplement Table 2).
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(dgfe=dict(threshold_init=100 / 255)))
