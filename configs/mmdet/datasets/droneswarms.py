# DroneSwarms (the paper's dataset): 1 class, 1920x1080 images, 6,577 train / 2,532 test (paper 3.4).
# Settings as the authors' Hiyuur/SR-TOD@1c4d93b:configs/_base_/datasets/coco_detection_drones.py.
# Layout (docs/architecture.md): data/<tier>/droneswarms/{train.json,test.json,images/}.
dataset_type = 'CocoDataset'
data_root = 'data/paper/droneswarms/'
metainfo = dict(classes=('drone', ))
backend_args = None
image_scale = (1920, 1080)  # P 3.4 image size; the authors' Resize scale

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# what the train and test datasets share (a `__` name stays out of the resolved config)
__dataset = dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img='images/'), backend_args=backend_args)
train_dataloader = dict(
    batch_size=2,  # per GPU (the authors' coco_detection_drones.py)
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(__dataset, ann_file='train.json', pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=32)))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(__dataset, ann_file='test.json', pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
# AI-TOD protocol (maxDets 1500, very tiny / tiny / small / medium areas) on every dataset.
val_evaluator = dict(
    type='AITODMetric', ann_file=data_root + 'test.json', backend='numpy',
    records_path=None)
test_evaluator = val_evaluator
