# Cascade R-CNN w/ SR-TOD on DroneSwarms, variant: high-frequency difference map (paper Table 7);
# FFT high-pass cut-off 1/32 cycles per pixel (the method module's choice; the paper gives none).
_base_ = './cascade_rcnn+srtod.py'

model = dict(srtod=dict(diff_map=dict(type='highfreq', cutoff=1 / 32)))
