# Faster R-CNN R-50 FPN (P2-P6), mmdet's model with its defaults. Model only: the run configs
# (configs/mmdet/runs/) add a dataset, a schedule, the runtime and the dataset's model keys.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

custom_imports = dict(imports=['srtod'], allow_failed_imports=False)
