# VisDrone2019-DET: 10 classes; trained on DET-train, evaluated on DET-val (the authors' split:
# Hiyuur/SR-TOD@1c4d93b:configs/_base_/datasets/coco_detection_visdrone.py).
# Layout (docs/architecture.md): data/<tier>/visdrone/{train.json,test.json,images/}.
# Only what differs from ./droneswarms.py: data root, classes, input scale.
_base_ = './droneswarms.py'

data_root = 'data/paper/visdrone/'
metainfo = dict(classes=('pedestrian', 'people', 'bicycle', 'car', 'van', 'truck', 'tricycle',
                         'awning-tricycle', 'bus', 'motor'))
image_scale = (1280, 1280)  # the authors' dataset config (the paper gives no scale)

# droneswarms.py's pipelines and loaders, rebuilt with this scale, data root and classes
train_pipeline = [dict(t, scale=image_scale) if 'scale' in t else t for t in _base_.train_pipeline]
test_pipeline = [dict(t, scale=image_scale) if 'scale' in t else t for t in _base_.test_pipeline]
train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test.json')
test_evaluator = val_evaluator
