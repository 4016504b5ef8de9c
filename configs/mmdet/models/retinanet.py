# RetinaNet R-50 FPN (P3-P7), mmdet's model with its defaults (anchor octave_base_scale 4, test
# nms_pre 1000, 100 detections per image). Model only: the run configs set the dataset's values.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

custom_imports = dict(imports=['srtod'], allow_failed_imports=False)
