"""Per-image evaluation records: the matches and scores of every detection, saved once, so that
seeds statistics and paired bootstraps recompute AP for any multiset of images without running
the evaluation again.

The file is an ``.npz`` of flat arrays (no pickle), see ``save_records``. ``PerImageRecords.ap``
concatenates the records of the sampled images in the order given (an image drawn twice counts
twice) and accumulates them exactly as ``COCOeval.accumulate`` does for that image set.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from srtod.errors import InputError
from srtod.evaluation.matching import MatchResult
from srtod.io import atomic_open

FORMAT_VERSION = 1


class PerImageRecords:
    """Records of one evaluation.

    Args:
        arrays: the arrays of the ``.npz`` file (see ``save_records``).
    """

    def __init__(self, arrays: dict[str, np.ndarray]):
        self._a = arrays
        self.image_ids: np.ndarray = arrays['image_ids']
        self.category_ids: np.ndarray = arrays['category_ids']
        self.area_names: list[str] = [str(n) for n in arrays['area_names']]
        self.iou_thrs: np.ndarray = arrays['iou_thrs']
        self.rec_thrs: np.ndarray = arrays['rec_thrs']
        unit_img = np.searchsorted(self.image_ids, arrays['unit_image'])
        unit_cat = np.searchsorted(self.category_ids, arrays['unit_category'])
        self._unit_of = np.full((len(self.image_ids), len(self.category_ids)), -1, np.int64)
        self._unit_of[unit_img, unit_cat] = np.arange(len(unit_img))
        counts = np.bincount(arrays['det_unit'], minlength=len(unit_img))
        self._det_start = np.cumsum(counts) - counts
        self._det_count = counts

    def _area(self, area: str) -> int:
        if area not in self.area_names:
            raise InputError(f'unknown area range {area!r}; expected one of {self.area_names}')
        return self.area_names.index(area)

    def _rows(self, image_ids) -> np.ndarray:
        if image_ids is None:
            return np.arange(len(self.image_ids))
        ids = np.asarray(image_ids, np.int64).ravel()
        rows = np.searchsorted(self.image_ids, ids)
        inside = np.minimum(rows, len(self.image_ids) - 1)
        bad = (rows >= len(self.image_ids)) | (self.image_ids[inside] != ids)
        if bad.any():
            raise InputError(f'image id {int(ids[bad][0])} is not in these records')
        return rows

    def accumulate(self, image_ids=None, areas=None, max_dets=None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """COCOeval's precision (T, R, K, A, M) and recall (T, K, A, M) for a multiset of images.

        Args:
            image_ids: image ids, repeats allowed; None: every image once.
            areas: area range names (default: all of them, in the records' order).
            max_dets: detections per image and category, ascending (default: the records'
                ``max_det``). Precision curves are computed for the last one only (the others'
                are NaN; the AI-TOD summary reads AR there, AP at the largest).
        """
        rows = self._rows(image_ids)
        a_idx = [self._area(a) for a in (areas or self.area_names)]
        max_dets = [int(self._a['max_det'])] if max_dets is None else list(max_dets)
        T, R, K = len(self.iou_thrs), len(self.rec_thrs), len(self.category_ids)
        precision = np.full((T, R, K, len(a_idx), len(max_dets)), np.nan)
        recall = -np.ones((T, K, len(a_idx), len(max_dets)))
        arr = self._a
        shifts = np.arange(T, dtype=np.uint16)
        for k in range(K):
            units = self._unit_of[rows, k]
            units = units[units >= 0]
            counts = self._det_count[units]
            rank = _ranks(counts)
            det = np.repeat(self._det_start[units], counts) + rank
            order = np.argsort(-arr['det_score'][det], kind='mergesort')
            det, rank = det[order], rank[order]
            for ai, a in enumerate(a_idx):
                npig = int(arr['unit_npig'][units, a].sum())
                if npig == 0:
                    precision[:, :, k, ai, :] = -1
                    continue
                mbits, ibits = arr['det_matched'][det, a], arr['det_ignored'][det, a]
                for mi, m in enumerate(max_dets):
                    keep = rank < m
                    if mi == len(max_dets) - 1:
                        precision[:, :, k, ai, mi], recall[:, k, ai, mi] = _curves(
                            mbits[keep], ibits[keep], T, npig, self.rec_thrs)
                    else:  # recall only: true positives over non-ignored boxes
                        tp = (mbits[keep] & ~ibits[keep])[:, None] >> shifts & 1
                        recall[:, k, ai, mi] = tp.sum(0) / npig
        return precision, recall

    def ap(self, image_ids=None, area: str = 'all', iou: float | None = None) -> float:
        """AP in percent over IoU .50:.95 (or at one threshold) for a multiset of images.

        Args:
            image_ids: image ids, repeats allowed (a bootstrap sample); None: every image once.
            area: area range name (``all``, ``verytiny``, ``tiny``, ``small``, ``medium``).
            iou: one IoU threshold (e.g. 0.5 for AP50); None averages all thresholds.

        Returns:
            AP in percent; NaN when no category has a non-ignored box in the sample.
        """
        if iou is None:
            t_sel = np.arange(len(self.iou_thrs))
        else:
            t_sel = np.nonzero(np.isclose(self.iou_thrs, iou))[0]
            if len(t_sel) != 1:
                raise InputError(f'IoU threshold {iou} is not one of {self.iou_thrs.tolist()}')
        precision, _ = self.accumulate(image_ids, [area])
        p = precision[t_sel, :, :, 0, 0]
        p = p[p > -1]
        return float(np.mean(p) * 100) if p.size else float('nan')


def _curves(mbits: np.ndarray, ibits: np.ndarray, n_thr: int, npig: int,
            rec_thrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``COCOeval.accumulate`` for score-sorted detections: (T, R) precision at the recall
    thresholds and (T,) final recall, from match / ignore bit masks (bit t: IoU threshold t)."""
    q = np.zeros((n_thr, len(rec_thrs)))
    rc_last = np.zeros(n_thr)
    nd = len(mbits)
    if nd == 0:
        return q, rc_last
    for t in range(n_thr):  # one threshold at a time keeps the arrays in cache
        m = (mbits >> t) & 1 == 1
        ig = (ibits >> t) & 1 == 1
        tp = np.cumsum(m & ~ig, dtype=np.int32).astype(float)
        fp = np.cumsum(~m & ~ig, dtype=np.int32).astype(float)
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]
        pos = np.searchsorted(rc, rec_thrs, side='left')
        ok = pos < nd
        q[t, ok] = pr[pos[ok]]
        rc_last[t] = rc[-1]
    return q, rc_last


def _ranks(counts: np.ndarray) -> np.ndarray:
    starts = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(starts, counts)


def records_arrays(result: MatchResult, image_ids, category_ids, area_names, area_ranges,
                   iou_thrs, rec_thrs, max_det: int) -> dict[str, np.ndarray]:
    """The arrays of a records file, from a ``match`` result."""
    return {
        'format_version': np.int64(FORMAT_VERSION),
        'image_ids': np.asarray(sorted(set(int(i) for i in image_ids)), np.int64),
        'category_ids': np.asarray(sorted(set(int(c) for c in category_ids)), np.int64),
        'area_names': np.asarray(list(area_names), dtype=str),
        'area_ranges': np.asarray(area_ranges, np.float64),
        'iou_thrs': np.asarray(iou_thrs, np.float64),
        'rec_thrs': np.asarray(rec_thrs, np.float64),
        'max_det': np.int64(max_det),
        'unit_image': result.unit_image.astype(np.int64),
        'unit_category': result.unit_category.astype(np.int64),
        'unit_npig': result.unit_npig.astype(np.int32),
        'det_unit': result.det_unit.astype(np.int64),
        'det_score': result.det_score.astype(np.float64),
        'det_matched': result.det_matched,
        'det_ignored': result.det_ignored,
    }


def save_records(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write records atomically as a compressed ``.npz`` of flat arrays.

    Args:
        path: output file (``records.npz``).
        arrays: as ``records_arrays`` returns: image_ids, category_ids, area_names, area_ranges,
            iou_thrs, rec_thrs, max_det; per (image, category) unit: unit_image, unit_category,
            unit_npig (U, A); per detection, sorted by unit then score: det_unit, det_score,
            det_matched and det_ignored ((N, A) uint16, bit t for IoU threshold t).
    """
    with atomic_open(path, 'wb') as f:
        np.savez_compressed(f, **arrays)


def load_records(path: str | os.PathLike) -> PerImageRecords:
    """Read a records file written by ``save_records``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError('records file not found', path=path) from None
    except (OSError, ValueError) as err:
        raise InputError(f'not a records .npz file: {err}', path=path) from None
    if int(arrays.get('format_version', -1)) != FORMAT_VERSION:
        raise InputError(f'records format version {arrays.get("format_version")}, '
                         f'expected {FORMAT_VERSION}', path=path)
    return PerImageRecords(arrays)
