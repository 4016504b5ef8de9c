# RetinaNet R-50 FPN (P3-P7), mmdet's model with its defaults. Model only.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

custom_imports = dict(imports=['srtod'], allow_failed_imports=False)
