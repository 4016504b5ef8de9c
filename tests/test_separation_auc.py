"""The difference-map separation (srtod.analysis.separation) on maps with known answers."""
import math

import numpy as np
import pytest

from srtod.analysis.separation import (SeparationAccumulator, bucket_of, box_pixels,
                                       feature_contrast, rank_auc)


def brute_auc(pos, neg):
    pos, neg = np.asarray(pos, float)[:, None], np.asarray(neg, float)[None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


def test_rank_auc_hand_computed_with_ties():
    # pairs: 3>1,3>2,3=3 -> 2.5; 2>1,2=2,2<3 -> 1.5; 1=1,1<2,1<3 -> 0.5; total 4.5 / 9
    assert rank_auc([3, 2, 1], [1, 2, 3]) == pytest.approx(0.5)
    # 3 beats all three; 2 beats 1 and ties twice (2 x 0.5) -> (3 + 2) / 6
    assert rank_auc([3, 2], [1, 2, 2]) == pytest.approx(5 / 6)
    assert rank_auc([0.2], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1.5 / 4)


def test_rank_auc_matches_pairwise_count_on_random_ties():
    rng = np.random.default_rng(3)
    pos = rng.integers(0, 6, 200)
    neg = rng.integers(0, 5, 300)
    assert rank_auc(pos, neg) == pytest.approx(brute_auc(pos, neg), abs=1e-12)


def test_rank_auc_extremes_and_empty():
    assert rank_auc([5, 6], [1, 2, 3]) == 1.0
    assert rank_auc([1, 2], [5, 6]) == 0.0
    assert math.isnan(rank_auc([], [1.0]))


def test_box_pixels_owns_subpixel_boxes_and_clips():
    (rows, cols), = box_pixels([[2.2, 3.7, 2.6, 3.9]], 10, 10)
    assert (rows, cols) == (slice(3, 4), slice(2, 3))
    (rows, cols), = box_pixels([[-5, -5, 20, 4.5]], 10, 10)
    assert (rows, cols) == (slice(0, 5), slice(0, 10))


def test_bucket_edges_are_half_open():
    assert bucket_of(63.9) == 'very_tiny'
    assert bucket_of(64) == 'tiny'
    assert bucket_of(1023) == 'small'
    assert bucket_of(1024) == 'medium'


def test_separable_map_gives_auc_one_and_full_hits():
    d = np.full((64, 64), 0.05, np.float32)
    boxes = np.array([[4, 4, 8, 8], [20, 20, 30, 30], [40, 10, 60, 30]], float)
    for x1, y1, x2, y2 in boxes.astype(int):
        d[y1:y2, x1:x2] = 0.6
    acc = SeparationAccumulator(threshold=40 / 255)
    acc.add(d, boxes, areas=[16, 100, 400])
    res = acc.result()
    for name in ('very_tiny', 'tiny', 'small', 'all'):
        assert res['buckets'][name]['auc'] == 1.0
        assert res['buckets'][name]['hit_rate'] == 1.0
    assert res['buckets']['medium']['objects'] == 0 and res['buckets']['medium']['auc'] is None
    assert res['background_above_threshold'] == 0.0
    assert res['negative_pixels'] == 64 * 64 - 16 - 100 - 400


def test_random_map_gives_auc_near_half_and_hit_rate_by_chance():
    rng = np.random.default_rng(0)
    acc = SeparationAccumulator(threshold=0.9)
    for _ in range(4):
        d = rng.random((128, 128)).astype(np.float32)
        xy = rng.uniform(0, 110, size=(30, 2))
        boxes = np.concatenate([xy, xy + 12], axis=1)
        acc.add(d, boxes, areas=np.full(30, 144.0))
    res = acc.result()
    assert abs(res['buckets']['tiny']['auc'] - 0.5) < 0.02
    # a 12x12 box (144 uniform pixels) has a pixel above 0.9 with probability 1 - 0.9**144
    assert res['buckets']['tiny']['hit_rate'] == pytest.approx(1.0, abs=1e-3)
    assert res['background_above_threshold'] == pytest.approx(0.1, abs=0.01)


def test_pooling_over_images_is_exact():
    d1 = np.array([[0.9, 0.1], [0.2, 0.3]], np.float32)
    d2 = np.array([[0.1, 0.5], [0.5, 0.0]], np.float32)
    acc = SeparationAccumulator(threshold=0.6)
    acc.add(d1, [[0, 0, 1, 1]], [4])
    acc.add(d2, [[1, 0, 2, 1]], [4])
    res = acc.result()['buckets']['very_tiny']
    # positives 0.9, 0.5; negatives 0.1 0.2 0.3 0.1 0.5 0.0: 0.9 beats 6, 0.5 beats 5
        # and ties 1 -> (6 + 5.5) / 12
    assert res['auc'] == pytest.approx(11.5 / 12)
    assert res['hit_rate'] == 0.5


def test_ignore_boxes_leave_the_background():
    d = np.zeros((10, 10), np.float32)
    d[0:3, 0:3] = 1.0          # a bright ignore region
    d[5, 5] = 0.5              # the object
    acc = SeparationAccumulator(threshold=None)
    acc.add(d, [[5, 5, 6, 6]], [1], ignore_boxes=[[0, 0, 3, 3]])
    res = acc.result()
    assert res['buckets']['all']['auc'] == 1.0
    assert res['buckets']['all']['hit_rate'] is None
    assert res['negative_pixels'] == 100 - 9 - 1


def test_feature_contrast_inside_vs_outside():
    feat = np.ones((2, 8, 8), np.float32)
    feat[:, 2, 3] = -5.0
    inside, outside = feature_contrast(feat, [[12, 8, 16, 12]], stride=4)
    assert inside == pytest.approx(5.0) and outside == pytest.approx(1.0)


def test_background_sample_is_capped_and_shared_between_accumulators():
    rng = np.random.default_rng(1)
    d = rng.random((100, 100)).astype(np.float32)
    a, b = SeparationAccumulator(0.5, max_negatives_per_image=1000), SeparationAccumulator(
        None, max_negatives_per_image=1000)
    a.add(d, [[10, 10, 20, 20]], [100])
    b.add(d * 2, [[10, 10, 20, 20]], [100])
    assert a.result()['negative_pixels'] == 1000
    np.testing.assert_array_equal(a._negatives[0] * 2, b._negatives[0])
    exact = SeparationAccumulator(0.5, max_negatives_per_image=None)
    exact.add(d, [[10, 10, 20, 20]], [100])
    assert abs(a.result()['buckets']['tiny']['auc']
               - exact.result()['buckets']['tiny']['auc']) < 0.05


def test_reference_maps_by_hand():
    from srtod.analysis.separation import _box_mean, reference_maps
    img = np.zeros((5, 7, 3), np.float32)
    img[2, 3] = 1.0
    refs = reference_maps(img)
    assert refs['constant'][2, 3] == pytest.approx(1 - 1 / 35)
    assert refs['constant'][0, 0] == pytest.approx(1 / 35)
    box = _box_mean(img[..., :1], 3)[..., 0]
    assert box[2, 3] == pytest.approx(1 / 9) and box[0, 0] == 0.0
    assert box[1, 2] == pytest.approx(1 / 9)
    # border windows are clipped: the corner mean of a constant image is the constant
    assert _box_mean(np.ones((4, 4, 1), np.float32), 9)[0, 0, 0] == pytest.approx(1.0)
