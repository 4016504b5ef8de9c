"""Backbone pretraining of the slim tiers: the stand-in for the paper's ImageNet weights.

The paper starts every backbone from ImageNet (section 4.1; the authors' configs load
``torchvision://resnet50`` or ``open-mmlab://detectron2/resnet50_caffe`` with
``init_cfg=dict(type='Pretrained', ...)``) and trains every head from a random start. The slim
tiers cannot download weights and their backbones are slimmer, so each slim backbone *family*
is pretrained once per tier on the synthetic classification crops of :mod:`srtod.data.crops`
(10 classes: drone shape or none, sky or ground), and the slim configs load the result the way
the paper configs load ImageNet. Heads (the reconstruction head included) stay random.

Families (the backbone rules of :mod:`srtod.tiers`):

- ``resnet18``: ResNet-18 at the tier's ``backbone_channels`` (every FPN detector);
- ``resnet50``: ResNet-50 at a quarter of that width, for the Bottleneck-only backbones
  (DetectoRS' ``DetectoRS_ResNet``, both of them, and TridentNet's ``TridentResNet``; their
  extra parameters, RFP's ``rfp_conv`` and ConvAWS' statistics, start as mmdet starts them).

The crops are normalised as the PyTorch-style detectors normalise their input (RGB, ImageNet
mean and std). Detectors that take caffe-style input (BGR, mean only: TridentNet, Cascade RPN)
get the same weights with the stem converted exactly: the first conv has no bias, so
``W_caffe[:, 2 - c] = W[:, c] / std[c]`` gives the same stem output on the same image (tested).

Outputs, per family, in ``<results>/<tier>/pretrain/``: ``<family>-pytorch.pth`` and
``<family>-caffe.pth`` (``state_dict`` with the backbone's keys and ``meta``), and
``<family>.json`` (crops, iterations, accuracy on held-out crops, wall time).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

from srtod.errors import InputError
from srtod.io import atomic_open, write_json

__all__ = ['PretrainSpec', 'PRETRAIN_SPECS', 'PRETRAINED_TIERS', 'FAMILIES', 'NORMALISATIONS', 'family_of',
           'family_backbone', 'normalisation_of', 'checkpoint_path', 'caffe_stem',
           'pretrain_family', 'add_commands']

#: input normalisations of the detector configs: ``pytorch`` (the crops' own) and ``caffe``.
NORMALISATIONS = {
    'pytorch': dict(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), bgr_to_rgb=True),
    'caffe': dict(mean=(103.53, 116.28, 123.675), std=(1.0, 1.0, 1.0), bgr_to_rgb=False),
}
FAMILIES = ('resnet18', 'resnet50')
#: tiers whose configs load the checkpoints (srtod.tiers.slim_start). ``tiny``, the plumbing
#: tier of the tests (4 iterations), starts from scratch: a pretrained start changes nothing
#: there and would make every tiny training wait for a pretraining job.
PRETRAINED_TIERS = ('smoke',)


@dataclasses.dataclass(frozen=True)
class PretrainSpec:
    """How a tier pretrains its backbones.

    Args:
        crops: training crops (drawn once, seen ``iters * batch / crops`` times).
        held_out: crops of another seed for the accuracy in ``<family>.json``.
        size: side of a crop in pixels.
        iters: SGD iterations.
        batch: crops per iteration.
        lr: peak learning rate (linear warm-up over ``warmup`` iterations, then cosine to 0).
        warmup: warm-up iterations.
        weight_decay: SGD weight decay (momentum 0.9).
    """

    crops: int
    held_out: int
    size: int
    iters: int
    batch: int
    lr: float = 0.1
    warmup: int = 20
    weight_decay: float = 1e-4


PRETRAIN_SPECS = {
    'smoke': PretrainSpec(crops=4096, held_out=512, size=64, iters=300, batch=64),
    'tiny': PretrainSpec(crops=32, held_out=16, size=32, iters=2, batch=8, warmup=1),
}


def _spec(tier: str) -> PretrainSpec:
    if tier not in PRETRAIN_SPECS:
        raise InputError(f'tier {tier!r} has no backbone pretraining; expected one of '
                         f'{sorted(PRETRAIN_SPECS)} (the paper tier loads ImageNet weights)')
    return PRETRAIN_SPECS[tier]


def family_of(backbone: dict) -> str:
    """The pretraining family of a slim backbone config (``resnet18`` or ``resnet50``)."""
    from srtod.tiers import _BOTTLENECK_ONLY

    kind = backbone.get('type', 'ResNet')
    if kind in _BOTTLENECK_ONLY:
        return 'resnet50'
    if kind == 'ResNet':
        return 'resnet18'
    raise InputError(f'no pretraining family for backbone type {kind!r}; expected ResNet, '
                     'DetectoRS_ResNet or TridentResNet')


def family_backbone(tier: str, family: str) -> dict:
    """The plain mmdet ``ResNet`` config a family is pretrained as (the tier's slim rules)."""
    from srtod.tiers import TIER_SPECS, _slim_backbone

    if family not in FAMILIES:
        raise InputError(f'unknown backbone family {family!r}; expected one of {list(FAMILIES)}')
    if tier not in TIER_SPECS:
        raise InputError(f'tier {tier!r} has no slim backbones; expected one of {sorted(TIER_SPECS)}')
    probe = dict(type='TridentResNet' if family == 'resnet50' else 'ResNet', depth=50)
    _slim_backbone(probe, TIER_SPECS[tier])
    return dict(type='ResNet', depth=probe['depth'], base_channels=probe['base_channels'],
                num_stages=4, out_indices=(3,), style='pytorch',
                norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False)


def normalisation_of(data_preprocessor: dict) -> str:
    """``pytorch`` or ``caffe``: which converted checkpoint fits a detector's input."""
    for name, norm in NORMALISATIONS.items():
        if (bool(data_preprocessor.get('bgr_to_rgb', False)) == norm['bgr_to_rgb']
                and np.allclose(data_preprocessor.get('mean', ()), norm['mean'])
                and np.allclose(data_preprocessor.get('std', ()), norm['std'])):
            return name
    raise InputError(f'no pretrained stem for the input normalisation {dict(data_preprocessor)}; '
                     f'expected one of {NORMALISATIONS}')


def checkpoint_path(tier: str, family: str, normalisation: str = 'pytorch',
                    results_root: str | Path = 'results') -> Path:
    """``<results>/<tier>/pretrain/<family>-<normalisation>.pth``."""
    if normalisation not in NORMALISATIONS:
        raise InputError(f'unknown normalisation {normalisation!r}; expected one of '
                         f'{list(NORMALISATIONS)}')
    return Path(results_root) / tier / 'pretrain' / f'{family}-{normalisation}.pth'


def caffe_stem(state_dict: dict) -> dict:
    """The weights for caffe-style input: the stem conv reordered to BGR and scaled by 1/std.

    A pixel's caffe input is ``x_c = BGR - mean`` and its PyTorch-style input
    ``x_p[c] = x_c[2 - c] / std[c]``; the stem conv has no bias, so ``W_c[:, 2 - c] =
    W_p[:, c] / std[c]`` gives the same output. Other weights are shared.
    """
    import torch

    out = dict(state_dict)
    w = state_dict['conv1.weight']
    std = torch.tensor(NORMALISATIONS['pytorch']['std'], dtype=w.dtype).view(1, 3, 1, 1)
    out['conv1.weight'] = (w / std).flip(1).contiguous()
    return out


# ------------------------------------------------------------------------------- training
def _normalise(images: np.ndarray):
    import torch

    norm = NORMALISATIONS['pytorch']
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    mean = torch.tensor(norm['mean']).view(1, 3, 1, 1)
    std = torch.tensor(norm['std']).view(1, 3, 1, 1)
    return (x - mean) / std


def _classifier(backbone_cfg: dict, num_classes: int):
    """The pretraining model: the family's mmdet ``ResNet``, global average pool, linear layer."""
    import torch
    from mmdet.models.backbones import ResNet
    from mmengine.logging import MMLogger

    cfg = dict(backbone_cfg)
    cfg.pop('type')
    backbone = ResNet(**cfg)
    # mmdet's initialisation (Kaiming convs, zero-init residual BN), without its per-weight log
    MMLogger.get_instance('srtod_pretrain', log_level='WARNING')
    backbone.init_weights()

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.fc = torch.nn.Linear(backbone.feat_dim, num_classes)

        def forward(self, x):
            return self.fc(self.backbone(x)[-1].mean(dim=(2, 3)))

    return Classifier()


def _lr(spec: PretrainSpec, it: int) -> float:
    if it < spec.warmup:
        return spec.lr * (it + 1) / spec.warmup
    t = (it - spec.warmup) / max(1, spec.iters - spec.warmup)
    return 0.5 * spec.lr * (1 + math.cos(math.pi * t))


def pretrain_family(tier: str, family: str, results_root: str | Path = 'results', seed: int = 0,
                    log=print) -> dict:
    """Pretrain one backbone family of a tier and write its checkpoints (module docstring).

    Args:
        tier: a slim tier (``smoke``, ``tiny``).
        family: ``resnet18`` or ``resnet50``.
        results_root: the results folder.
        seed: seed of the crops (held-out crops use ``seed + 1``) and of the initialisation.
        log: callable for progress lines.

    Returns:
        The ``<family>.json`` record.
    """
    import torch
    from mmengine.runner.checkpoint import weights_to_cpu

    from srtod.data.crops import NUM_CLASSES, make_crops

    spec = _spec(tier)
    backbone_cfg = family_backbone(tier, family)
    start = time.time()
    images, labels = make_crops(spec.crops, seed=seed, size=spec.size)
    test_images, test_labels = make_crops(spec.held_out, seed=seed + 1, size=spec.size)
    crops_s = time.time() - start
    torch.manual_seed(seed)
    model = _classifier(backbone_cfg, NUM_CLASSES)
    optim = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=0.9,
                            weight_decay=spec.weight_decay)
    rng = np.random.default_rng(seed)
    x_all, y_all = _normalise(images), torch.from_numpy(labels)
    model.train()
    losses = []
    for it in range(spec.iters):
        idx = torch.from_numpy(rng.choice(len(labels), spec.batch, replace=len(labels) < spec.batch))
        x = x_all[idx]
        flip = torch.from_numpy(rng.random(len(idx)) < .5)
        x[flip] = x[flip].flip(-1)
        for group in optim.param_groups:
            group['lr'] = _lr(spec, it)
        loss = torch.nn.functional.cross_entropy(model(x), y_all[idx])
        if not torch.isfinite(loss):
            raise InputError(f'backbone pretraining of {family} ({tier}) diverged at iteration '
                             f'{it} (loss {float(loss)})')
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
        if (it + 1) % max(1, spec.iters // 10) == 0 or it + 1 == spec.iters:
            log(f'pretrain {family} ({tier}): iteration {it + 1}/{spec.iters}, loss '
                f'{np.mean(losses[-max(1, spec.iters // 10):]):.3f}, {time.time() - start:.0f} s')
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(_normalise(test_images[i:i + 256])).argmax(1)
                          for i in range(0, len(test_labels), 256)]).numpy()
    accuracy = float(np.mean(pred == test_labels))
    state = weights_to_cpu(model.backbone.state_dict())
    record = dict(tier=tier, family=family, backbone=backbone_cfg, seed=seed,
                  spec=dataclasses.asdict(spec), classes=NUM_CLASSES,
                  held_out_accuracy=accuracy, chance_accuracy=1.0 / NUM_CLASSES,
                  final_loss=float(np.mean(losses[-max(1, spec.iters // 10):])),
                  crops_wall_time_s=crops_s, wall_time_s=time.time() - start,
                  checkpoints={})
    for name in NORMALISATIONS:
        path = checkpoint_path(tier, family, name, results_root)
        weights = state if name == 'pytorch' else caffe_stem(state)
        meta = dict(tier=tier, family=family, normalisation=name, seed=seed,
                    held_out_accuracy=accuracy)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, 'wb') as f:
            torch.save(dict(meta=meta, state_dict=weights), f)
        record['checkpoints'][name] = str(path)
    write_json(Path(results_root) / tier / 'pretrain' / f'{family}.json', record)
    return record


# ------------------------------------------------------------------------------------- CLI
def _pretrain(args) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f'--threads must be >= 1, got {args.threads}')
        import torch
        torch.set_num_threads(args.threads)
    families = FAMILIES if args.family == 'all' else (args.family,)
    for family in families:
        rec = pretrain_family(args.tier, family, args.results, args.seed,
                              log=lambda m: print(m, file=sys.stderr, flush=True))
        print(f"srtod pretrain: {family} ({args.tier}): held-out accuracy "
              f"{rec['held_out_accuracy']:.3f} (chance {rec['chance_accuracy']:.3f}) in "
              f"{rec['wall_time_s']:.1f} s -> {', '.join(rec['checkpoints'].values())}")
    return 0


def add_commands(subparsers) -> None:
    """Add ``pretrain`` to the ``srtod`` command."""
    p = subparsers.add_parser(
        'pretrain', help='pretrain the slim backbones of a tier on synthetic crops (the '
                         'stand-in for ImageNet)')
    p.add_argument('--tier', required=True, choices=sorted(PRETRAIN_SPECS), help='slim tier')
    p.add_argument('--family', default='all', choices=FAMILIES + ('all',),
                   help='backbone family (default: all)')
    p.add_argument('--results', default='results', metavar='DIR',
                   help='results root (default: results)')
    p.add_argument('--seed', type=int, default=0, help='seed of the crops (default 0)')
    p.add_argument('--threads', type=int, default=None, metavar='N',
                   help="torch CPU threads (default: torch's own choice)")
    p.set_defaults(func=_pretrain)


def main(argv=None) -> int:
    """``python -m srtod.engine.pretrain``: the same as ``srtod pretrain``."""
    from srtod.errors import SRTODError

    parser = argparse.ArgumentParser(prog='srtod')
    add_commands(parser.add_subparsers(dest='command', required=True))
    args = parser.parse_args(['pretrain'] + list(sys.argv[1:] if argv is None else argv))
    try:
        return args.func(args)
    except SRTODError as err:
        print(f'srtod pretrain: error: {err}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
