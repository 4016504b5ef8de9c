"""Theoretical receptive fields and the receptive-field priors of RFLA."""
import math

import pytest
import torch
from mmdet.registry import TASK_UTILS

from srtod.errors import InputError
from srtod.models.rfla import RFGenerator, resnet_trf


def test_resnet50_trf_matches_reference_values():
    # docs/sources.md, "RFLA" (Chasel-Tsui/mmdet-rfla@198977b:mmdet/core/anchor/rf_generator.py):
    # P2..P7 of a ResNet-50 FPN.
    assert resnet_trf(50) == [35, 91, 267, 427, 555, 811]


def test_trf_depends_on_depth():
    # ResNet-18: stem 7x7/2 (r=7, j=2) + max-pool 3x3/2 (r=11, j=4); stage 1 has two basic
    # blocks of two 3x3 convs at j=4: 11 + 4*2*4 = 43. Stage 2: +2*4 (strided conv) = 51,
    # j=8, three more convs: 51 + 3*2*8 = 99. Stage 3: 99 + 8*2 + 3*2*16 = 211.
    # Stage 4: 211 + 16*2 + 3*2*32 = 435.
    assert resnet_trf(18, num_levels=4) == [43, 99, 211, 435]
    # ResNet-101 differs from ResNet-50 only from stage 3 on (23 blocks instead of 6).
    r101 = resnet_trf(101, num_levels=4)
    assert r101[:2] == [35, 91]
    assert r101[2] == 267 + (23 - 6) * 2 * 16
    # Caffe style puts the stride on the 1x1 conv, so the strided 3x3 runs at the new jump.
    assert resnet_trf(50, num_levels=2, style='caffe') == [35, 35 + 3 * 2 * 8 + 2 * 8]
    with pytest.raises(InputError, match='depth'):
        resnet_trf(42)


def _sides(generator, level):
    anchors = generator.base_anchors[level]
    return anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]


def test_p2_priors_are_half_the_trf_with_three_ratios():
    gen = TASK_UTILS.build(dict(type='RFGenerator', fpn_layer='p2', fraction=0.5,
                                strides=[4, 8, 16, 32, 64]))
    assert isinstance(gen, RFGenerator)
    assert gen.num_base_priors == [3] * 5
    assert gen.trfs == [35, 91, 267, 427, 555]
    for level, side in enumerate([17.5, 45.5, 133.5, 213.5, 277.5]):
        w, h = _sides(gen, level)
        # ratio r = h / w: h = side * sqrt(r), w = side / sqrt(r); ratios 0.5, 1, 2.
        for i, r in enumerate([0.5, 1.0, 2.0]):
            assert h[i].item() == pytest.approx(side * math.sqrt(r), rel=1e-6)
            assert w[i].item() == pytest.approx(side / math.sqrt(r), rel=1e-6)
        # centre_offset 0: base priors are centred on the grid point (0, 0).
        anchors = gen.base_anchors[level]
        torch.testing.assert_close((anchors[:, :2] + anchors[:, 2:]) / 2, torch.zeros(3, 2))


def test_p3_priors_and_grid():
    gen = RFGenerator(strides=[8, 16, 32, 64, 128], fpn_layer='p3', fraction=0.5)
    assert [0.5 * t for t in gen.trfs] == [45.5, 133.5, 213.5, 277.5, 405.5]
    priors = gen.grid_priors([(4, 5), (2, 3), (1, 2), (1, 1), (1, 1)], device='cpu')
    assert [p.shape[0] for p in priors] == [4 * 5 * 3, 2 * 3 * 3, 1 * 2 * 3, 3, 3]
    centres = (priors[0][:, :2] + priors[0][:, 2:]) / 2
    # Row-major grid: location (y, x) = (1, 2) is index (1 * 5 + 2) * 3, at (16, 8) pixels.
    torch.testing.assert_close(centres[(1 * 5 + 2) * 3], torch.tensor([16.0, 8.0]))


def test_resnet18_priors_and_bad_configs():
    gen = RFGenerator(strides=[4, 8, 16, 32, 64], fpn_layer='p2', depth=18)
    w, h = _sides(gen, 0)
    assert w[1].item() == pytest.approx(0.5 * 43)
    with pytest.raises(InputError, match='strides'):
        RFGenerator(strides=[8, 16, 32, 64, 128], fpn_layer='p2')
    with pytest.raises(InputError, match='fpn_layer'):
        RFGenerator(strides=[4, 8], fpn_layer='c2')
