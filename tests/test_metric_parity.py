"""Exact parity of the three backends with plain pycocotools (AI-TOD parameters, results loaded
with ``loadRes``) on adversarial sets from a seeded generator; every seed of ``range(SETS)`` runs.

Each set mixes what has broken COCO ports: areas exactly on the AI-TOD boundaries (and an ``area``
field unlike w*h), IoU exactly 0.5 / 0.75, equal scores at the 1500 cut, crowd regions over
boxes, a crowd-only category, sub-pixel and zero-width boxes, non-contiguous category ids with
id 0, image id 0, images without boxes or detections, duplicate detections and clusters of
overlapping boxes and detections (the greedy matcher's worst case).
"""
import copy

import numpy as np
import pytest

from srtod.evaluation import backends
from srtod.evaluation.backends import Detections, GroundTruth, evaluate

SETS = 8
AITOD_AREAS = [[0, 1e10], [0, 64], [64, 256], [256, 1024], [1024, 1e10]]


def adversarial_set(seed: int):
    """(ground-truth dict, list of result dicts) of one adversarial set."""
    rng = np.random.default_rng(seed)
    W, H = 400, 300
    cat_ids = [0, 3, 7, 100]  # non-contiguous, with 0; 100 holds crowd regions only
    n_img = int(rng.integers(6, 12))
    images = [{'id': i, 'file_name': f'{i}.png', 'width': W, 'height': H} for i in range(n_img)]
    anns, dets = [], []

    def gt(img, cat, box, crowd=0, area=None):
        anns.append({'id': len(anns) + 1, 'image_id': img, 'category_id': cat,
                     'bbox': [float(v) for v in box], 'iscrowd': crowd,
                     'area': float(box[2] * box[3] if area is None else area)})

    def dt(img, cat, box, score):
        dets.append({'image_id': img, 'category_id': cat, 'bbox': [float(v) for v in box],
                     'score': float(score)})

    for img in range(n_img):
        kind = img % 6  # every kind in every set
        if kind == 0:  # areas on the boundaries, IoU exactly 0.5 and 0.75
            for x, s in ((5, 8), (40, 16), (80, 32), (150, 2)):
                c = int(rng.choice(cat_ids[:3]))
                gt(img, c, [x, 10, s, s])
                dt(img, c, [x, 10, s, s], rng.choice([.9, .5]))
                dt(img, c, [x, 10, s, s / 2], .8)
                dt(img, c, [x, 10 + s / 4, s, s * .75], .7)
            gt(img, 3, [200, 100, 10, 10], area=64.0)  # area field unlike w*h, on a boundary
            dt(img, 3, [200, 100, 10, 10], .6)
        elif kind == 1:  # clusters: overlapping boxes and jittered detections, tied scores
            for _ in range(int(rng.integers(2, 5))):
                cx, cy = rng.uniform(20, W - 60), rng.uniform(20, H - 60)
                c = int(rng.choice(cat_ids[:3]))
                for _ in range(int(rng.integers(2, 6))):
                    s = rng.uniform(4, 30)
                    gt(img, c, [cx + rng.uniform(0, 8), cy + rng.uniform(0, 8), s,
                                s * rng.uniform(.6, 1.5)])
                for _ in range(int(rng.integers(3, 15))):
                    s = rng.uniform(4, 30)
                    dt(img, c, [cx + rng.uniform(-2, 10), cy + rng.uniform(-2, 10), s,
                                s * rng.uniform(.6, 1.5)], round(rng.uniform(0, 1), 1))
        elif kind == 2:  # more than 1500 detections with equal scores at the cut
            c = int(rng.choice(cat_ids[:3]))
            for j in range(int(rng.integers(1, 6))):
                gt(img, c, [10 + 30 * j, 40, 10, 10])
            n = int(rng.integers(1490, 1530))
            xs, ys = rng.uniform(0, W - 10, n), rng.uniform(0, H - 10, n)
            score = rng.choice([.3, .5, .7], n)
            for j in range(n):
                dt(img, c, [xs[j], ys[j], 8, 8], score[j])
            for j in range(5):  # true positives tied with the cut
                dt(img, c, [10 + 30 * j, 40, 10, 10], .3)
        elif kind == 3:  # crowd regions over boxes; a crowd-only category; sub-pixel boxes
            gt(img, 0, [0, 0, 100, 100], crowd=1, area=10000)
            gt(img, 0, [60, 60, 8, 8])  # found last: the crowd's detections rank before it
            dt(img, 0, [60, 60, 8, 8], .01)
            gt(img, 100, [200, 0, 150, 150], crowd=1)
            for _ in range(int(rng.integers(1, 6))):
                gt(img, 0, [rng.uniform(0, 90), rng.uniform(0, 90), 6, 5])
                dt(img, 100, [rng.uniform(200, 340), rng.uniform(0, 140), 5, 5], rng.random())
            for _ in range(int(rng.integers(3, 20))):
                dt(img, 0, [rng.uniform(0, 95), rng.uniform(0, 95), rng.uniform(1, 8),
                            rng.uniform(1, 8)], round(rng.random(), 2))
            gt(img, 7, [300.25, 250.5, 0.5, 0.25])
            dt(img, 7, [300.25, 250.5, 0.5, 0.25], .9)
            dt(img, 7, [300.3, 250.5, 0.5, 0.25], .95)
            dt(img, 7, [300.25, 250.5, 0.0, 0.25], .99)  # zero width: never matches
        elif kind == 4:  # duplicates, boxes at the border, large and medium boxes
            c = int(rng.choice(cat_ids[:3]))
            box = [W - 50.0, H - 40.0, 50.0, 40.0]
            gt(img, c, box)
            gt(img, c, [0, 0, 33, 33])
            for _ in range(3):
                dt(img, c, box, .5)
            dt(img, c, [0, 0, 33, 33], .5)
            dt(img, c, [1e6, 1e6, 1e3, 1e3], .99)  # far outside: never matches
            # equal IoU with two boxes: the later box wins, which decides the next detection
            gt(img, c, [100, 100, 10, 10])
            gt(img, c, [102, 100, 10, 10])
            dt(img, c, [101, 100, 10, 10], .9)
            dt(img, c, [102, 100, 10, 10], .8)
            # a box ignored in the small range (area < 256) with a higher IoU than a kept one
            gt(img, c, [200, 200, 15, 15])
            gt(img, c, [201, 200, 17, 17])
            dt(img, c, [200, 200, 15.5, 15.5], .85)
        # kind 5: an image without boxes or detections
    # random detections anywhere, any category
    for _ in range(int(rng.integers(20, 80))):
        img, c = int(rng.integers(0, n_img)), int(rng.choice(cat_ids))
        dt(img, c, [rng.uniform(0, W), rng.uniform(0, H), rng.uniform(0.5, 40),
                    rng.uniform(0.5, 40)], round(rng.random(), 3))
    # boxes must lie inside their image (the validation); clip the far ones
    for a in anns:
        x, y, w, h = a['bbox']
        a['bbox'] = [x, y, min(w, W - x), min(h, H - y)]
        if a['area'] == w * h:
            a['area'] = a['bbox'][2] * a['bbox'][3]
    perm = rng.permutation(len(dets))  # detections in no particular order
    data = {'images': images, 'annotations': anns,
            'categories': [{'id': c, 'name': f'c{c}'} for c in (7, 0, 100, 3)]}
    return data, [dets[i] for i in perm]


def reference(data: dict, results: list[dict]) -> dict[str, float]:
    """Plain pycocotools with the AI-TOD parameters and the aitodpycocotools summary."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt = COCO()
    gt.dataset = copy.deepcopy(data)
    backends._quiet(gt.createIndex)
    dt = backends._quiet(lambda: gt.loadRes(copy.deepcopy(results)))
    ev = COCOeval(gt, dt, 'bbox')
    ev.params.maxDets = [100, 300, 1500]
    ev.params.areaRng = AITOD_AREAS
    ev.params.areaRngLbl = ['all', 'verytiny', 'tiny', 'small', 'medium']
    backends._quiet(ev.evaluate)
    backends._quiet(ev.accumulate)
    p = ev.params

    def mean(s):
        s = s[s > -1]
        return float(np.mean(s)) * 100 if s.size else float('nan')

    prec, rec = ev.eval['precision'], ev.eval['recall']
    out = {'AP': mean(prec[:, :, :, [0], [2]]),
           'AP50': mean(prec[np.where(p.iouThrs == .5)[0]][:, :, :, [0], [2]]),
           'AP75': mean(prec[np.where(p.iouThrs == .75)[0]][:, :, :, [0], [2]])}
    for key, a in (('APvt', 1), ('APt', 2), ('APs', 3), ('APm', 4)):
        out[key] = mean(prec[:, :, :, [a], [2]])
    for m, n in enumerate((100, 300, 1500)):
        out[f'AR{n}'] = mean(rec[:, :, [0], [m]])
    return out


def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


@pytest.fixture(scope='module', params=range(SETS), ids=lambda s: f'seed{s}')
def case(request):
    data, results = adversarial_set(request.param)
    return data, results, reference(data, results)


def test_sets_are_adversarial(case):
    """Each set exercises what it claims: detections beyond the cut, a category without
    non-ignored boxes, and metrics that are neither trivial nor all undefined."""
    data, results, ref = case
    per_unit = {}
    for r in results:
        key = (r['image_id'], r['category_id'])
        per_unit[key] = per_unit.get(key, 0) + 1
    assert max(per_unit.values()) > 1500
    assert any(a['iscrowd'] for a in data['annotations'])
    assert all(a['iscrowd'] for a in data['annotations'] if a['category_id'] == 100)
    assert 0 < ref['AP'] < 100 and 0 < ref['AR100'] < ref['AR1500'] < 100
    assert all(np.isfinite(v) for v in ref.values())


@pytest.mark.parametrize('backend', ['numpy', 'pycocotools'])
def test_exact_parity(case, backend):
    data, results, ref = case
    out = evaluate(GroundTruth(data), Detections.from_coco_results(results), backend=backend)
    assert list(out) == list(backends.METRIC_KEYS)
    for key in ref:
        assert _same(out[key], ref[key]), (key, out[key], ref[key])


def test_faster_coco_eval_parity(case):
    """faster-coco-eval accumulates in C++: equal up to float rounding of the sums."""
    data, results, ref = case
    out = evaluate(GroundTruth(data), Detections.from_coco_results(results),
                   backend='faster-coco-eval')
    for key in ref:
        assert _same(out[key], ref[key]) or abs(out[key] - ref[key]) <= 1e-12, key


def test_annotation_id_zero_is_renumbered(case, caplog):
    """pycocotools loses a match to annotation id 0; the evaluator renumbers it and warns, and
    every backend then equals pycocotools on the renumbered file."""
    data, results, ref = case
    zero = copy.deepcopy(data)
    first = next(a for a in zero['annotations'] if not a['iscrowd'])
    first['id'] = 0
    with caplog.at_level('WARNING', logger='srtod.evaluation'):
        gt = GroundTruth(zero)
    assert 'annotation id 0' in caplog.text
    assert first['id'] == 0  # the caller's dict is not modified
    dets = Detections.from_coco_results(results)
    for backend in backends.BACKENDS:
        out = evaluate(gt, dets, backend=backend)
        assert all(_same(out[k], ref[k]) or abs(out[k] - ref[k]) <= 1e-12 for k in ref), backend


def test_one_box_with_id_zero():
    """The issue's case: one box with id 0 and a perfect detection is 100 AP, not 0."""
    data = {'images': [{'id': 1, 'file_name': 'a.png', 'width': 50, 'height': 50}],
            'categories': [{'id': 1, 'name': 'drone'}],
            'annotations': [{'id': 0, 'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 6, 6],
                             'area': 36, 'iscrowd': 0}]}
    dets = Detections.from_coco_results([{'image_id': 1, 'category_id': 1,
                                          'bbox': [10, 10, 6, 6], 'score': .9}])
    for backend in backends.BACKENDS:
        assert evaluate(GroundTruth(data), dets, backend=backend)['AP'] == pytest.approx(100)
