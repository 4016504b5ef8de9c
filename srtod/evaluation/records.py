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
from srtod.evaluation.matching import MatchResult, segment_ranks
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
        _, rank = np.unique(-arrays['det_score'], return_inverse=True)
        self._score_rank = rank.reshape(-1).astype(np.int64)
        self._n_rank = int(rank.max()) + 1 if len(rank) else 1

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

        Every category at once: the detections of the sampled images are concatenated per
        category in sample order (an image drawn twice counts twice) and sorted by score with a
        stable sort, as ``COCOeval.accumulate`` concatenates and sorts them.

        Args:
            image_ids: image ids, repeats allowed; None: every image once.
            areas: area range names (default: all of them, in the records' order).
            max_dets: detections per image and category, ascending (default: the records'
                ``max_det``). Precision curves are computed for the last one only (the others'
                are NaN; the AI-TOD summary reads AR there, AP at the largest).
        """
        rows = self._rows(image_ids)
        a_idx = [self._area(a) for a in (areas or self.area_names)]
        max_dets = [int(self._a['max_det'])] if max_dets is None else [int(m) for m in max_dets]
        T, R, K = len(self.iou_thrs), len(self.rec_thrs), len(self.category_ids)
        A, M = len(a_idx), len(max_dets)
        precision = np.full((T, R, K, A, M), np.nan)
        recall = -np.ones((T, K, A, M))
        if K == 0:
            return precision, recall
        arr = self._a
        # units of the sample, category-major, in sample order within a category
        units = self._unit_of[rows].T.ravel()
        ucat = np.repeat(np.arange(K), len(rows))
        present = units >= 0
        units, ucat = units[present], ucat[present]
        counts = self._det_count[units]
        rank = segment_ranks(counts)
        det = np.repeat(self._det_start[units], counts) + rank
        dcat = np.repeat(ucat, counts)
        # stable, as mergesort on -score: one integer (category, rank of -score); the runs of
        # one unit are already sorted, which the stable sort exploits
        order = np.argsort(dcat * self._n_rank + self._score_rank[det], kind='stable')
        det, dcat, rank = det[order], dcat[order], rank[order]
        npig_all = arr['unit_npig'][units]
        for ai, a in enumerate(a_idx):
            npig = np.bincount(ucat, weights=npig_all[:, a], minlength=K).astype(np.int64)
            ok = npig > 0  # COCOeval leaves -1 where a category has no non-ignored box
            precision[:, :, ~ok, ai, :] = -1
            mbits = arr['det_matched'][det, a]
            ibits = arr['det_ignored'][det, a]
            for mi, m in enumerate(max_dets):
                keep = rank < m
                if mi == M - 1:
                    p, r = _curves(mbits[keep], ibits[keep], dcat[keep], npig, T, self.rec_thrs)
                    precision[:, :, ok, ai, mi] = p[:, :, ok]
                    recall[:, ok, ai, mi] = r[:, ok]
                else:  # recall only: true positives over non-ignored boxes
                    tp = mbits[keep] & ~ibits[keep]
                    nz = np.flatnonzero(tp)
                    for t in range(T):
                        hit = (tp[nz] >> t) & 1 == 1
                        n_tp = np.bincount(dcat[keep][nz[hit]], minlength=K)
                        recall[t, ok, ai, mi] = n_tp[ok] / npig[ok]
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


def _segment_cumsum(values: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of ``values`` restarting where ``seg`` (non-decreasing) changes."""
    cs = np.cumsum(values, dtype=np.int64)
    if len(cs) == 0:
        return cs
    first = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    before = np.r_[0, cs][first]
    return cs - np.repeat(before, np.diff(np.r_[first, len(cs)]))


def _curves(mbits: np.ndarray, ibits: np.ndarray, cat: np.ndarray, npig: np.ndarray, n_thr: int,
            rec_thrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``COCOeval.accumulate`` for score-sorted detections of every category at once.

    Args:
        mbits, ibits: match / ignore bit masks (bit t: IoU threshold t), sorted by category
            (``cat``, non-decreasing), then by score.
        cat: category index of each detection.
        npig: (K,) non-ignored boxes per category.
        n_thr: number of thresholds.
        rec_thrs: recall thresholds.

    Returns:
        (T, R, K) precision at the recall thresholds and (T, K) final recall; values for
        categories with ``npig == 0`` are meaningless (COCOeval leaves -1 there).

    Exactly COCOeval's numbers, with work per threshold proportional to the detections whose
    status depends on it. Detections ignored at every threshold change no count and are dropped
    (precision and recall are read where the recall first reaches a threshold, which is at a
    true positive). Precision is tp / (fp + tp + eps) with the same float operations; its
    running maximum from the end, read at the first position where recall >= r, equals the
    largest precision at a true positive from the k-th on, k the smallest count with
    k / npig >= r (precision only falls between true positives).
    """
    K, R = len(npig), len(rec_thrs)
    all_bits = (1 << n_thr) - 1
    q = np.zeros((n_thr, R, K))
    rc_last = np.zeros((n_thr, K))
    keep = ~((mbits == 0) & (ibits == all_bits))
    mbits, ibits, cat = mbits[keep], ibits[keep], cat[keep]
    # false positives at every threshold: counted by one cumulative sum
    const_fp = (mbits == 0) & (ibits == 0)
    fp_const = _segment_cumsum(const_fp, cat)
    mixed = np.flatnonzero(~const_fp)
    mb, ib, mcat, mfp = mbits[mixed], ibits[mixed], cat[mixed], fp_const[mixed]
    npig_f = np.maximum(npig, 1)
    # smallest k >= 1 with k / npig >= r, per category and recall threshold (exact in floats)
    k_r = np.maximum(np.ceil(rec_thrs[None, :] * npig_f[:, None]), 1).astype(np.int64)
    while True:
        down = (k_r > 1) & ((k_r - 1) / npig_f[:, None] >= rec_thrs[None, :])
        if not down.any():
            break
        k_r -= down
    while True:
        up = k_r / npig_f[:, None] < rec_thrs[None, :]
        if not up.any():
            break
        k_r += up
    for t in range(n_thr):
        m = (mb >> t) & 1 == 1
        ig = (ib >> t) & 1 == 1
        tp = m & ~ig
        fp_count = mfp + _segment_cumsum(~m & ~ig, mcat)
        tp_count = _segment_cumsum(tp, mcat)
        at = np.flatnonzero(tp)
        tp_f = tp_count[at].astype(float)
        pr = tp_f / (fp_count[at].astype(float) + tp_f + np.spacing(1))
        n_tp = np.bincount(mcat[at], minlength=K)
        rc_last[t] = n_tp / npig_f
        # largest precision from the k-th true positive of each category on
        off = np.cumsum(n_tp) - n_tp
        idx = off[:, None] + np.minimum(k_r - 1, n_tp[:, None])  # (K, R), non-decreasing
        flat = idx.ravel()
        padded = np.r_[pr, -np.inf]
        block = np.maximum.reduceat(padded, flat)
        block[flat == np.r_[flat[1:], len(pr)]] = -np.inf  # empty blocks
        best = np.maximum.accumulate(block.reshape(K, R)[:, ::-1], axis=1)[:, ::-1]
        q[t] = np.where(k_r <= n_tp[:, None], best, 0.0).T
    return q, rc_last


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
