"""The AI-TOD metric: both backends against each other, the per-image records against COCOeval,
and AITODMetric inside mmengine's evaluator."""
import json

import numpy as np
import pytest

from srtod.evaluation import backends
from srtod.evaluation.backends import Detections, GroundTruth, compute_records, evaluate
from srtod.evaluation.records import PerImageRecords, load_records, save_records

TOL = 1e-6


def _dataset(seed=0, images=12, width=200, height=120):
    """GT with areas exactly on the AI-TOD boundaries, a crowd region, two categories; detections
    with IoU exactly 0.5 / 0.75, ties, images without detections and one with more than 1500."""
    rng = np.random.default_rng(seed)
    imgs = [{'id': i, 'file_name': f'{i}.png', 'width': width, 'height': height}
            for i in range(1, images + 1)]
    anns, dets = [], []

    def gt(img, cat, box, crowd=0):
        anns.append({'id': len(anns) + 1, 'image_id': img, 'category_id': cat, 'bbox': box,
                     'area': box[2] * box[3], 'iscrowd': crowd, 'ignore': crowd})

    def dt(img, cat, box, score):
        dets.append((img, cat, box, score))

    # image 1: areas exactly 64, 256, 1024 (8x8, 16x16, 32x32) and detections on them
    for x, s in ((5, 8), (30, 16), (60, 32)):
        gt(1, 1, [x, 10, s, s])
        dt(1, 1, [x, 10, s, s], 0.9)              # IoU 1, area on the boundary
        dt(1, 1, [x, 10, s, s / 2], 0.8)          # IoU exactly 0.5
        dt(1, 1, [x, 10 + s / 4, s, s * 0.75], 0.7)  # IoU exactly 0.75
    # image 2: a crowd region with detections inside, and tied scores
    gt(2, 1, [0, 0, 60, 60], crowd=1)
    gt(2, 1, [100, 50, 12, 10])
    for k in range(5):
        dt(2, 1, [5 + 10 * k, 5, 8, 8], 0.5)
    dt(2, 1, [100, 50, 12, 10], 0.5)
    dt(2, 1, [101, 50, 12, 10], 0.5)
    # image 3: objects but no detections; image 4: detections but no objects
    gt(3, 2, [10, 10, 9, 7])
    dt(4, 2, [10, 10, 9, 7], 0.3)
    # image 3 also: 120 confident false positives, so its true positive ranks beyond 100
    for j in range(120):
        dt(3, 2, [float(60 + rng.uniform(0, 120)), float(rng.uniform(30, 100)), 5.0, 5.0], 0.9)
    dt(3, 2, [10, 10, 9, 7], 0.2)
    # image 5: more than 1500 detections; the true positives have the lowest scores and are cut
    for j in range(4):
        gt(5, 1, [20 + 30 * j, 40, 10, 10])
    for j in range(1600):
        dt(5, 1, [float(rng.uniform(0, 180)), float(rng.uniform(0, 100)), 6.0, 6.0],
           float(0.5 + 0.4 * rng.random()))
    for j in range(4):
        dt(5, 1, [20 + 30 * j, 40, 10, 10], 0.01)
    # random images: jittered detections of random tiny objects, two categories
    for img in range(6, images + 1):
        for _ in range(int(rng.integers(2, 9))):
            s = float(np.exp(rng.uniform(np.log(3), np.log(50))))
            box = [round(float(rng.uniform(0, width - s)), 1),
                   round(float(rng.uniform(0, height - s)), 1),
                   round(s, 1), round(s * rng.uniform(.7, 1.3), 1)]
            box[3] = min(box[3], height - box[1])
            cat = int(rng.integers(1, 3))
            gt(img, cat, box)
            for _ in range(int(rng.integers(0, 3))):
                j = (np.array(box) + rng.normal(0, .1 * s, 4)).tolist()
                dt(img, cat, j, round(float(rng.random()), 2))
        for _ in range(int(rng.integers(0, 20))):
            dt(img, int(rng.integers(1, 3)), [float(rng.uniform(0, 150)), float(rng.uniform(0, 80)),
                                              float(rng.uniform(2, 40)), float(rng.uniform(2, 40))],
               round(float(rng.random()), 2))
    data = {'images': imgs, 'annotations': anns,
            'categories': [{'id': 1, 'name': 'drone'}, {'id': 2, 'name': 'bird'}]}
    d = Detections(np.array([x[0] for x in dets]), np.array([x[1] for x in dets]),
                   np.array([x[2] for x in dets], float), np.array([x[3] for x in dets], float))
    return data, d


@pytest.fixture(scope='module')
def case():
    data, dets = _dataset()
    gt = GroundTruth(data)
    ref = evaluate(gt, dets, backend='pycocotools')
    return data, dets, gt, ref


@pytest.mark.parametrize('backend', ['faster-coco-eval', 'numpy'])
def test_backends_agree(case, backend):
    data, dets, gt, ref = case
    fast = evaluate(gt, dets, backend=backend)
    assert set(ref) == set(backends.METRIC_KEYS)
    for key in ref:
        assert abs(ref[key] - fast[key]) <= TOL, key
    # the cases above are not degenerate: every area range has objects, and cut detections matter
    assert all(np.isfinite(v) and 0 < v < 100 for v in ref.values())
    assert ref['AR1500'] > ref['AR100']


def test_faster_backend_in_image_batches(case, monkeypatch):
    """faster-coco-eval matches images in batches and accumulates once: batches of 5 images."""
    data, dets, gt, ref = case
    monkeypatch.setattr(backends, 'FASTER_BATCH_IMAGES', 5)
    out = evaluate(gt, dets, backend='faster-coco-eval')
    assert all(abs(out[k] - ref[k]) <= TOL for k in ref)


def test_backends_agree_without_detections(case):
    data, _, gt, _ = case
    empty = Detections(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 4)), np.zeros(0))
    for backend in backends.BACKENDS:
        out = evaluate(gt, empty, backend=backend)
        assert out['AP'] == 0 and out['AR1500'] == 0


def test_1500_limit_is_applied(case):
    data, dets, gt, ref = case
    only5 = GroundTruth(dict(data, images=[im for im in data['images'] if im['id'] == 5],
                             annotations=[a for a in data['annotations'] if a['image_id'] == 5]))
    on5 = dets.image_id == 5
    dets = Detections(dets.image_id[on5], dets.category_id[on5], dets.bbox[on5], dets.score[on5])
    for backend in backends.BACKENDS:
        assert evaluate(only5, dets, [5], backend=backend)['AP'] == 0  # TPs ranked 1601..1604
    keep = dets.score < .1
    few = Detections(dets.image_id[keep], dets.category_id[keep], dets.bbox[keep], dets.score[keep])
    assert evaluate(only5, few, [5], backend='pycocotools')['AP'] == pytest.approx(100)


def test_records_reproduce_the_metric(case, tmp_path):
    data, dets, gt, ref = case
    save_records(tmp_path / 'records.npz', compute_records(gt, dets, gt.image_ids, [1, 2]))
    rec = load_records(tmp_path / 'records.npz')
    assert rec.image_ids.tolist() == gt.image_ids
    assert abs(rec.ap() - ref['AP']) <= TOL
    assert abs(rec.ap(iou=0.5) - ref['AP50']) <= TOL
    for key, area in (('APvt', 'verytiny'), ('APt', 'tiny'), ('APs', 'small'), ('APm', 'medium')):
        assert abs(rec.ap(area=area) - ref[key]) <= TOL, key


def test_records_on_a_multiset_equal_cocoeval_on_that_image_set(case):
    """A bootstrap sample with repeats = COCOeval on a dataset where the repeats are copies."""
    data, dets, gt, _ = case
    rec = PerImageRecords(compute_records(gt, dets, gt.image_ids, [1, 2]))
    sample = [7, 2, 7, 9, 3, 11, 2, 7, 12]
    images, anns, rows = [], [], []
    for new_id, old in enumerate(sample, start=1):
        images.append(dict(next(im for im in data['images'] if im['id'] == old), id=new_id,
                           file_name=f'copy{new_id}.png'))
        for a in data['annotations']:
            if a['image_id'] == old:
                anns.append(dict(a, id=len(anns) + 1, image_id=new_id))
        rows.append((np.nonzero(dets.image_id == old)[0], new_id))
    idx = np.concatenate([r for r, _ in rows])
    new_img = np.concatenate([np.full(len(r), n) for r, n in rows])
    copy = Detections(new_img, dets.category_id[idx], dets.bbox[idx], dets.score[idx])
    expected = evaluate(GroundTruth(dict(data, images=images, annotations=anns)), copy,
                        backend='pycocotools')
    assert abs(rec.ap(sample) - expected['AP']) <= TOL
    assert abs(rec.ap(np.array(sample), 'tiny') - expected['APt']) <= TOL
    assert abs(rec.ap(sample) - rec.ap()) > 1e-3  # the sample really is a different image set


def test_aitod_metric_in_mmengine(case, tmp_path):
    import torch
    from mmdet.registry import METRICS
    data, dets, gt, ref = case
    ann_file = tmp_path / 'test.json'
    ann_file.write_text(json.dumps(data))
    metric = METRICS.build(dict(type='AITODMetric', ann_file=str(ann_file),
                                records_path=str(tmp_path / 'records.npz')))
    metric.dataset_meta = {'classes': ('drone', 'bird')}
    for img in gt.image_ids:
        m = dets.image_id == img
        xywh = dets.bbox[m]
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        metric.process({}, [{'img_id': img, 'pred_instances': {
            'bboxes': torch.from_numpy(xyxy), 'scores': torch.from_numpy(dets.score[m]),
            'labels': torch.from_numpy(dets.category_id[m] - 1)}}])
    out = metric.evaluate(len(gt.image_ids))
    assert set(out) == {f'aitod/{k}' for k in backends.METRIC_KEYS}
    for key in backends.METRIC_KEYS:
        # boxes went through xyxy and back: equal up to float rounding of x + w - x
        assert out[f'aitod/{key}'] == pytest.approx(ref[key], abs=1e-4), key
    assert abs(load_records(tmp_path / 'records.npz').ap() - out['aitod/AP']) <= TOL


def test_eval_cli(case, tmp_path, capsys):
    from srtod.cli import main
    data, dets, _, ref = case
    (tmp_path / 'gt.json').write_text(json.dumps(data))
    (tmp_path / 'dt.json').write_text(json.dumps([
        {'image_id': int(i), 'category_id': int(c), 'bbox': b.tolist(), 'score': float(s)}
        for i, c, b, s in zip(dets.image_id, dets.category_id, dets.bbox, dets.score)]))
    assert main(['eval', '--gt', str(tmp_path / 'gt.json'), '--dt', str(tmp_path / 'dt.json')]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ['AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'APm']
    assert all(abs(out[k] - ref[k]) <= TOL for k in out)
    (tmp_path / 'dt.json').write_text('[{"image_id": 999, "category_id": 1, "bbox": [0,0,1,1], '
                                      '"score": 1}]')
    assert main(['eval', '--gt', str(tmp_path / 'gt.json'), '--dt', str(tmp_path / 'dt.json')]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / 'dt.json') in err and 'record [0]: field image_id = 999' in err
