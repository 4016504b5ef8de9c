"""The AI-TOD evaluation protocol on three COCOeval backends, fed with arrays (no JSON round trip).

AI-TOD protocol (jwwangchn/cocoapi-aitod ``Params.setDetParams``): COCO box AP over IoU
0.50:0.05:0.95, 101 recall points, area ranges all [0, 1e10], very tiny [0, 8^2], tiny [8^2,
16^2], small [16^2, 32^2], medium [32^2, 1e10] px^2; AP, AP50, AP75 and the area APs at 1500
detections per image, AR at maxDets (100, 300, 1500) as the SR-TOD and AI-TOD authors' mmdet
metrics set them (docs/sources.md). Crowd boxes (``iscrowd=1``) are ignore regions exactly
as in pycocotools.

Backends: ``pycocotools`` is the reference; ``faster-coco-eval`` runs the same matching and
accumulation in C++; ``numpy`` (the default) is srtod's own port (``srtod.evaluation.matching`` +
``PerImageRecords.accumulate``), linear in the number of units, detections and overlapping
pairs, and bit-for-bit equal to pycocotools on every input the validation accepts
(tests/test_metric_parity.py). All three take arrays: pycocotools gets a result COCO object built
straight from them instead of ``json.dump`` + ``loadRes``; faster-coco-eval gets its C++ inputs
directly (``_faster_eval``). Only the chosen backend is imported.

Input is validated first: the ground truth with ``srtod.data.coco.validate_coco`` (the converters'
validation), the detections with ``Detections.problems``. Annotation id 0 is renumbered (with a
warning), because pycocotools stores matches by annotation id and reads id 0 as "no match".

Values are in percent; a value that COCOeval reports as -1 (no box of that area range) is NaN in
the Python API and ``null`` in JSON output (``json_metrics``).
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import math
import os
from typing import Annotated

import msgspec
import numpy as np

from srtod.data.coco import MAX_ID, _validation_message, load_coco, read_json, validate_coco
from srtod.errors import InputError

BACKENDS = ('numpy', 'faster-coco-eval', 'pycocotools')
AREA_NAMES = ('all', 'verytiny', 'tiny', 'small', 'medium')
AREA_RANGES = ((0.0, 1e10), (0.0, 8.0 ** 2), (8.0 ** 2, 16.0 ** 2), (16.0 ** 2, 32.0 ** 2),
               (32.0 ** 2, 1e10))
MAX_DETS = (100, 300, 1500)
IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
#: images per C++ matching call of the faster-coco-eval backend (bounds the IoU lists' memory).
FASTER_BATCH_IMAGES = 128
METRIC_KEYS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'APm', 'AR100', 'AR300', 'AR1500')
DETECTIONS_FORMAT = ('a JSON list of COCO results {"image_id": int, "category_id": int, '
                     '"bbox": [x, y, w, h], "score": number}')
LOG = logging.getLogger('srtod.evaluation')


@dataclasses.dataclass
class Detections:
    """Detections as flat arrays, in their file order.

    Args:
        image_id: (N,) image ids.
        category_id: (N,) category ids (dataset ids, not labels).
        bbox: (N, 4) float64 boxes [x, y, w, h].
        score: (N,) scores.
    """

    image_id: np.ndarray
    category_id: np.ndarray
    bbox: np.ndarray
    score: np.ndarray

    @classmethod
    def from_coco_results(cls, results, path=None) -> 'Detections':
        """From a COCO results list ``[{image_id, category_id, bbox, score}, ...]`` (extra keys
        are ignored); a record of another form raises ``InputError`` naming it and the field."""
        if not isinstance(results, list):
            raise InputError(f'expected {DETECTIONS_FORMAT}', path=path)
        try:  # the same strict types as for a file (an int id is not 1.0 or "1")
            records = msgspec.convert(results, list[_Record])
        except msgspec.ValidationError as err:
            raise InputError(f'{_validation_message(str(err))}; expected {DETECTIONS_FORMAT}',
                             path=path) from None
        return _from_records(records, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> 'Detections':
        """Read a COCO results json file (``srtod eval --dt``)."""
        return _from_records(read_json(path, DETECTIONS_FORMAT, _DECODER), path)

    def __len__(self) -> int:
        return len(self.image_id)

    def problems(self, gt: 'GroundTruth') -> list[str]:
        """What is wrong with these detections against ``gt``: non-finite or negative-size
        boxes, non-finite scores, image or category ids that ``gt`` does not have. Each message
        names the record (its index in the file) and the field."""
        out = []
        n = len(self)
        if not (self.image_id.shape == (n,) and self.category_id.shape == (n,)
                and self.bbox.shape == (n, 4) and self.score.shape == (n,)):
            return [f'expected arrays image_id (N,), category_id (N,), bbox (N, 4), score (N,); '
                    f'got shapes {self.image_id.shape}, {self.category_id.shape}, '
                    f'{self.bbox.shape}, {self.score.shape}']
        checks = (
            (~np.isfinite(self.bbox).all(1), 'bbox', 'expected 4 finite numbers'),
            (~np.isfinite(self.score), 'score', 'expected a finite number'),
            ((self.bbox[:, 2:] < 0).any(1), 'bbox', 'expected [x, y, w, h] with w, h >= 0'),
            (~np.isin(self.image_id, gt.image_ids), 'image_id',
             'not an image of the ground truth'),
            (~np.isin(self.category_id, gt.category_ids()), 'category_id',
             'not a category of the ground truth'),
        )
        for bad, field, expected in checks:
            idx = np.flatnonzero(bad)
            if len(idx):
                i = int(idx[0])
                value = {'bbox': self.bbox, 'score': self.score, 'image_id': self.image_id,
                         'category_id': self.category_id}[field][i].tolist()
                more = f' (and {len(idx) - 1} more records)' if len(idx) > 1 else ''
                out.append(f'record [{i}]: field {field} = {value}: {expected}{more}')
        return out

    def validate(self, gt: 'GroundTruth', path=None) -> None:
        """Raise ``InputError`` listing ``problems(gt)``, if there are any."""
        problems = self.problems(gt)
        if problems:
            raise InputError(f'{len(problems)} problem(s) in these detections:\n  '
                             + '\n  '.join(problems), path=path)


class _Record(msgspec.Struct, gc=False):
    """One COCO result record: strict types (no bool, float or string for an int; ids in int64),
    extra keys ignored."""

    image_id: Annotated[int, msgspec.Meta(ge=-MAX_ID - 1, le=MAX_ID)]
    category_id: Annotated[int, msgspec.Meta(ge=-MAX_ID - 1, le=MAX_ID)]
    bbox: tuple[float, float, float, float]
    score: float


_DECODER = msgspec.json.Decoder(list[_Record])


def _from_records(records: list, path) -> Detections:
    n = len(records)
    image = np.fromiter((r.image_id for r in records), np.int64, n)
    cat = np.fromiter((r.category_id for r in records), np.int64, n)
    score = np.fromiter((r.score for r in records), np.float64, n)
    bbox = np.fromiter(itertools.chain.from_iterable(r.bbox for r in records), np.float64,
                       4 * n).reshape(n, 4)
    return Detections(image, cat, bbox, score)


def _module(backend: str):
    if backend == 'pycocotools':
        from pycocotools import coco, cocoeval
        return coco.COCO, cocoeval.COCOeval
    if backend == 'faster-coco-eval':
        from faster_coco_eval import COCO, COCOeval_faster
        return COCO, COCOeval_faster
    raise InputError(f'unknown evaluation backend {backend!r}; expected one of {list(BACKENDS)}')


class GroundTruth:
    """A ground-truth COCO file, validated and indexed once.

    Args:
        source: path of a COCO json, or the loaded dict (not modified).

    Raises:
        InputError: the file or dict fails ``validate_coco``.
    """

    def __init__(self, source: str | os.PathLike | dict):
        self.path = None if isinstance(source, dict) else str(source)
        data = source if isinstance(source, dict) else load_coco(source)
        validate_coco(data, self.path)
        self.dataset = _renumber_id_zero(data, self.path)
        self._index: dict[str, object] = {}
        self._units = None
        self._boxes = None
        self._image_ids = [im['id'] for im in self.dataset['images']]

    @property
    def image_ids(self) -> list[int]:
        return self._image_ids

    def category_ids(self, names=None) -> list[int]:
        """Category ids in file order, restricted to ``names`` if given (as mmdet's CocoDataset)."""
        cats = self.dataset['categories']
        if names is not None:
            cats = [c for c in cats if c['name'] in set(names)]
        return [c['id'] for c in cats]

    def coco(self, backend: str):
        """The backend's COCO object of the ground truth (built on first use)."""
        if backend not in self._index:
            COCO, _ = _module(backend)
            api = COCO()
            api.dataset = copy.deepcopy(self.dataset)
            _quiet(api.createIndex)
            self._index[backend] = api
        return self._index[backend]

    def unit_arrays(self, image_ids, category_ids) -> dict:
        """Ground truth grouped by (image, category) unit, in file order within a unit.

        Returns:
            dict with ``key`` (image index * categories + category index, sorted), ``img``,
            ``cat`` (ids), ``box`` / ``crowd`` (one array per unit) and ``dicts`` (per unit, the
            fields faster-coco-eval's C++ reads: id, area, iscrowd, ignore = iscrowd).
        """
        cache_key = (tuple(image_ids), tuple(category_ids))
        if self._units is not None and self._units[0] == cache_key:
            return self._units[1]
        b = self.boxes()
        ids = np.array([a['id'] for a in self.dataset['annotations']], np.int64)
        keep = np.isin(b.image, image_ids) & np.isin(b.category, category_ids)
        key = (np.searchsorted(image_ids, b.image[keep]) * len(category_ids)
               + np.searchsorted(category_ids, b.category[keep]))
        order = np.argsort(key, kind='stable')
        key, ids = key[order], ids[keep][order]
        box, crowd, area = b.xywh[keep][order], b.crowd[keep][order], b.area[keep][order]
        keys, start, count = np.unique(key, return_index=True, return_counts=True)
        out = {'key': keys, 'img': [], 'cat': [], 'box': [], 'crowd': [], 'dicts': []}
        n_cat = len(category_ids)
        for k, s0, n in zip(keys.tolist(), start.tolist(), count.tolist()):
            out['img'].append(image_ids[k // n_cat])
            out['cat'].append(category_ids[k % n_cat])
            out['box'].append(box[s0:s0 + n])
            out['crowd'].append(crowd[s0:s0 + n])
            out['dicts'].append([{'id': int(ids[j]), 'area': float(area[j]),
                                  'iscrowd': int(crowd[j]), 'ignore': int(crowd[j])}
                                 for j in range(s0, s0 + n)])
        self._units = (cache_key, out)
        return out

    def boxes(self):
        """Ground-truth boxes as ``matching.Boxes`` (file order; built once)."""
        if self._boxes is None:
            from srtod.evaluation.matching import Boxes
            anns = self.dataset['annotations']
            n = len(anns)
            self._boxes = Boxes(
                image=np.fromiter((a['image_id'] for a in anns), np.int64, n),
                category=np.fromiter((a['category_id'] for a in anns), np.int64, n),
                xywh=np.array([a['bbox'] for a in anns], np.float64).reshape(n, 4),
                area=np.fromiter((a['area'] for a in anns), np.float64, n),
                crowd=np.fromiter((a['iscrowd'] == 1 for a in anns), bool, n))
        return self._boxes


def _renumber_id_zero(data: dict, path) -> dict:
    """``data`` with annotation id 0 given the next free id, and a warning; else ``data``.

    pycocotools (and faster-coco-eval) record a detection's match as the id of its box, and read
    0 as "unmatched": a box with id 0 could never be found. Ids have no other role in the metric.
    """
    anns = data['annotations']
    zero = [i for i, a in enumerate(anns) if a['id'] == 0]
    if not zero:
        return data
    new_id = max(a['id'] for a in anns) + 1
    anns = list(anns)
    anns[zero[0]] = dict(anns[zero[0]], id=new_id)
    LOG.warning('%sannotation id 0 (annotations[%d]) is evaluated as id %d: pycocotools reads a '
                'match to id 0 as no match', f'{path}: ' if path else '', zero[0], new_id)
    return dict(data, annotations=anns)


def _result_coco(gt: GroundTruth, dets: Detections, backend: str):
    """A COCO result object built straight from arrays (what ``loadRes`` would build)."""
    COCO, _ = _module(backend)
    bbox = dets.bbox
    area = bbox[:, 2] * bbox[:, 3]
    img = dets.image_id.tolist()
    cat = dets.category_id.tolist()
    box = bbox.tolist()
    score = dets.score.tolist()
    ar = area.tolist()
    anns = [{'id': i + 1, 'image_id': img[i], 'category_id': cat[i], 'bbox': box[i],
             'score': score[i], 'area': ar[i], 'iscrowd': 0} for i in range(len(img))]
    api = COCO()
    api.dataset = {'images': gt.dataset['images'], 'categories': gt.dataset['categories'],
                   'annotations': anns}
    _quiet(api.createIndex)
    return api


def set_aitod_params(params, image_ids, category_ids) -> None:
    """Set the AI-TOD protocol on a COCOeval ``Params`` object."""
    params.iouType = 'bbox'
    params.imgIds = list(image_ids)
    params.catIds = list(category_ids)
    params.iouThrs = IOU_THRS.copy()
    params.recThrs = REC_THRS.copy()
    params.maxDets = list(MAX_DETS)
    params.areaRng = [list(r) for r in AREA_RANGES]
    params.areaRngLbl = list(AREA_NAMES)
    params.useCats = 1


def _mean(values: np.ndarray) -> float:
    v = values[values > -1]
    return float(np.mean(v) * 100) if v.size else float('nan')


def summarise(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """The metric keys from COCOeval's precision (T,R,K,A,M) and recall (T,K,A,M) arrays."""
    t50 = int(np.argmin(np.abs(IOU_THRS - .5)))
    t75 = int(np.argmin(np.abs(IOU_THRS - .75)))
    out = {'AP': _mean(precision[:, :, :, 0, -1]),
           'AP50': _mean(precision[t50, :, :, 0, -1]),
           'AP75': _mean(precision[t75, :, :, 0, -1])}
    for key, a in (('APvt', 1), ('APt', 2), ('APs', 3), ('APm', 4)):
        out[key] = _mean(precision[:, :, :, a, -1])
    for m, n in enumerate(MAX_DETS):
        out[f'AR{n}'] = _mean(recall[:, :, 0, m])
    return out


def evaluate(gt: GroundTruth, dets: Detections, image_ids=None, category_ids=None,
             backend: str = 'numpy', dets_path=None) -> dict[str, float]:
    """AI-TOD metrics of ``dets`` against ``gt``, in percent.

    Args:
        gt: the ground truth.
        dets: the detections; validated against ``gt`` first (``Detections.validate``).
        image_ids: the evaluated images (default: every image of ``gt``).
        category_ids: the evaluated categories (default: every category of ``gt``).
        backend: ``numpy``, ``faster-coco-eval`` or ``pycocotools``.
        dets_path: the detections' file, named in errors.

    Returns:
        {AP, AP50, AP75, APvt, APt, APs, APm, AR100, AR300, AR1500}; NaN where COCOeval
        reports -1 (no box of that area range).
    """
    if backend not in BACKENDS:
        raise InputError(f'unknown evaluation backend {backend!r}; expected one of '
                         f'{list(BACKENDS)}')
    dets.validate(gt, dets_path)
    image_ids = gt.image_ids if image_ids is None else list(image_ids)
    category_ids = gt.category_ids() if category_ids is None else list(category_ids)
    if backend == 'numpy':
        return metrics_from_records(compute_records(gt, dets, image_ids, category_ids))
    if backend == 'faster-coco-eval':
        ev = _faster_eval(gt, dets, image_ids, category_ids)
    else:
        _, COCOeval = _module(backend)
        ev = COCOeval(gt.coco(backend), _result_coco(gt, dets, backend), 'bbox')
        set_aitod_params(ev.params, image_ids, category_ids)
        _quiet(ev.evaluate)
        _quiet(ev.accumulate)
    return summarise(np.asarray(ev.eval['precision']), np.asarray(ev.eval['recall']))


def json_metrics(metrics: dict[str, float]) -> dict[str, float | None]:
    """Metrics for JSON output: NaN (no box of that area range) becomes None, i.e. ``null``;
    strict JSON has no NaN."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def compute_records(gt: GroundTruth, dets: Detections, image_ids, category_ids
                    ) -> dict[str, np.ndarray]:
    """The per-image records (``srtod.evaluation.records``) of one evaluation."""
    from srtod.evaluation.matching import Boxes, match
    from srtod.evaluation.records import records_arrays
    dt = Boxes(image=dets.image_id, category=dets.category_id, xywh=dets.bbox,
               area=dets.bbox[:, 2] * dets.bbox[:, 3], score=dets.score)
    result = match(gt.boxes(), dt, image_ids, category_ids, IOU_THRS, np.asarray(AREA_RANGES),
                   max(MAX_DETS))
    return records_arrays(result, image_ids, category_ids, AREA_NAMES, AREA_RANGES, IOU_THRS,
                          REC_THRS, max(MAX_DETS))


def metrics_from_records(arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """The metric keys recomputed from records arrays (the ``numpy`` backend)."""
    from srtod.evaluation.records import PerImageRecords
    precision, recall = PerImageRecords(arrays).accumulate(max_dets=MAX_DETS)
    return summarise(precision, recall)


def _faster_eval(gt: GroundTruth, dets: Detections, image_ids, category_ids):
    """faster-coco-eval's C++ matching and accumulation, fed from arrays.

    What ``COCOeval_faster.evaluate`` does in Python before its C++ call is done here on arrays:
    instead of a result COCO object, ``_prepare``'s loops and one ``maskUtils.iou`` call per
    (image, category), the detections are sorted once (by unit, then score, stably: the order
    both COCOevals use), cut to ``maxDets[-1]`` per unit, given to the C++ dataset as small dicts
    of the fields it reads (id, score, area, iscrowd, ignore), and their IoUs come from
    ``matching.box_iou`` (pycocotools' formula) on padded chunks of units.
    """
    import faster_coco_eval.faster_eval_api_cpp as _C
    from faster_coco_eval import COCOeval_faster

    from srtod.evaluation.matching import box_iou

    ev = COCOeval_faster(gt.coco('faster-coco-eval'), gt.coco('faster-coco-eval'), 'bbox')
    ev.print_function = lambda *a, **k: None
    set_aitod_params(ev.params, image_ids, category_ids)
    p = ev.params
    p.imgIds = sorted(set(int(i) for i in p.imgIds))
    p.catIds = sorted(set(int(c) for c in p.catIds))
    n_cat = len(p.catIds)
    max_det = max(p.maxDets)

    # detections: keep evaluated ones, sort by (unit, -score) stably, cut to max_det per unit
    ids = np.arange(1, len(dets) + 1)
    keep = np.isin(dets.image_id, p.imgIds) & np.isin(dets.category_id, p.catIds)
    d_img, d_cat = dets.image_id[keep], dets.category_id[keep]
    d_key = (np.searchsorted(p.imgIds, d_img) * n_cat + np.searchsorted(p.catIds, d_cat))
    order = np.lexsort((-dets.score[keep], d_key))
    d_key, d_ids = d_key[order], ids[keep][order]
    d_box, d_score = dets.bbox[keep][order], dets.score[keep][order]
    d_keys, d_start, d_count = np.unique(d_key, return_index=True, return_counts=True)
    rank = np.arange(len(d_key)) - np.repeat(d_start, d_count)
    cut = rank < max_det
    d_key, d_ids, d_box, d_score = d_key[cut], d_ids[cut], d_box[cut], d_score[cut]
    d_keys, d_start, d_count = np.unique(d_key, return_index=True, return_counts=True)

    g = gt.unit_arrays(p.imgIds, p.catIds)
    gt_set, dt_set = _C.Dataset(), _C.Dataset()
    for k, (img, cat) in enumerate(zip(g['img'], g['cat'])):
        for ann in g['dicts'][k]:
            gt_set.append_ref(img, cat, ann)
    area = (d_box[:, 2] * d_box[:, 3]).tolist()
    score, dids = d_score.tolist(), d_ids.tolist()
    ukey_img = [p.imgIds[k // n_cat] for k in d_keys.tolist()]
    ukey_cat = [p.catIds[k % n_cat] for k in d_keys.tolist()]
    for u, (s0, n) in enumerate(zip(d_start.tolist(), d_count.tolist())):
        img, cat = ukey_img[u], ukey_cat[u]
        for j in range(s0, s0 + n):
            dt_set.append_ref(img, cat, {'id': dids[j], 'score': score[j], 'area': area[j],
                                         'iscrowd': 0, 'ignore': 0})

    # C++ matching in batches of images (bounded IoU memory), one C++ accumulation over all
    g_pos = {k: u for u, k in enumerate(g['key'].tolist())}
    d_pos = {k: u for u, k in enumerate(d_keys.tolist())}
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    per_batch = []
    for b0 in range(0, n_img, FASTER_BATCH_IMAGES):
        b_imgs = p.imgIds[b0:b0 + FASTER_BATCH_IMAGES]
        ious = [[[] for _ in p.catIds] for _ in b_imgs]
        for i in range(len(b_imgs)):
            for c in range(n_cat):
                key = (b0 + i) * n_cat + c
                gu, du = g_pos.get(key), d_pos.get(key)
                if gu is None or du is None:
                    continue
                s0, n = d_start[du], d_count[du]
                ious[i][c] = box_iou(d_box[s0:s0 + n], g['box'][gu], g['crowd'][gu])
        per_batch.append((len(b_imgs), _C.COCOevalEvaluateImages(
            p.areaRng, p.maxDets[-1], p.iouThrs, ious, gt_set, dt_set, b_imgs, p.catIds, True)))
        del ious
    # the C++ indexes evaluations as [category][area range][image]. Its accumulation costs
    # per (area range, maxDets) pair, so it runs on what the summary reads: precision and recall
    # at maxDets[-1] for every area range, recall at the smaller maxDets for 'all' only.
    def gather(areas):
        out = []
        for c in range(n_cat):
            for a in areas:
                for nb, ev_b in per_batch:
                    start = (c * n_area + a) * nb
                    out.extend(ev_b[start:start + nb])
        return out

    last = copy.deepcopy(p)
    last.maxDets = [p.maxDets[-1]]
    full = _C.COCOevalAccumulate(last, gather(range(n_area)))
    small = copy.deepcopy(p)
    small.maxDets = list(p.maxDets[:-1])
    small.areaRng, small.areaRngLbl = [p.areaRng[0]], [p.areaRngLbl[0]]
    part = _C.COCOevalAccumulate(small, gather([0])) if small.maxDets else None
    T, R, K, M = len(p.iouThrs), len(p.recThrs), len(p.catIds), len(p.maxDets)
    precision = -np.ones((T, R, K, n_area, M))
    recall = -np.ones((T, K, n_area, M))
    precision[..., -1:] = np.asarray(full['precision']).reshape(T, R, K, n_area, 1)
    recall[..., -1:] = np.asarray(full['recall']).reshape(T, K, n_area, 1)
    if part is not None:
        recall[:, :, :1, :-1] = np.asarray(part['recall']).reshape(T, K, 1, M - 1)
    ev.eval = {'precision': precision, 'recall': recall}
    return ev


def _quiet(fn):
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()
