"""RFLA inside mmdet: the RPN targets, and CPU training steps of Cascade R-CNN + RFLA (+ SR-TOD)."""
import copy
import math
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.structures import InstanceData

import srtod  # noqa: F401  (fills the registries)


CONFIG = Path(__file__).resolve().parents[1] / 'configs/mmdet/models/rfla_cascade_rcnn.py'
IMAGE = 128
CHANNELS = 64


def _rpn_head(shrink):
    return MODELS.build(dict(
        type='RPNHead', in_channels=8, feat_channels=8,
        anchor_generator=dict(type='RFGenerator', fpn_layer='p2', fraction=0.5,
                              strides=[4, 8, 16, 32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4, target_stds=[1.] * 4),
        train_cfg=dict(
            assigner=dict(type='HieAssigner', assign_metric='kl', topk=[3, 1], ratio=0.9,
                          shrink_priors_inplace=shrink),
            sampler=dict(type='PseudoSampler'), allowed_border=0, pos_weight=-1, debug=False)))


def _rpn_targets(shrink, gts):
    head = _rpn_head(shrink)
    sizes = [(IMAGE // s, IMAGE // s) for s in (4, 8, 16, 32, 64)]
    metas = [dict(img_shape=(IMAGE, IMAGE), pad_shape=(IMAGE, IMAGE))]
    anchors, flags = head.get_anchors(sizes, metas, device='cpu')
    labels, _, targets, weights, _ = head.get_targets(anchors, flags, [gts], metas)
    return torch.cat(labels, 1), torch.cat(targets, 1), torch.cat(weights, 1)


def test_shrunk_priors_change_rpn_regression_targets_as_the_reference():
    gts = InstanceData(bboxes=torch.tensor([[30., 40., 36., 44.], [90., 20., 98., 27.]]),
                       labels=torch.zeros(2, dtype=torch.long))
    labels, plain, weights = _rpn_targets(False, gts)
    labels_s, shrunk, _ = _rpn_targets(True, gts)
    assert torch.equal(labels, labels_s)  # the same assignment
    pos = weights[..., 0] > 0
    assert pos.sum() >= 2 * 3  # at least top-3 priors per gt
    # Encoding against priors 0.9 times as large: centre deltas / 0.9, size deltas + ln(1/0.9).
    torch.testing.assert_close(shrunk[pos][:, :2], plain[pos][:, :2] / 0.9)
    torch.testing.assert_close(shrunk[pos][:, 2:], plain[pos][:, 2:] + math.log(1 / 0.9))


#: What mmdet's Cascade R-CNN logs in a training step (3 stages).
CASCADE_LOSSES = {'loss', 'loss_rpn_cls', 'loss_rpn_bbox'} | {
    f's{stage}.{name}' for stage in range(3) for name in ('loss_cls', 'acc', 'loss_bbox')}


def _slim_cfg():
    """Cascade R-CNN + RFLA, ResNet-18 (random init) with a 64-channel FPN and heads."""
    cfg = Config.fromfile(str(CONFIG))
    model = cfg.model
    model.backbone.update(depth=18, init_cfg=None)
    model.neck.update(in_channels=[64, 128, 256, 512], out_channels=CHANNELS)
    model.rpn_head.update(in_channels=CHANNELS, feat_channels=CHANNELS)
    model.rpn_head.anchor_generator.depth = 18
    model.roi_head.bbox_roi_extractor.out_channels = CHANNELS
    for head in model.roi_head.bbox_head:
        head.update(in_channels=CHANNELS, fc_out_channels=CHANNELS, num_classes=1)
    # 300 proposals instead of 3000 keep the step to about a second on one CPU thread.
    model.train_cfg.rpn_proposal.update(nms_pre=300, max_per_img=300)
    model.test_cfg.rpn.update(nms_pre=300, max_per_img=300)
    model.test_cfg.rcnn.max_per_img = 100
    return cfg


def _batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 256, (3, IMAGE, IMAGE), generator=gen, dtype=torch.uint8))
        xy = torch.rand(5, 2, generator=gen) * (IMAGE - 20) + 4
        wh = torch.randint(3, 12, (5, 2), generator=gen).float()
        sample = DetDataSample(metainfo=dict(img_id=len(samples), img_shape=(IMAGE, IMAGE),
                                             ori_shape=(IMAGE, IMAGE), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1),
                                           labels=torch.zeros(5, dtype=torch.long))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _train_step(model_cfg):
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    log_vars = model.train_step(_batch(), optim)
    changed = {name for name, p in model.named_parameters()
               if not torch.equal(before[name], p.detach())}
    return model, log_vars, changed


def test_config_resolves_to_the_reference_settings():
    cfg = Config.fromfile(str(CONFIG))
    rpn = cfg.model.rpn_head
    assert rpn.anchor_generator == dict(type='RFGenerator', fpn_layer='p2', fraction=0.5,
                                        depth=50, ratios=[0.5, 1.0, 2.0],
                                        strides=[4, 8, 16, 32, 64])
    assigner = cfg.model.train_cfg.rpn.assigner
    assert assigner.type == 'HieAssigner' and assigner.assign_metric == 'kl'
    assert assigner.topk == [3, 1] and assigner.ratio == 0.9 and assigner.gpu_assign_thr == 512
    assert 'pos_iou_thr' not in assigner  # MaxIoUAssigner keys are gone
    assert cfg.model.train_cfg.rpn_proposal.max_per_img == 3000
    assert cfg.model.test_cfg.rpn.nms_pre == 3000 and cfg.model.test_cfg.rpn.max_per_img == 3000
    assert cfg.model.test_cfg.rcnn.max_per_img == 3000
    assert cfg.model.type == 'CascadeRCNN' and cfg.model.roi_head.num_stages == 3
    # The full-size model builds (no weights are loaded) with ResNet-50 receptive-field priors.
    model = MODELS.build(cfg.model)
    assert model.rpn_head.prior_generator.trfs == [35, 91, 267, 427, 555]
    assert model.rpn_head.num_base_priors == 3
    assert model.rpn_head.assigner.shrink_priors_inplace


def test_cascade_rcnn_rfla_cpu_training_step():
    model, log_vars, changed = _train_step(_slim_cfg().model)
    assert set(log_vars) == CASCADE_LOSSES
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in log_vars.values())
    # HLA gives every gt positives, so the RPN regression loss is not zero.
    assert float(log_vars['loss_rpn_bbox']) > 0
    assert any(name.startswith('rpn_head.rpn_reg') for name in changed)
    assert any(name.startswith('backbone.') for name in changed)
    assert any(name.startswith('roi_head.bbox_head.2') for name in changed)
    # Inference runs on the unshrunk priors and returns boxes.
    model.eval()
    with torch.no_grad():
        results = model.test_step(_batch(1))
    assert len(results) == 2 and results[0].pred_instances.bboxes.shape[-1] == 4


def test_cascade_rcnn_rfla_with_srtod_cpu_training_step():
    model_cfg = copy.deepcopy(_slim_cfg().model)
    model_cfg.type = 'SRTODTwoStageDetector'
    model_cfg.data_preprocessor.type = 'SRTODDataPreprocessor'
    model_cfg.srtod = dict(
        level=0,
        rec_head=dict(type='ReconstructionHead', in_channels=CHANNELS, stride=4),
        diff_map=dict(type='pixel'),
        dgfe=dict(type='DGFE', channels=CHANNELS, reduction=16, threshold_init=40 / 255,
                  filtration='learnable', enhancement='ea', parts='rw+dm'),
        loss_rec=dict(type='mmdet.MSELoss', loss_weight=1.0),
        predicted=False)
    model, log_vars, changed = _train_step(model_cfg)
    assert CASCADE_LOSSES < set(log_vars), 'SR-TOD adds a reconstruction loss to the detector'
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in log_vars.values())
    assert float(log_vars['loss_rpn_bbox']) > 0
    assert any(name.startswith('rpn_head.rpn_reg') for name in changed)
    threshold = model.srtod_threshold()
    assert threshold is not None and 0 < threshold < 1
