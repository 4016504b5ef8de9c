# Synthetic stand-in of a dataset for the smoke and tiny tiers, made by `srtod synth --profile
# <dataset>` (srtod/data/synth.py): one class `drone`, small images. srtod/tiers.py puts this
# data in place of the run's dataset and sets data_root to data/<tier>/<dataset>/.
_base_ = './droneswarms.py'

data_root = 'data/smoke/droneswarms/'
image_scale = (320, 192)  # the synthetic images' size: no resizing

train_pipeline = [dict(t, scale=image_scale) if 'scale' in t else t for t in _base_.train_pipeline]
test_pipeline = [dict(t, scale=image_scale) if 'scale' in t else t for t in _base_.test_pipeline]
# CPU runs, 1 torch thread each: data loading in the main process; keep every box of the small
# images (droneswarms.py drops images whose boxes are all under 32 pixels).
train_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=0)))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test.json')
test_evaluator = val_evaluator
