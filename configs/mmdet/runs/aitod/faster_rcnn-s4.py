# Faster R-CNN on AI-TOD at SR-TOD's RPN anchor scale 4 instead of mmdet's 8: a row of the
# control table C1 (configs/experiments.yaml), and the host of aitod/faster_rcnn+srtod. Scale 4:
# the authors' SR-TOD config, Hiyuur/SR-TOD@1c4d93b:srtod_project/srtod_faster_rcnn/config/
# srtod-faster-rcnn_r50_fpn_aitod.py.
_base_ = './faster_rcnn.py'

model = dict(rpn_head=dict(anchor_generator=dict(scales=[4])))
