# Cascade R-CNN w/ SR-TOD on VisDrone2019, variant: difference map only (supplement Table 1 'DM').
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(dgfe=dict(parts='dm')))
