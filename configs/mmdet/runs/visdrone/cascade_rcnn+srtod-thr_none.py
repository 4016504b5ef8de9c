# Cascade R-CNN w/ SR-TOD on VisDrone2019, variant: no threshold (paper Table 5 'w/o T'): the raw
# difference map D is used.
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(dgfe=dict(filtration='none')))
