"""Paired bootstrap and verdicts (srtod.analysis.stats) on synthetic per-image records."""
import math

import numpy as np
import pytest

from srtod.analysis.stats import paired_bootstrap, rank_agreement, sign_counts, verdict
from srtod.errors import InputError


class MeanRecords:
    """Per-image records whose AP over a sample is the mean of per-image scores (percent)."""

    def __init__(self, scores, image_ids=None):
        self.scores = dict(zip(image_ids if image_ids is not None else range(len(scores)),
                               np.asarray(scores, float)))
        self.image_ids = np.array(list(self.scores))

    def ap(self, image_ids=None, area='all'):
        ids = self.image_ids if image_ids is None else image_ids
        return float(np.mean([self.scores[i] for i in ids]))


def test_interval_covers_a_known_gain():
    rng = np.random.default_rng(1)
    base = rng.normal(30, 8, 400)
    a = MeanRecords(base)
    b = MeanRecords(base + 2.0 + rng.normal(0, 1.0, 400))
    res = paired_bootstrap(a, b, n=1000, seed=0)
    assert res['low'] < 2.0 < res['high']
    assert res['low'] > 1.0 and res['high'] < 3.0   # paired: the 8-point image spread cancels
    assert res['gain'] == pytest.approx(b.ap() - a.ap())
    assert verdict(res['low'], res['high'], published_gain=2.0, seeds=3) == 'gain reproduced'
    assert verdict(res['low'], res['high'], published_gain=5.0, seeds=3) == 'smaller than published'


def test_null_difference_is_within_noise():
    rng = np.random.default_rng(2)
    base = rng.normal(30, 8, 300)
    a = MeanRecords(base)
    b = MeanRecords(base + rng.normal(0, 2.0, 300))
    res = paired_bootstrap(a, b, n=1000, seed=0)
    assert res['low'] < 0 < res['high']
    assert verdict(res['low'], res['high'], 1.9, seeds=5) == 'within noise'


def test_interval_width_matches_standard_error():
    rng = np.random.default_rng(4)
    diff = rng.normal(1.0, 3.0, 500)
    a = MeanRecords(np.zeros(500))
    b = MeanRecords(diff)
    res = paired_bootstrap(a, b, n=2000, seed=0)
    se = diff.std(ddof=1) / math.sqrt(500)
    assert (res['high'] - res['low']) == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_same_seed_same_interval_and_seeds_are_pooled():
    rng = np.random.default_rng(5)
    base = rng.normal(30, 5, 100)
    a = [MeanRecords(base), MeanRecords(base + 0.5)]
    b = [MeanRecords(base + 1.0), MeanRecords(base + 2.5)]
    r1 = paired_bootstrap(a, b, n=300, seed=7)
    r2 = paired_bootstrap(a, b, n=300, seed=7)
    assert r1 == r2
    assert r1['gain'] == pytest.approx(1.5)   # mean of 1.0 and 2.0
    # with no per-image noise the spread comes only from the seed draw: gains 1.0 or 2.0
    assert r1['low'] == pytest.approx(1.0) and r1['high'] == pytest.approx(2.0)
    assert r1['seeds'] == 2


def test_mismatched_images_are_an_input_error():
    with pytest.raises(InputError, match='same test images'):
        paired_bootstrap(MeanRecords([1, 2, 3]), MeanRecords([1, 2], image_ids=[0, 5]), n=10)


@pytest.mark.parametrize('low,high,pub,expected', [
    (0.5, 3.0, 2.0, 'gain reproduced'),
    (0.5, 3.0, 0.5, 'gain reproduced'),
    (0.5, 3.0, 0.4, 'larger than published'),
    (4.0, 9.2, 0.9, 'larger than published'),
    (0.5, 1.5, 2.0, 'smaller than published'),
    (-0.5, 1.5, 2.0, 'within noise'),
    (0.0, 1.5, 2.0, 'within noise'),
    (-2.0, -0.1, 2.0, 'not reproduced'),
    (0.5, 3.0, -0.2, 'no gain published'),
    (0.5, 3.0, None, 'no gain published'),
])
def test_verdict_definitions(low, high, pub, expected):
    assert verdict(low, high, pub, seeds=3) == expected


@pytest.mark.parametrize('seeds', [1, 2])
@pytest.mark.parametrize('low,high,pub', [(0.5, 3.0, 2.0), (-2.0, -0.1, 2.0), (-1, 1, 2.0)])
def test_fewer_than_three_seeds_give_no_verdict(seeds, low, high, pub):
    assert verdict(low, high, pub, seeds=seeds) == 'too few seeds'


def test_two_level_resample_carries_seed_noise():
    """Seeds drawn with replacement, then images: seed-to-seed spread of the gain widens the
    interval beyond the image-only one, and the interval of identical seeds does not."""
    rng = np.random.default_rng(3)
    base = rng.normal(30, 5, 300)
    noise = rng.normal(0, 1.0, 300)
    a = [MeanRecords(base)] * 4
    same = [MeanRecords(base + 1.0 + noise)] * 4
    spread = [MeanRecords(base + g + noise) for g in (-1.0, 0.5, 1.5, 3.0)]  # mean gain 1.0
    one = paired_bootstrap(a[0], same[0], n=800, seed=0)
    flat = paired_bootstrap(a, same, n=800, seed=0)
    wide = paired_bootstrap(a, spread, n=800, seed=0)
    assert flat['high'] - flat['low'] == pytest.approx(one['high'] - one['low'], rel=0.15)
    assert wide['gain'] == pytest.approx(flat['gain'])
    assert wide['high'] - wide['low'] > 2.5 * (flat['high'] - flat['low'])
    # the seed level alone: a mean of 4 gains drawn from (-1, .5, 1.5, 3) spans about 1.0 +- 1.4
    assert wide['low'] < 0.0 < 2.0 < wide['high']


def test_rank_agreement_is_spearman_over_complete_rows():
    pub = [36.4, 38.3, 36.5, 20.0, np.nan]
    rep = [14.3, 20.4, 14.7, 1.0, 9.0]    # same order as published: rho 1
    assert rank_agreement(pub, rep) == (pytest.approx(1.0), 4)
    rho, n = rank_agreement(pub, [20.4, 14.3, 14.7, 1.0, 9.0])
    assert n == 4 and rho == pytest.approx(0.2)   # 1 - 6 * 8 / (4 * 15): ranks 2,4 swapped
    assert math.isnan(rank_agreement([1.0, 2.0], [2.0, 1.0])[0])   # fewer than 3 rows
    assert math.isnan(rank_agreement([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])[0])  # constant side


def test_sign_counts_use_the_verdicts():
    import pandas as pd
    frame = pd.DataFrame(dict(verdict=['gain reproduced', 'within noise', 'smaller than '
                                       'published', 'too few seeds', 'not run',
                                       'no gain published', 'not reproduced']))
    assert sign_counts(frame) == dict(above=2, judged=4, too_few=1, rows=7)


def _real_records(tmp_path, name, found_second, rng):
    """Records written by srtod.evaluation: 60 images, two 10x10 objects each; the detector
    always finds the first object and finds the second where ``found_second`` is True."""
    from srtod.evaluation.aitod_metric import compute_records
    from srtod.evaluation.backends import Detections, GroundTruth
    from srtod.evaluation.records import load_records, save_records
    images, anns, det = [], [], []
    for i in range(1, 61):
        images.append(dict(id=i, file_name=f'{i}.png', width=100, height=100))
        for k, (x, y) in enumerate(((10, 10), (60, 60))):
            anns.append(dict(id=len(anns) + 1, image_id=i, category_id=1, bbox=[x, y, 10, 10],
                             area=100, iscrowd=0))
            if k == 0 or found_second[i - 1]:
                det.append((i, [x, y, 10, 10], rng.uniform(0.5, 1.0)))
        det.append((i, [30, 30, 10, 10], rng.uniform(0.0, 1.0)))   # a false positive
    gt = GroundTruth(dict(images=images, annotations=anns,
                          categories=[dict(id=1, name='drone')]))
    dets = Detections(np.array([d[0] for d in det]), np.ones(len(det), int),
                      np.array([d[1] for d in det], float), np.array([d[2] for d in det]))
    save_records(tmp_path / f'{name}.npz', compute_records(gt, dets, gt.image_ids, [1]))
    return load_records(tmp_path / f'{name}.npz')


def test_bootstrap_on_real_per_image_records(tmp_path):
    rng = np.random.default_rng(0)
    half = np.arange(60) % 2 == 0
    base = _real_records(tmp_path, 'base', half, rng)
    better = _real_records(tmp_path, 'better', np.ones(60, bool), rng)
    res = paired_bootstrap(base, better, n=200, seed=0)
    assert res['gain'] == pytest.approx(better.ap() - base.ap())
    assert res['gain'] > 10 and res['low'] > 0 and res['low'] < res['gain'] < res['high']
    same = paired_bootstrap(base, base, n=50, seed=0)
    assert same['low'] == same['high'] == same['gain'] == 0.0
    assert verdict(same['low'], same['high'], 1.0, seeds=3) == 'within noise'
