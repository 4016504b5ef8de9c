"""The mechanism figures: reconstruction PSNR against the constant image, AUC of D against the
constant reconstruction's map (srtod/analysis/mechanism.py)."""
import math

import numpy as np
import pytest
import torch

from srtod.analysis.mechanism import (MECHANISM_KEYS, MechanismAccumulator, constant_map,
                                      constant_reconstruction, psnr)
from srtod.errors import InputError
from srtod.models.srtod.difference_map import (HighFrequencyDifferenceMap,
                                               PixelDifferenceMap)


def test_psnr_values():
    a = np.full((4, 4, 3), 0.5)
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert psnr(a, a) == math.inf
    with pytest.raises(InputError, match='one shape'):
        psnr(a, a[:2])


def test_constant_reconstruction_is_the_best_constant():
    rng = np.random.default_rng(0)
    img = rng.random((16, 20, 3)).astype(np.float32)
    best = psnr(constant_reconstruction(img), img)
    for colour in ([0.5, 0.5, 0.5], img.mean(axis=(0, 1)) + 0.02, [0.0, 0.3, 0.9]):
        assert psnr(np.broadcast_to(np.float32(colour), img.shape), img) < best


def test_constant_map_uses_the_runs_difference_map():
    rng = np.random.default_rng(1)
    img = rng.random((16, 16, 3)).astype(np.float32)
    expected = np.abs(img - img.mean(axis=(0, 1))).mean(axis=2)
    np.testing.assert_allclose(constant_map(img), expected, atol=1e-6)
    np.testing.assert_allclose(constant_map(img, PixelDifferenceMap()), expected, atol=1e-6)
    hf = constant_map(img, HighFrequencyDifferenceMap(cutoff=1 / 8))
    direct = HighFrequencyDifferenceMap(cutoff=1 / 8)(
        torch.from_numpy(constant_reconstruction(img).transpose(2, 0, 1))[None],
        torch.from_numpy(img.transpose(2, 0, 1))[None])[0, 0].numpy()
    np.testing.assert_allclose(hf, direct, atol=1e-6)
    assert not np.allclose(hf, expected)


def _scene():
    """Left half black, right half white, one mid-grey 4x4 object (the image's mean colour)."""
    img = np.zeros((32, 32, 3), np.float32)
    img[:, 16:] = 1.0
    background = img.copy()
    img[6:10, 6:10] = 0.5
    img[20:24, 22:26] = 0.5
    boxes = np.array([[6, 6, 10, 10], [22, 20, 26, 24]], np.float64)
    return img, background, boxes


def test_a_reconstruction_that_misses_the_objects_beats_the_constant():
    img, background, boxes = _scene()
    acc = MechanismAccumulator()
    d = np.abs(background - img).mean(axis=2)
    acc.add(img, background, d, constant_map(img), boxes, areas=[16.0, 16.0])
    out = acc.result()
    assert set(MECHANISM_KEYS) <= set(out)
    assert out['images'] == 1 and out['objects_very_tiny'] == 2
    # D is positive exactly on the objects; the constant map is 0 there and 0.5 elsewhere
    assert out['auc_very_tiny'] == pytest.approx(1.0)
    assert out['auc_very_tiny_constant'] == pytest.approx(0.0, abs=0.05)
    assert out['auc_very_tiny_gain'] > 0.9
    assert out['rec_psnr'] > out['rec_psnr_constant']
    assert out['rec_psnr_gain'] == pytest.approx(out['rec_psnr'] - out['rec_psnr_constant'])
    assert out['auc_tiny'] is None and out['auc_tiny_gain'] is None


def test_a_collapsed_head_scores_the_constant():
    img, _, boxes = _scene()
    acc = MechanismAccumulator()
    const = constant_reconstruction(img)
    acc.add(img, const, np.abs(const - img).mean(axis=2), constant_map(img), boxes, [16.0, 16.0])
    out = acc.result()
    assert out['rec_psnr_gain'] == pytest.approx(0.0, abs=1e-6)
    assert out['auc_all_gain'] == pytest.approx(0.0, abs=1e-9)


def test_psnr_is_averaged_over_images_and_pdm_has_none():
    img, background, boxes = _scene()
    acc = MechanismAccumulator()
    d = np.abs(background - img).mean(axis=2)
    acc.add(img, background, d, constant_map(img), boxes, [16.0, 16.0])
    acc.add(img, constant_reconstruction(img), d, constant_map(img), boxes, [16.0, 16.0])
    out = acc.result()
    assert out['rec_psnr'] == pytest.approx(
        (psnr(background, img) + psnr(constant_reconstruction(img), img)) / 2)
    pdm = MechanismAccumulator()
    pdm.add(img, None, d, constant_map(img), boxes, [16.0, 16.0])
    out = pdm.result()
    assert out['rec_psnr'] is None and out['rec_psnr_gain'] is None
    assert out['auc_very_tiny'] == pytest.approx(1.0)


def test_bad_maps_are_refused():
    img, background, boxes = _scene()
    acc = MechanismAccumulator()
    with pytest.raises(InputError, match='diff_map must be'):
        acc.add(img, background, np.zeros((8, 8)), constant_map(img), boxes, [16.0, 16.0])
    with pytest.raises(InputError, match='expected an'):
        constant_reconstruction(np.zeros((4, 4)))
