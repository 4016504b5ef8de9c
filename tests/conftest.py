"""Shared test fixtures: a few-second detector run for the engine's and the figures' tests.

``make_tiny_coco`` writes a small COCO set of bright squares on noise; ``tiny_faster_rcnn_config``
derives from mmdet's own Faster R-CNN config (by inheritance) a ResNet-18, 64-channel FPN model
with an iteration-based loop that checkpoints every few iterations. Tests get them as the
fixtures of the same names (factories). Heavy imports stay inside the functions, so collecting
a test that does not use them imports no mmengine.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def make_tiny_coco(root: str | Path, images: int = 4, size: int = 64, seed: int = 0) -> Path:
    """Write ``root/{train.json,test.json,images/}``: ``images`` noise images with 1-3 squares.

    Args:
        root: output folder.
        images: number of images (train and test share them).
        size: side of the square images in pixels.
        seed: random seed.

    Returns:
        ``root`` as a Path.
    """
    import mmcv
    root = Path(root)
    (root / 'images').mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image_rows, annotations = [], []
    for index in range(images):
        image = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
        name = f'{index:04d}.png'
        for _ in range(int(rng.integers(1, 4))):
            side = int(rng.integers(6, 14))
            x, y = (int(v) for v in rng.integers(0, size - side, size=2))
            image[y:y + side, x:x + side] = 230
            annotations.append(dict(id=len(annotations) + 1, image_id=index + 1, category_id=1,
                                    bbox=[x, y, side, side], area=side * side, iscrowd=0))
        mmcv.imwrite(image, str(root / 'images' / name))
        image_rows.append(dict(id=index + 1, file_name=name, width=size, height=size))
    coco = dict(images=image_rows, annotations=annotations,
                categories=[dict(id=1, name='drone')])
    for split in ('train', 'test'):
        (root / f'{split}.json').write_text(json.dumps(coco), encoding='utf-8')
    return root


def tiny_faster_rcnn_config(data_root: str | Path, work_dir: str | Path, max_iters: int = 6,
                            checkpoint_interval: int = 2, lr: float = 0.01,
                            size: int = 64):
    """Faster R-CNN (mmdet's config) shrunk to ResNet-18, 64-channel FPN, ``max_iters`` iterations.

    Args:
        data_root: a folder written by :func:`make_tiny_coco`.
        work_dir: the mmengine work_dir.
        max_iters: training iterations (IterBasedTrainLoop, batch 1).
        checkpoint_interval: iterations between checkpoints (all kept).
        lr: SGD learning rate (a huge one makes the loss diverge).
        size: image side used by the pipelines.

    Returns:
        A Config ready for ``mmengine.runner.Runner.from_cfg``.
    """
    import mmdet
    from mmengine.config import Config
    data_root = str(Path(data_root).resolve())
    # mmdet's own config by path: ``mmdet::`` needs pkg_resources, gone from setuptools >= 81
    base = Path(mmdet.__file__).parent / '.mim/configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
    text = f"""
_base_ = '{base}'
metainfo = dict(classes=('drone',))
model = dict(
    backbone=dict(depth=18, init_cfg=None, norm_eval=False, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64,
                  anchor_generator=dict(scales=[2], strides=[4, 8, 16, 32, 64])),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=64),
                  bbox_head=dict(in_channels=64, fc_out_channels=64, num_classes=1)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100), rcnn=dict(max_per_img=50)))
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=({size}, {size}), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')),
]
dataset = dict(type='CocoDataset', data_root='{data_root}', metainfo=metainfo,
               data_prefix=dict(img='images/'), filter_cfg=dict(filter_empty_gt=False),
               pipeline=pipeline)
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        batch_sampler=None,
                        dataset=dict(dataset, ann_file='train.json'))
test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False, drop_last=False,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       dataset=dict(dataset, ann_file='test.json', test_mode=True))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_evaluator = dict(type='CocoMetric', ann_file='{data_root}/test.json', metric='bbox')
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={max_iters},
                 val_interval=10**9)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
optim_wrapper = dict(optimizer=dict(type='SGD', lr={lr}, momentum=0.9, weight_decay=1e-4),
                     clip_grad=None)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval={checkpoint_interval}, by_epoch=False,
                    max_keep_ckpts=-1),
    visualization=dict(type='DetVisualizationHook', draw=False))
log_processor = dict(by_epoch=False)
work_dir = '{Path(work_dir).resolve()}'
"""
    return Config.fromstring(text, file_format='.py')


@pytest.fixture(name='make_tiny_coco', scope='session')
def make_tiny_coco_fixture():
    """:func:`make_tiny_coco`, as a fixture."""
    return make_tiny_coco


@pytest.fixture(name='tiny_faster_rcnn_config', scope='session')
def tiny_faster_rcnn_config_fixture():
    """:func:`tiny_faster_rcnn_config`, as a fixture."""
    return tiny_faster_rcnn_config
