"""Tiers: rules that map a run's ``paper`` config to the config actually trained.

- ``paper``: the config of ``configs/mmdet/runs/<run id>.py`` as it is, with the data root,
  the seed, the work_dir and the number of classes of the dataset filled in.
- ``smoke`` and ``tiny``: derived from the paper config by the rules of :func:`slim_model`,
  :func:`cap_proposals`, :func:`small_schedule` and :func:`synthetic_data`, never written by
  hand, so every detector and every SR-TOD switch is the same code in all tiers and only widths,
  sizes and schedules change:
  ResNet-18 (smoke: from the tier's pretrained checkpoint, tiny: from scratch; see
  :func:`slim_start`; nothing frozen, BN in training mode) at
  ``backbone_channels`` base width (32 in smoke: half the standard width, measured 2.5x cheaper
  per iteration than 64 on this CPU); the Bottleneck-only backbones of DetectoRS (both RFP
  backbones) and TridentNet keep depth 50 at a quarter of that width, so that their stage
  outputs equal the ResNet-18's; every neck, head, RoI and SR-TOD width set to ``width``;
  DyHead keeps 2 of its 6 blocks and TridentNet's C4 head pools RoIs to 7x7 (their CPU cost);
  the synthetic stand-in of the run's dataset (``data/<tier>/<dataset>``, one class, small
  images); an iteration-based loop over an endless sampler (mmengine's InfiniteSampler: the
  default sampler makes the loop sleep 2 s at every pass over the 96 images), no evaluation
  during training (``srtod test`` evaluates), a checkpoint every few iterations (so a killed
  run resumes), ``num_workers=0``; proposal counts and R-CNN samples
  capped for the small images, while the detections kept per image are not (the AI-TOD metric
  keeps up to 1500). Dataset rules of the paper config (anchor scales, T_init) are kept.
- ``check``: the paper config unchanged in model, input size, data pipeline, batch per GPU and
  optimizer, proven end to end in 2 iterations (:func:`check_config`): random initialisation
  instead of the downloaded ImageNet weights (no network here: every ``Pretrained`` init_cfg and
  ``pretrained`` key removed; DetectoRS backbones then train their BN statistics, see
  :func:`train_frozen_statistics`), the synthetic stand-in of the run's dataset at the dataset's
  source image size (``DatasetSpec.image_size``; the paper's Resize then gives the paper's input
  size) with the dataset's class list (:func:`label_check_data`), an iteration-based loop of 2
  iterations with the paper's warm-up, no validation during training (``srtod test`` tests
  the 2 test images), ``num_workers=0`` and one checkpoint, the final one.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
from pathlib import Path

from srtod.errors import InputError
from srtod.vocab import DATASET_SPECS, TIERS

SYNTHETIC_DATASET = Path(__file__).resolve().parent.parent / 'configs' / 'mmdet' / 'datasets' / 'synthetic.py'


class _SyntheticSplits:
    """What ``srtod synth`` makes of a spec with ``train_images`` and ``test_images``."""

    @property
    def images(self) -> int:
        """All synthetic images (``srtod synth --images``)."""
        return self.train_images + self.test_images

    @property
    def test_fraction(self) -> float:
        """``srtod synth --test-fraction``."""
        return self.test_images / self.images


@dataclasses.dataclass(frozen=True)
class TierSpec(_SyntheticSplits):
    """How a slim tier differs from the paper.

    Args:
        width: channels of FPN outputs, dense heads, RoI features and the SR-TOD modules.
        backbone_channels: ``base_channels`` of the ResNet-18 (64 is the standard width).
        fc_channels: width of the fully connected layers of the R-CNN box heads.
        image_size: (width, height) of the synthetic images (no resizing).
        train_images: images of the synthetic train split.
        test_images: images of the synthetic test split.
        max_iters: training iterations (batch 2).
        lr: SGD learning rate (from scratch, short schedule; momentum and weight decay kept).
        warmup_iters: linear warm-up iterations.
        checkpoint_interval: a checkpoint every this many iterations.
        proposals: cap on every RPN proposal count and dense-head ``nms_pre``.
        rcnn_samples: cap on the R-CNN sampler's RoIs per image in training.
        log_interval: iterations between log lines.
        dyhead_blocks: cap on DyHead's attention blocks (6 in the paper config).
    """

    width: int
    backbone_channels: int
    fc_channels: int
    image_size: tuple
    train_images: int
    test_images: int
    max_iters: int
    lr: float
    warmup_iters: int
    checkpoint_interval: int
    proposals: int
    rcnn_samples: int
    log_interval: int
    dyhead_blocks: int = 2


#: The slim tiers (every tier of srtod.vocab.TIERS but ``paper``).
TIER_SPECS = {
    'smoke': TierSpec(width=32, backbone_channels=32, fc_channels=128, image_size=(224, 128),
                      train_images=96, test_images=128, max_iters=200, lr=0.02, warmup_iters=50,
                      checkpoint_interval=100, proposals=300, rcnn_samples=64,
                      log_interval=20),
    'tiny': TierSpec(width=32, backbone_channels=32, fc_channels=64, image_size=(160, 96), train_images=6,
                     test_images=2, max_iters=4, lr=0.01, warmup_iters=2,
                     checkpoint_interval=2, proposals=100, rcnn_samples=32, log_interval=1),
}

#: Backbones with Bottleneck blocks only (no depth 18): slimmed by width at depth 50.
_BOTTLENECK_ONLY = ('DetectoRS_ResNet', 'TridentResNet')


@dataclasses.dataclass(frozen=True)
class CheckSpec(_SyntheticSplits):
    """The ``check`` tier: the paper config for a few iterations on synthetic images.

    Args:
        max_iters: training iterations (at the paper config's batch per GPU).
        train_images: images of the synthetic train split (``max_iters`` x the paper batch 2).
        test_images: images of the synthetic test split (``srtod test``).
    """

    max_iters: int = 2
    train_images: int = 4
    test_images: int = 2


CHECK_SPEC = CheckSpec()


def tier_data_spec(tier: str, dataset: str | None = None) -> dict:
    """What ``srtod synth`` must make for a synthetic tier (the workflow's data rule reads it).

    Args:
        tier: a slim tier, or ``check`` (then ``dataset`` is needed: its images have the
            dataset's source size, ``srtod.vocab.DatasetSpec.image_size``).
        dataset: the dataset whose stand-in is made.

    Returns:
        dict: ``images``, ``test_fraction``, ``width``, ``height``, ``train_images``,
        ``test_images``.
    """
    if tier == 'check':
        if dataset not in DATASET_SPECS:
            raise InputError(f'the check tier needs a dataset, one of {list(DATASET_SPECS)}; '
                             f'got {dataset!r}')
        width, height = DATASET_SPECS[dataset].image_size
        return dict(images=CHECK_SPEC.images, test_fraction=CHECK_SPEC.test_fraction,
                    width=width, height=height, train_images=CHECK_SPEC.train_images,
                    test_images=CHECK_SPEC.test_images)
    if tier not in TIER_SPECS:
        raise InputError(f'tier {tier!r} has no synthetic data; expected one of {list(TIER_SPECS)}')
    spec = TIER_SPECS[tier]
    return dict(images=spec.images, test_fraction=spec.test_fraction, width=spec.image_size[0],
                height=spec.image_size[1], train_images=spec.train_images,
                test_images=spec.test_images)


# ----------------------------------------------------------------------------------- helpers
def _walk(node, fn):
    """Call ``fn(d)`` on every dict of a nested dict/list config, depth first."""
    if isinstance(node, dict):
        fn(node)
        for value in list(node.values()):
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def set_num_classes(model: dict, num_classes: int) -> None:
    """Set every ``num_classes`` key of a model config (every head of a cascade included)."""
    def fn(d):
        if 'num_classes' in d:
            d['num_classes'] = num_classes
    _walk(model, fn)


def set_data_root(cfg, data_root: str) -> None:
    """Point every dataset and evaluator of a config at ``data_root`` (``.../{train,test}.json``)."""
    root = str(data_root).rstrip('/') + '/'
    cfg.data_root = root
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            loader['dataset']['data_root'] = root
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key)
        for ev in evaluator if isinstance(evaluator, list) else [evaluator] if evaluator else []:
            if 'ann_file' in ev:
                ev['ann_file'] = root + Path(ev['ann_file']).name


# ------------------------------------------------------------------------------------ rules
def _slim_backbone(backbone: dict, spec: TierSpec) -> list[int]:
    """Slim a ResNet-family backbone in place; returns its stage output channels."""
    kind = backbone.get('type', 'ResNet')
    backbone['init_cfg'] = None
    backbone.pop('pretrained', None)
    backbone['frozen_stages'] = -1  # every stage trains (slim_start may load pretrained weights)
    backbone['norm_eval'] = False
    backbone['norm_cfg'] = dict(backbone.get('norm_cfg') or dict(type='BN'), requires_grad=True)
    if kind in _BOTTLENECK_ONLY:
        # a quarter of the base width: stage outputs those of the ResNet-18 below
        base = spec.backbone_channels // 4
        backbone['depth'] = 50
        backbone['base_channels'] = base
        return [base * 4 * 2 ** i for i in range(4)]
    if kind != 'ResNet':
        raise InputError(f'the slim tiers know ResNet, DetectoRS_ResNet and TridentResNet backbones, '
                         f'not {kind!r}')
    backbone['depth'] = 18
    backbone['base_channels'] = spec.backbone_channels
    return [spec.backbone_channels * 2 ** i for i in range(4)]


def _slim_heads(model: dict, spec: TierSpec, depth: int) -> None:
    """Set every channel count below the neck (dense heads, RoI heads, SR-TOD) to the width."""
    def fn(d):
        if d.get('type') == 'RFGenerator':
            d['depth'] = depth  # the receptive-field priors follow the backbone's depth
        for key in ('in_channels', 'feat_channels', 'out_channels', 'channels'):
            if isinstance(d.get(key), int):
                d[key] = spec.width
        if 'fc_out_channels' in d:
            d['fc_out_channels'] = spec.fc_channels
    for key in ('rpn_head', 'roi_head', 'bbox_head', 'srtod'):
        if model.get(key) is not None:
            _walk(model[key], fn)


def slim_model(model: dict, spec: TierSpec) -> None:
    """Apply the slim-tier model rules in place (see the module docstring)."""
    chans = _slim_backbone(model['backbone'], spec)
    depth = model['backbone']['depth']
    width = spec.width
    necks = model.get('neck')
    for neck in necks if isinstance(necks, list) else [necks] if necks else []:
        if 'in_channels' in neck and isinstance(neck['in_channels'], list):
            neck['in_channels'] = chans[:len(neck['in_channels'])]
        elif 'in_channels' in neck:
            neck['in_channels'] = width
        if 'out_channels' in neck:
            neck['out_channels'] = width
        if neck.get('type') == 'DyHead':
            # deformable-conv attention blocks are the slowest op on CPU (1.5 s per smoke
            # iteration with 6 blocks): the slim tiers keep 2 of them
            neck['num_blocks'] = min(neck.get('num_blocks', 6), spec.dyhead_blocks)
        if neck.get('type') == 'RFP':
            neck['aspp_out_channels'] = width // len(neck.get('aspp_dilations', (1, 3, 6, 1)))
            _slim_backbone(neck['rfp_backbone'], spec)
            neck['rfp_backbone']['rfp_inplanes'] = width
    if model.get('neck') is None:
        # C4 detectors (TridentNet): the RPN and the RoI extractor see stage 3 (out index 2);
        # the shared head is ResNet stage 4 of the slim depth.
        c4 = chans[2]
        _slim_c4(model, c4, spec)
        return
    _slim_heads(model, spec, depth)


def _slim_c4(model: dict, c4: int, spec: TierSpec) -> None:
    """C4 detectors (TridentNet): RPN and RoI extractor on stage 3, shared head = a slim stage 4.

    The shared head becomes the BasicBlock ``ResLayer`` of ResNet-18 whose input width is the
    slim stage-3 width (``stage = log2(c4 / 64) + 1``), doubling it; RoIs are pooled to 7x7
    instead of 14x14 (4x4 after the head's stride 2), the one spatial cut of the slim tiers,
    since the head runs once per RoI and per branch.
    """
    model['rpn_head']['in_channels'] = c4
    model['rpn_head']['feat_channels'] = c4
    roi = model['roi_head']
    roi['bbox_roi_extractor']['out_channels'] = c4
    shared = roi.get('shared_head')
    if shared is None:
        roi['bbox_head']['in_channels'] = c4
        return
    stage = c4.bit_length() - 64 .bit_length() + 1
    if stage < 1 or 64 * 2 ** (stage - 1) != c4:
        raise InputError(f'no ResNet-18 stage takes {c4} channels (expected 64 x 2^k)')
    shared.update(depth=18, stage=stage, init_cfg=None, norm_eval=False,
                  norm_cfg=dict(shared.get('norm_cfg') or dict(type='BN'), requires_grad=True))
    shared.pop('pretrained', None)
    roi['bbox_roi_extractor']['roi_layer']['output_size'] = 7
    roi['bbox_head'].update(in_channels=2 * c4, roi_feat_size=4)


def _cap(d: dict, key: str, cap: int) -> None:
    if isinstance(d.get(key), int) and d[key] > cap:
        d[key] = cap


def cap_proposals(model: dict, spec: TierSpec) -> None:
    """Cap proposal counts and RoI samples for small images (detections per image are kept)."""
    train_cfg, test_cfg = model.get('train_cfg') or {}, model.get('test_cfg') or {}
    for d in (train_cfg.get('rpn_proposal'), test_cfg.get('rpn'), test_cfg):
        if isinstance(d, dict):
            _cap(d, 'nms_pre', spec.proposals)
            if d is not test_cfg:
                _cap(d, 'max_per_img', spec.proposals)
    rcnn = train_cfg.get('rcnn')
    for stage in rcnn if isinstance(rcnn, list) else [rcnn] if rcnn else []:
        sampler = stage.get('sampler')
        if isinstance(sampler, dict):
            _cap(sampler, 'num', spec.rcnn_samples)


def small_schedule(cfg, spec: TierSpec) -> None:
    """Iteration-based loop, short warm-up and two decays, checkpoints every few iterations."""
    n = spec.max_iters
    # no validation: `srtod test` evaluates the final weights (the same test split)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=n, val_interval=n, val_begin=n + 1)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=spec.warmup_iters),
        dict(type='MultiStepLR', by_epoch=False, begin=0, end=n,
             milestones=[int(n * 0.75), int(n * 0.9)], gamma=0.1),
    ]
    optim = cfg.optim_wrapper
    optim['optimizer']['lr'] = spec.lr
    # From scratch at a high lr: clip gradients as mmdet does for its unstable detectors.
    optim['clip_grad'] = dict(max_norm=35, norm_type=2)
    cfg.default_hooks['checkpoint'] = dict(type='CheckpointHook', interval=spec.checkpoint_interval,
                                           by_epoch=False, max_keep_ckpts=2)
    cfg.default_hooks['logger'] = dict(type='LoggerHook', interval=spec.log_interval)
    cfg.log_processor = dict(type='LogProcessor', window_size=spec.log_interval, by_epoch=False)


#: the weight of L_rec in the slim tiers (1.0 in the paper tier, as the authors'): the head
#: learns at 10x the step, and the backbone and neck learn to keep the image in P2
#: (configs/experiments.yaml, tiers.smoke; docs/smoke-mechanism.md).
REC_LOSS_WEIGHT = 10.0
#: its random initialisation in the slim tiers: He (Kaiming) normal, fan_in, for its ReLU convs.
REC_HEAD_INIT = dict(type='Kaiming', mode='fan_in', nonlinearity='relu',
                     layer=['Conv2d', 'ConvTranspose2d'])


def slim_start(cfg, tier: str, results_root='results') -> None:
    """Start a slim model as the paper starts its models, and let the reconstruction head learn.

    - Backbones (DetectoRS' RFP backbone too) load the tier's pretrained checkpoint of their
      family (``srtod pretrain``, the stand-in for ImageNet) with
      ``init_cfg=dict(type='Pretrained', checkpoint=...)``, as the paper configs load ImageNet;
      only tiers in ``srtod.engine.pretrain.PRETRAINED_TIERS``. Every head stays random.
    - The reconstruction head (not PDM's predictor) starts from a He-normal random init
      (:data:`REC_HEAD_INIT`), and L_rec weighs :data:`REC_LOSS_WEIGHT`. It learns from L_rec
      alone; with PyTorch's default init its activations shrink about 100x over its 7 ReLU
      convs, and in 200 iterations it never gets past the mean colour
      (docs/smoke-mechanism.md).
    """
    from srtod.engine.pretrain import (PRETRAINED_TIERS, checkpoint_path, family_of,
                                       normalisation_of)

    model = cfg.model
    if tier in PRETRAINED_TIERS:
        norm = normalisation_of(model['data_preprocessor'])
        neck = model.get('neck')
        backbones = [model['backbone']] + [n['rfp_backbone'] for n in
                                           (neck if isinstance(neck, list) else [neck])
                                           if isinstance(n, dict) and n.get('rfp_backbone')]
        for backbone in backbones:
            backbone['init_cfg'] = dict(type='Pretrained', checkpoint=str(
                checkpoint_path(tier, family_of(backbone), norm, results_root)))
    srtod = model.get('srtod')
    if srtod and not srtod.get('predicted', False):
        srtod['rec_head'] = dict(srtod.get('rec_head') or dict(type='ReconstructionHead'),
                                 init_cfg=copy.deepcopy(REC_HEAD_INIT))
        srtod['loss_rec'] = dict(srtod.get('loss_rec') or dict(type='mmdet.MSELoss'),
                                 loss_weight=REC_LOSS_WEIGHT)


@functools.lru_cache(maxsize=1)
def _synthetic_config():
    from mmengine.config import Config

    return Config.fromfile(str(SYNTHETIC_DATASET))


def synthetic_data(cfg, spec: TierSpec) -> None:
    """Put the synthetic stand-in data (datasets/synthetic.py at the tier's size) in place."""
    syn = _synthetic_config()
    scale = tuple(spec.image_size)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                'test_evaluator', 'metainfo'):
        cfg[key] = copy.deepcopy(syn[key])
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for step in cfg[key]['dataset']['pipeline']:
            if step['type'] == 'Resize':
                step['scale'] = scale
    # an endless sampler: mmengine's loop sleeps 2 s each time it restarts a finite one; every
    # synthetic image has one size, so no aspect-ratio batches
    cfg.train_dataloader['sampler'] = dict(type='InfiniteSampler', shuffle=True)
    cfg.train_dataloader['batch_sampler'] = None
    cfg.image_scale = scale


# ------------------------------------------------------------------------------- check tier
def _is_pretrained(init_cfg) -> bool:
    inits = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(i, dict) and i.get('type') == 'Pretrained' for i in inits)


def random_init(model: dict) -> list[str]:
    """Remove every downloaded-weights initialisation of a model config, in place.

    Every ``init_cfg`` of type ``Pretrained`` (a list keeps its other entries) and every
    ``pretrained`` key (DetectoRS' RFP backbone) goes; the modules then keep their own random
    initialisation. Frozen stages and BN in eval mode stay as the paper config has them.

    Returns:
        The removed checkpoints (``torchvision://resnet50``, ...), for messages and tests.
    """
    removed = []

    def fn(d):
        if d.get('pretrained'):
            removed.append(str(d['pretrained']))
        d.pop('pretrained', None)
        init = d.get('init_cfg')
        if _is_pretrained(init):
            inits = init if isinstance(init, (list, tuple)) else [init]
            removed.extend(str(i.get('checkpoint')) for i in inits
                           if isinstance(i, dict) and i.get('type') == 'Pretrained')
            kept = [i for i in inits if not (isinstance(i, dict) and i.get('type') == 'Pretrained')]
            d['init_cfg'] = kept or None
    _walk(model, fn)
    return removed


#: Backbones whose own initialisation without a checkpoint (mmdet's DetectoRS_ResNet.init_weights)
#: does not keep activations bounded through BN layers frozen at identity statistics.
_UNBOUNDED_RANDOM_INIT = ('DetectoRS_ResNet',)


def train_frozen_statistics(model: dict) -> list[str]:
    """Let the BN layers of DetectoRS backbones normalise (``norm_eval=False``), in place.

    ImageNet weights come with BN statistics, and the paper configs freeze them
    (``norm_eval=True``); without the checkpoint they are identity statistics. That is harmless
    where the randomly initialised network keeps its scale (mmdet's ResNet zero-initialises
    the last BN of each residual branch), but DetectoRS_ResNet's own initialisation kaiming-
    initialises its RFP convolutions and its SAC convolutions standardise their weights: its
    features reach a mean magnitude of 4.8e6 (visdrone/detectors, a 256x256 input; 32 with
    ``norm_eval=False``), and its loss is NaN at iteration 2. Only these backbones train their
    statistics; frozen stages stay frozen.

    Returns:
        The types of the backbones changed.
    """
    changed = []

    def fn(d):
        if d.get('type') in _UNBOUNDED_RANDOM_INIT and d.get('norm_eval'):
            d['norm_eval'] = False
            changed.append(d['type'])
    _walk(model, fn)
    return changed


def check_schedule(cfg, spec: CheckSpec = CHECK_SPEC) -> None:
    """``spec.max_iters`` iterations at the paper's optimizer and warm-up, one final checkpoint.

    The paper's by-epoch decays act at epoch ends that 2 iterations never reach, so only its
    per-iteration schedulers (the linear warm-up) are kept. Validation during training is off
    (``val_begin`` after the last iteration): ``srtod test`` tests the weights afterwards.
    """
    n = spec.max_iters
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=n, val_interval=n, val_begin=n + 1)
    schedulers = cfg.get('param_scheduler') or []
    schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
    cfg.param_scheduler = [dict(s) for s in schedulers if s.get('by_epoch') is False]
    cfg.default_hooks['checkpoint'] = dict(type='CheckpointHook', interval=n, by_epoch=False,
                                           max_keep_ckpts=1, save_last=True)
    cfg.default_hooks['logger'] = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(type='LogProcessor', window_size=1, by_epoch=False)


def check_data(cfg) -> None:
    """The paper's loaders and pipelines as they are, in the main process (``num_workers=0``)."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            loader['num_workers'] = 0
            loader['persistent_workers'] = False


def check_config(cfg, spec: CheckSpec = CHECK_SPEC) -> None:
    """Apply the check-tier rules in place (module docstring)."""
    random_init(cfg.model)
    train_frozen_statistics(cfg.model)
    check_data(cfg)
    check_schedule(cfg, spec)


def label_check_data(folder: str | Path, dataset: str) -> dict:
    """Give the synthetic splits in ``folder`` the dataset's class list, in place.

    ``srtod synth`` draws one class (``drone``); the check tier keeps the paper model's classes,
    so its data lists the dataset's classes (ids 1..K, ``srtod.vocab.DatasetSpec.classes``) and
    the objects of each split take them in turn (object k: class ``k mod K``), so every class of
    the heads is trained and evaluated.

    Returns:
        split -> {class name: objects}.
    """
    import json

    from srtod.io import write_json

    if dataset not in DATASET_SPECS:
        raise InputError(f'unknown dataset {dataset!r}; expected one of {list(DATASET_SPECS)}')
    classes = DATASET_SPECS[dataset].classes
    counts = {}
    for split in ('train', 'test'):
        path = Path(folder) / f'{split}.json'
        if not path.is_file():
            raise InputError(f'expected the synthetic {split} split of {dataset} '
                             '(srtod synth makes it)', path=path)
        data = json.loads(path.read_text(encoding='utf-8'))
        data['categories'] = [{'id': i + 1, 'name': name, 'supercategory': name}
                              for i, name in enumerate(classes)]
        counts[split] = dict.fromkeys(classes, 0)
        for k, ann in enumerate(data['annotations']):
            ann['category_id'] = k % len(classes) + 1
            counts[split][classes[k % len(classes)]] += 1
        write_json(path, data, indent=None)
    return counts


# ------------------------------------------------------------------------------------- entry
def apply_tier(cfg, run, tier: str, seed: int = 0, work_dir=None, data_root=None):
    """Turn a run's paper config into the config of ``tier`` (a new Config; ``cfg`` untouched).

    Args:
        cfg: the run's paper-tier ``mmengine.Config``.
        run: the :class:`srtod.registry.Run`.
        tier: one of srtod.vocab.TIERS.
        seed: ``randomness.seed``.
        work_dir: the mmengine work_dir.
        data_root: the dataset folder (``data/<tier>/<dataset>``).

    Returns:
        mmengine.Config: the tiered config.
    """
    from mmengine.config import Config

    cfg = Config(copy.deepcopy(cfg._cfg_dict.to_dict()), filename=cfg.filename)
    if tier in TIER_SPECS:
        spec = TIER_SPECS[tier]
        synthetic_data(cfg, spec)
        slim_model(cfg.model, spec)
        cap_proposals(cfg.model, spec)
        small_schedule(cfg, spec)
        slim_start(cfg, tier)
    elif tier == 'check':
        check_config(cfg)
    elif tier not in TIERS:
        raise InputError(f'unknown tier {tier!r}; expected one of {list(TIERS)}')
    if data_root is not None:
        set_data_root(cfg, data_root)
    set_num_classes(cfg.model, len(cfg.metainfo['classes']))
    cfg.randomness = dict(seed=int(seed), deterministic=False)
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    cfg.srtod_run = dict(run_id=run.run_id, tier=tier, seed=int(seed), version=run.version)
    return cfg


def main(argv=None) -> int:
    """``python -m srtod.tiers label-check-data FOLDER DATASET`` (the check tier's data rule)."""
    import argparse
    import sys

    from srtod.errors import SRTODError

    parser = argparse.ArgumentParser(prog='python -m srtod.tiers')
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('label-check-data', help="give synthetic splits the dataset's classes")
    p.add_argument('folder')
    p.add_argument('dataset')
    args = parser.parse_args(argv)
    try:
        counts = label_check_data(args.folder, args.dataset)
    except SRTODError as err:
        print(f'label-check-data: error: {err}', file=sys.stderr)
        return 2
    for split, per_class in counts.items():
        print(f'{args.folder}/{split}.json: ' + ', '.join(f'{k} {v}' for k, v in per_class.items()))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
