# Cascade R-CNN w/ SR-TOD on VisDrone2019, variant: T_init = 6/255 (supplement Table 3).
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(dgfe=dict(threshold_init=6 / 255)))
