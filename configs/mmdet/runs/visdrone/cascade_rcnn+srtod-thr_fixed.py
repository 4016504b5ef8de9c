# Cascade R-CNN w/ SR-TOD on VisDrone2019, variant: fixed threshold t = 4/255 (paper Table 5 'Fixed
# T').
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(dgfe=dict(filtration='fixed')))
