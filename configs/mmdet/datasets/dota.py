# DOTA v1.0: 15 classes, horizontal boxes, images split into 1024x1024 patches by `srtod convert`.
# Layout (docs/architecture.md): data/<tier>/dota/{train.json,test.json,images/}.
# Only what differs from ./droneswarms.py: data root, classes, input scale.
_base_ = './droneswarms.py'

data_root = 'data/paper/dota/'
metainfo = dict(classes=('plane', 'baseball-diamond', 'bridge', 'ground-track-field',
                         'small-vehicle', 'large-vehicle', 'ship', 'tennis-court',
                         'basketball-court', 'storage-tank', 'soccer-ball-field', 'roundabout',
                         'harbor', 'swimming-pool', 'helicopter'))
image_scale = (1024, 1024)  # our choice, the patch size (the supplement gives none)

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
