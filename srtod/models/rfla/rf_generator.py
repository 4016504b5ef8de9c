"""Receptive-field priors of RFLA (Xu et al., ECCV 2022, https://arxiv.org/abs/2208.08738).

RFLA replaces hand-set anchor boxes by one box per ratio and feature location whose side is a
fraction of the *theoretical receptive field* (TRF) of that pyramid level: the effective
receptive field of a unit is roughly Gaussian and much smaller than its TRF, and the paper
estimates it as ``fraction * TRF`` with ``fraction = 0.5``.

The TRF follows the usual recursion over the layers of the backbone (Araujo et al., "Computing
receptive fields of convolutional neural networks", Distill 2019): with ``r_0 = 1`` and
``j_0 = 1``, a layer of kernel ``k`` and stride ``s`` gives ``r_l = r_{l-1} + (k - 1) * j_{l-1}``
and ``j_l = j_{l-1} * s``. For ResNet-50 this gives P2..P5 = 35, 91, 267, 427.

Levels above C5 (P6, P7) are counted as the reference code counts them: a stride-2
subsampling followed by one 3x3 convolution at the new stride, which gives P6 = 555 and
P7 = 811 for ResNet-50. The true TRF of P6 depends on the neck (mmdet's FPN with
``add_extra_convs=False`` max-pools P5 with a 1x1 window, which adds nothing); the reference
values are kept so that RFLA's published priors are reproduced.
"""
from __future__ import annotations

from typing import Sequence

from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.registry import TASK_UTILS
from torch.nn.modules.utils import _pair

from srtod.errors import InputError

#: ResNet depth -> (block type, number of blocks per stage), as mmdet's ``ResNet.arch_settings``.
RESNET_STAGES = {
    18: ('basic', (2, 2, 2, 2)),
    34: ('basic', (3, 4, 6, 3)),
    50: ('bottleneck', (3, 4, 6, 3)),
    101: ('bottleneck', (3, 4, 23, 3)),
    152: ('bottleneck', (3, 8, 36, 3)),
}

#: The first pyramid level whose TRF :func:`resnet_trf` returns (P2 = output of stage 1, C2).
FIRST_LEVEL = 2


def _block_layers(block: str, stride: int, style: str) -> list[tuple[int, int]]:
    """(kernel, stride) of the convolutions on the main path of one residual block.

    The shortcut never has a larger receptive field than the main path, so it is left out.
    """
    if block == 'basic':
        return [(3, stride), (3, 1)]
    if style == 'pytorch':  # stride on the 3x3 convolution (mmdet's default)
        return [(1, 1), (3, stride), (1, 1)]
    return [(1, stride), (3, 1), (1, 1)]  # 'caffe': stride on the first 1x1 convolution


def resnet_trf(depth: int = 50, num_levels: int = 6, style: str = 'pytorch') -> list[int]:
    """Theoretical receptive fields of the pyramid levels P2, P3, ... of a ResNet-FPN.

    Args:
        depth: ResNet depth, one of 18, 34, 50, 101, 152.
        num_levels: how many levels to return, starting at P2. Levels above P5 are a
            stride-2 subsampling plus one 3x3 convolution each (see the module docstring).
        style: 'pytorch' (stride on the 3x3 convolution of a bottleneck) or 'caffe'
            (stride on its first 1x1 convolution), as mmdet's ``ResNet(style=...)``.

    Returns:
        list[int]: the TRF in input pixels of P2, P3, ..., ``num_levels`` values.
    """
    if depth not in RESNET_STAGES:
        raise InputError(f'RFGenerator: ResNet depth {depth!r} is not supported; expected one '
                         f'of {sorted(RESNET_STAGES)}')
    if style not in ('pytorch', 'caffe'):
        raise InputError(f"RFGenerator: style {style!r} is not supported; expected 'pytorch' "
                         "or 'caffe'")
    if num_levels < 1:
        raise InputError(f'RFGenerator: num_levels must be >= 1, got {num_levels}')
    rf, jump = 1, 1

    def apply(kernel: int, stride: int) -> None:
        nonlocal rf, jump
        rf += (kernel - 1) * jump
        jump *= stride

    apply(7, 2)  # stem convolution
    apply(3, 2)  # stem max-pool
    block, stage_blocks = RESNET_STAGES[depth]
    trfs = []
    for stage, num_blocks in enumerate(stage_blocks):
        for index in range(num_blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            for kernel, s in _block_layers(block, stride, style):
                apply(kernel, s)
        trfs.append(rf)
    while len(trfs) < num_levels:
        apply(1, 2)  # stride-2 subsampling of the level below
        apply(3, 1)  # one 3x3 convolution at the new stride
        trfs.append(rf)
    return trfs[:num_levels]


def parse_fpn_layer(fpn_layer: str) -> int:
    """'p2' -> 2. The level index of the first pyramid level the priors are laid on."""
    text = str(fpn_layer).lower()
    if len(text) == 2 and text[0] == 'p' and text[1].isdigit() and int(text[1]) >= FIRST_LEVEL:
        return int(text[1])
    raise InputError(f"RFGenerator: fpn_layer {fpn_layer!r} is not a pyramid level; expected "
                     "'p2' (two-stage detectors, FPN from C2) or 'p3' (RetinaNet-style, P3-P7)")


@TASK_UTILS.register_module()
class RFGenerator(AnchorGenerator):
    """Receptive-field prior generator of RFLA, a drop-in for mmdet's ``AnchorGenerator``.

    At each level the prior side is ``fraction * TRF * scale``; each ratio ``r`` gives a box
    of height ``side * sqrt(r)`` and width ``side / sqrt(r)`` centred on the grid point (so
    ``len(ratios) * len(scales)`` priors per location, 3 with the paper's setting). Grid
    generation, valid flags and sparse priors are mmdet's ``AnchorGenerator``'s.

    Args:
        strides: strides of the pyramid levels, e.g. ``[4, 8, 16, 32, 64]`` for P2-P6. Level
            ``i`` must have stride ``2 ** (first level + i)``.
        ratios: height / width ratios of the priors at each location.
        fraction: effective receptive field as a fraction of the TRF (0.5 in the paper).
        fpn_layer: the first pyramid level, 'p2' (Cascade R-CNN, P2-P6) or 'p3' (P3-P7).
        depth: ResNet depth of the backbone the TRF is computed for (18, 34, 50, 101, 152).
        style: ResNet style, 'pytorch' or 'caffe'.
        scales: extra multipliers of the prior side; RFLA uses ``[1.0]``.
        centers: optional prior centres per level, as in ``AnchorGenerator``.
        center_offset: offset of the prior centre in a grid cell, as in ``AnchorGenerator``
            (0 in RFLA: centres on the grid points).
        use_box_type: return ``HorizontalBoxes`` instead of tensors, as in ``AnchorGenerator``.
    """

    def __init__(self,
                 strides: Sequence[int | tuple[int, int]],
                 ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 fraction: float = 0.5,
                 fpn_layer: str = 'p3',
                 depth: int = 50,
                 style: str = 'pytorch',
                 scales: Sequence[float] = (1.0,),
                 centers: Sequence[tuple[float, float]] | None = None,
                 center_offset: float = 0.,
                 use_box_type: bool = False) -> None:
        if not fraction > 0:
            raise InputError(f'RFGenerator: fraction must be > 0, got {fraction}')
        first = parse_fpn_layer(fpn_layer)
        for index, stride in enumerate(strides):
            expected = 2 ** (first + index)
            if min(_pair(stride)) != expected:
                raise InputError(
                    f'RFGenerator: with fpn_layer={fpn_layer!r} level {index} is '
                    f'P{first + index} of stride {expected}, but strides[{index}] = {stride}; '
                    'expected strides doubling from 2 ** level of fpn_layer')
        num_levels = len(strides)
        trfs = resnet_trf(depth, num_levels=first - FIRST_LEVEL + num_levels, style=style)
        self.fraction = float(fraction)
        self.fpn_layer = fpn_layer
        self.depth = depth
        self.style = style
        self.trfs = trfs[first - FIRST_LEVEL:]
        super().__init__(
            strides=strides,
            ratios=list(ratios),
            scales=list(scales),
            base_sizes=[self.fraction * trf for trf in self.trfs],
            centers=centers,
            center_offset=center_offset,
            use_box_type=use_box_type)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(strides={self.strides}, '
                f'ratios={self.ratios.tolist()}, scales={self.scales.tolist()}, '
                f'fraction={self.fraction}, fpn_layer={self.fpn_layer!r}, depth={self.depth}, '
                f'style={self.style!r}, trfs={self.trfs}, center_offset={self.center_offset})')
