# Cascade R-CNN w/ SR-TOD on VisDrone2019, variant: reweighting only (supplement Table 1 'RW').
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(dgfe=dict(parts='rw')))
