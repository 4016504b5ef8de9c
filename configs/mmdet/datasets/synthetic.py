# Synthetic stand-in of a dataset for the smoke and tiny tiers, made by `srtod synth --profile
# <dataset>` (srtod/data/synth.py): one class `drone`, small images. srtod/tiers.py puts this
# data in place of the run's dataset and sets data_root to data/<tier>/<dataset>/.
_base_ = './droneswarms.py'

data_root = 'data/smoke/droneswarms/'
metainfo = dict(classes=('drone', ))
image_scale = (320, 192)  # the synthetic images' size: no resizing

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# CPU runs, 1 torch thread each: data loading in the main process.
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=0)))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test.json')
test_evaluator = val_evaluator
