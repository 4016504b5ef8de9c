"""The AI-TOD evaluation protocol on two COCOeval backends, fed with arrays (no JSON round trip).

AI-TOD protocol (aitodpycocotools ``Params.setDetParams``): COCO box AP over IoU 0.50:0.05:0.95,
101 recall points, area ranges all [0, 1e10], very tiny [0, 8^2], tiny [8^2, 16^2], small
[16^2, 32^2], medium [32^2, 1e10] px^2, maxDets (100, 300, 1500); AP, AP50, AP75 and the area APs
at 1500 detections per image, AR at 100 / 300 / 1500. Crowd boxes (``iscrowd=1``) are ignore
regions exactly as in pycocotools.

Backends: ``pycocotools`` is the reference; ``faster-coco-eval`` (the default) runs the same
matching and accumulation in C++. For both, the ground truth index is built once per file
(``GroundTruth``) and detections enter as arrays: a result COCO object is built directly from
them instead of ``json.dump`` + ``loadRes``. Values are in percent; a value that COCOeval reports
as -1 (no box of that area range) is NaN.
"""
from __future__ import annotations

import copy
import dataclasses
import os

import numpy as np

from srtod.data.coco import load_coco
from srtod.errors import InputError

BACKENDS = ('faster-coco-eval', 'pycocotools')
AREA_NAMES = ('all', 'verytiny', 'tiny', 'small', 'medium')
AREA_RANGES = ((0.0, 1e10), (0.0, 8.0 ** 2), (8.0 ** 2, 16.0 ** 2), (16.0 ** 2, 32.0 ** 2),
               (32.0 ** 2, 1e10))
MAX_DETS = (100, 300, 1500)
IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
METRIC_KEYS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'APm', 'AR100', 'AR300', 'AR1500')


@dataclasses.dataclass
class Detections:
    """Detections as flat arrays.

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
    def from_coco_results(cls, results: list[dict], path=None) -> 'Detections':
        """From a COCO results list ``[{image_id, category_id, bbox, score}, ...]``."""
        if not isinstance(results, list):
            raise InputError('expected a JSON list of {image_id, category_id, bbox, score}',
                             path=path)
        try:
            return cls(np.array([r['image_id'] for r in results], np.int64),
                       np.array([r['category_id'] for r in results], np.int64),
                       np.array([r['bbox'] for r in results], np.float64).reshape(-1, 4),
                       np.array([r['score'] for r in results], np.float64))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f'expected detections {{image_id, category_id, bbox [x, y, w, h], '
                             f'score}}: {err!r}', path=path) from None

    def __len__(self) -> int:
        return len(self.image_id)


def _module(backend: str):
    if backend == 'pycocotools':
        from pycocotools import coco, cocoeval
        return coco.COCO, cocoeval.COCOeval
    if backend == 'faster-coco-eval':
        from faster_coco_eval import COCO, COCOeval_faster
        return COCO, COCOeval_faster
    raise InputError(f'unknown evaluation backend {backend!r}; expected one of {list(BACKENDS)}')


class GroundTruth:
    """A ground-truth COCO file, indexed once per backend.

    Args:
        source: path of a COCO json, or the loaded dict.
    """

    def __init__(self, source: str | os.PathLike | dict):
        self.path = None if isinstance(source, dict) else str(source)
        self.dataset = source if isinstance(source, dict) else load_coco(source)
        self._index: dict[str, object] = {}

    @property
    def image_ids(self) -> list[int]:
        return [im['id'] for im in self.dataset['images']]

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

    def boxes(self):
        """Ground-truth boxes as ``matching.Boxes`` (file order)."""
        from srtod.evaluation.matching import Boxes
        anns = self.dataset['annotations']
        return Boxes(image=np.array([a['image_id'] for a in anns], np.int64),
                     category=np.array([a['category_id'] for a in anns], np.int64),
                     xywh=np.array([a['bbox'] for a in anns], np.float64).reshape(-1, 4),
                     area=np.array([a['area'] for a in anns], np.float64),
                     crowd=np.array([bool(a.get('iscrowd', 0)) for a in anns], bool))


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
             backend: str = 'faster-coco-eval') -> dict[str, float]:
    """AI-TOD metrics of ``dets`` against ``gt``, in percent.

    Args:
        gt: the ground truth.
        dets: the detections.
        image_ids: the evaluated images (default: every image of ``gt``).
        category_ids: the evaluated categories (default: every category of ``gt``).
        backend: ``faster-coco-eval`` or ``pycocotools``.

    Returns:
        {AP, AP50, AP75, APvt, APt, APs, APm, AR100, AR300, AR1500}.
    """
    _, COCOeval = _module(backend)
    image_ids = gt.image_ids if image_ids is None else list(image_ids)
    category_ids = gt.category_ids() if category_ids is None else list(category_ids)
    known = set(gt.image_ids)
    unknown = set(np.unique(dets.image_id).tolist()) - known
    if unknown:
        raise InputError(f'detections for image id {sorted(unknown)[0]} which is not in the '
                         f'ground truth', path=gt.path)
    coco_gt = gt.coco(backend)
    coco_dt = _result_coco(gt, dets, backend)
    ev = COCOeval(coco_gt, coco_dt, 'bbox')
    if hasattr(ev, 'print_function'):
        ev.print_function = lambda *a, **k: None
    set_aitod_params(ev.params, image_ids, category_ids)
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    return summarise(np.asarray(ev.eval['precision']), np.asarray(ev.eval['recall']))


def _quiet(fn):
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()
