# Cascade R-CNN on VisDrone2019 at SR-TOD's RPN anchor scale 6 instead of mmdet's 8: a row of the
# control table C1 (configs/experiments.yaml), and the host of visdrone/cascade_rcnn+srtod. Scale 6:
# the authors' SR-TOD config, Hiyuur/SR-TOD@1c4d93b:srtod_project/srtod_cascade_rcnn/config/
# srtod-cascade-rcnn_r50_fpn_visdrone.py.
_base_ = './cascade_rcnn.py'

model = dict(rpn_head=dict(anchor_generator=dict(scales=[6])))
