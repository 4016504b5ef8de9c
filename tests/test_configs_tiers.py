"""Slim tiers: derived from the paper config by rules, they build, and a tiny SR-TOD run trains."""
import math

import pytest
import torch

from srtod.registry import load_registry, resolve_config
from srtod.engine.pretrain import PRETRAINED_TIERS
from srtod.tiers import TIER_SPECS, tier_data_spec

registry = load_registry()
SLIM_SAMPLE = ['droneswarms/tridentnet', 'droneswarms/dyhead', 'droneswarms/cascade_rpn',
               'droneswarms/retinanet+srtod', 'droneswarms/atss', 'visdrone/nasfpn',
               'droneswarms/detectors+srtod', 'aitod/detectors+srtod-pdm', 'dota/rfla+srtod',
               'visdrone/cascade_rcnn+srtod-thr_none', 'droneswarms/cascade_rcnn+srtod-concat']


def _build(cfg):
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('tier', ['smoke', 'tiny'])
def test_slim_rules(tier):
    spec = TIER_SPECS[tier]
    for run_id in registry.runs:
        paper = resolve_config(run_id, 'paper', registry=registry)
        cfg = resolve_config(run_id, tier, registry=registry)
        run = registry.get_run(run_id)
        backbone = cfg.model.backbone
        # smoke loads the tier's pretrained backbone (srtod.tiers.slim_start), tiny starts from scratch
        assert (backbone.init_cfg is None) == (tier not in PRETRAINED_TIERS)
        assert backbone.frozen_stages == -1
        assert backbone.depth == (50 if backbone.type != 'ResNet' else 18)
        assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=spec.max_iters,
                                     val_interval=spec.max_iters, val_begin=spec.max_iters + 1)
        # an endless sampler (no 2 s sleep of mmengine's loop at each pass over the data)
        assert cfg.train_dataloader.sampler == dict(type='InfiniteSampler', shuffle=True)
        assert cfg.train_dataloader.batch_sampler is None
        assert cfg.default_hooks.checkpoint.interval == spec.checkpoint_interval
        assert cfg.train_dataloader.num_workers == 0
        assert cfg.train_dataloader.dataset.data_root == f'data/{tier}/{run.dataset}/'
        assert cfg.val_evaluator.ann_file == f'data/{tier}/{run.dataset}/test.json'
        assert cfg.metainfo['classes'] == ('drone', )
        # the same detector and the same SR-TOD switches as the paper: only sizes change
        assert cfg.model.type == paper.model.type
        if run.srtod:
            dgfe, pdgfe = cfg.model.srtod.dgfe, paper.model.srtod.dgfe
            assert (dgfe is None) == (pdgfe is None)
            if dgfe is not None:
                for key in ('threshold_init', 'filtration', 'enhancement', 'parts'):
                    assert dgfe[key] == pdgfe[key]
                assert dgfe.channels == spec.width
            assert cfg.model.srtod.rec_head.in_channels == spec.width
            assert cfg.model.srtod.diff_map == paper.model.srtod.diff_map
        for key in ('rpn_proposal', ):
            if key in cfg.model.train_cfg:
                assert cfg.model.train_cfg[key].max_per_img <= spec.proposals


def test_smoke_widths_and_proposals():
    cfg = resolve_config('aitod/cascade_rcnn+srtod', 'smoke', registry=registry)
    m = cfg.model
    assert m.neck.in_channels == [32, 64, 128, 256] and m.neck.out_channels == 32
    assert m.rpn_head.anchor_generator.scales == [4]  # the run's anchor scale is kept
    assert m.srtod.dgfe.threshold_init == pytest.approx(3 / 255)  # and the dataset's T_init
    assert m.test_cfg.rpn.max_per_img == 300
    assert m.test_cfg.rcnn.max_per_img == 3000  # detections per image are kept
    assert all(h.in_channels == 32 and h.fc_out_channels == 128 for h in m.roi_head.bbox_head)
    assert all(s.sampler.num == 64 for s in m.train_cfg.rcnn)
    assert cfg.optim_wrapper.optimizer.lr == TIER_SPECS['smoke'].lr
    detectors = resolve_config('aitod/detectors', 'smoke', registry=registry).model
    assert detectors.neck.rfp_backbone.base_channels == 8
    assert detectors.neck.aspp_out_channels * 4 == detectors.neck.rfp_backbone.rfp_inplanes == 32
    assert resolve_config('dota/rfla', 'smoke', registry=registry).model.rpn_head.anchor_generator.depth == 18


def test_tier_data_spec():
    spec = tier_data_spec('smoke')
    assert spec['images'] == spec['train_images'] + spec['test_images']
    assert math.isclose(spec['test_fraction'] * spec['images'], spec['test_images'])
    with pytest.raises(Exception, match='no synthetic data'):
        tier_data_spec('paper')


@pytest.mark.parametrize('run_id', SLIM_SAMPLE)
def test_slim_models_build_and_are_small(run_id):
    for tier in ('smoke', 'tiny'):
        model = _build(resolve_config(run_id, tier, registry=registry))
        n = sum(p.numel() for p in model.parameters())
        assert n < 8e6, (run_id, tier, n)


def test_tiny_srtod_two_stage_trains_one_iteration(tmp_path):
    from mmengine.runner import Runner
    from srtod.data.synth import make_synthetic

    data = tier_data_spec('tiny')
    make_synthetic(tmp_path / 'data', images=data['images'], seed=0, width=data['width'],
                   height=data['height'], profile='droneswarms',
                   test_fraction=data['test_fraction'])
    cfg = resolve_config('droneswarms/cascade_rcnn+srtod', 'tiny', registry=registry,
                         work_dir=tmp_path / 'work', data_root=tmp_path / 'data')
    cfg.train_cfg.max_iters = 1
    cfg.train_cfg.val_interval = 1
    cfg.train_cfg.val_begin = 1   # the tier does not validate; this test checks the metric too
    cfg.default_hooks.checkpoint.interval = 1
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    scalars = runner.message_hub.log_scalars
    loss = scalars['train/loss'].current()
    assert math.isfinite(loss) and loss > 0
    assert scalars['train/loss_rec'].current() > 0  # the reconstruction loss is trained
    assert (tmp_path / 'work' / 'iter_1.pth').is_file()
    metrics = runner.message_hub.log_scalars
    assert 'val/aitod/AP' in metrics  # evaluated once, at the end
