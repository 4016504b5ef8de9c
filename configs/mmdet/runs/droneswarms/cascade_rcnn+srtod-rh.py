# Cascade R-CNN w/ SR-TOD on DroneSwarms, variant: RH only (paper Table 4): the reconstruction head
# and its loss, no DGFE.
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(dgfe=None))
