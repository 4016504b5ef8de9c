# Cascade R-CNN R-50 FPN (P2-P6), mmdet's model with its defaults (3 stages, IoU 0.5/0.6/0.7).
# Model only: the run configs (configs/mmdet/runs/) add the rest.
_base_ = 'mmdet::_base_/models/cascade-rcnn_r50_fpn.py'

custom_imports = dict(imports=['srtod'], allow_failed_imports=False)
