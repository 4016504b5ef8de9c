"""COCO's per-image matching (``COCOeval.evaluateImg``, pycocotools 2.0), vectorised with numpy
in time linear in the number of boxes, detections and overlapping pairs.

``match`` reproduces ``evaluateImg`` bit for bit for boxes: IoU as ``maskApi.c bbIou`` computes
it (crowd boxes: intersection over detection area), detections sorted by score with a stable sort
and cut to ``max_det`` per (image, category) unit, ground truth sorted with ignored boxes last,
and greedy matching per IoU threshold in which a detection takes the best still-free box (crowd
boxes never become taken), prefers non-ignored boxes, and on equal IoU takes the later box.
Unmatched detections outside the area range are ignored.

How, without a loop over detections:

1. Candidate pairs. Only pairs with IoU >= the lowest threshold can ever match. Boxes are sorted
   by (unit, floor(x)); each detection looks up, by binary search, the boxes of its unit whose x
   lies in [x_d - widest box of the unit - 1, x_d + w_d + 1] (a superset of every box that
   overlaps it), and the exact IoU is computed for those pairs only, in bounded batches.
2. Greedy matching in rounds, for all detections, thresholds and area ranges at once. In a
   round, each undecided detection finds its preferred eligible box (not taken or crowd, IoU >=
   threshold; non-ignored first, then highest IoU, then the later box). Its choice is final if no
   earlier (higher-ranked) undecided detection of its unit could still take that box: the boxes it
   prefers are already taken for good, and no earlier detection can take its choice. The first
   undecided detection of each unit is always final, so every round decides at least one per
   unit; on the benchmark's sets two rounds decide all, on the parity tests' clusters of
   overlapping boxes three. A detection with a single candidate box that no other detection can
   take (most of them) is decided before the rounds.

``records.PerImageRecords.accumulate`` does ``COCOeval.accumulate`` on the result.
"""
from __future__ import annotations

import dataclasses

import numpy as np

#: candidate (detection, box) pairs whose IoU is computed in one batch (bounds the memory).
PAIR_BATCH = 2_000_000
#: coordinates are floored into this range for the sort key of the candidate search; boxes
#: beyond it are clipped to its ends, which only widens the search.
_COORD_LIMIT = 2 ** 30


@dataclasses.dataclass
class Boxes:
    """Flat arrays of boxes in their file order.

    Args:
        image: image id of each box.
        category: category id of each box.
        xywh: (N, 4) float64 boxes.
        area: area used for the area ranges (ground truth: the ``area`` field; detections: w*h).
        score: detection scores (None for ground truth).
        crowd: crowd / ignore flags (ground truth only).
    """

    image: np.ndarray
    category: np.ndarray
    xywh: np.ndarray
    area: np.ndarray
    score: np.ndarray | None = None
    crowd: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image)

    def take(self, idx: np.ndarray) -> 'Boxes':
        pick = (lambda a: None if a is None else a[idx])
        return Boxes(self.image[idx], self.category[idx], self.xywh[idx], self.area[idx],
                     pick(self.score), pick(self.crowd))


def box_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of (..., D, 4) detections with (..., G, 4) boxes in xywh, as pycocotools computes it
    (``maskApi.c bbIou``, the same float64 operations in the same order)."""
    return pair_iou(dt[..., :, None, :], gt[..., None, :, :], crowd[..., None, :])


def pair_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of detections and boxes (xywh) that broadcast against each other (last axis: 4),
    with ``bbIou``'s float64 operations in its order: w = min(x_d + w_d, x_g + w_g) -
    max(x_d, x_g), the same for h, 0 unless both are > 0, union = (a_d + a_g) - w*h, or a_d
    when the box is crowd."""
    dx, dy, dw, dh = (dt[..., k] for k in range(4))
    gx, gy, gw, gh = (gt[..., k] for k in range(4))
    w = np.minimum(dw + dx, gw + gx)
    w -= np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy)
    h -= np.maximum(dy, gy)
    valid = (w > 0) & (h > 0)
    inter = np.multiply(w, h, out=w)
    da = dw * dh
    union = np.add(da, gw * gh, out=h)
    union -= inter
    crowd = np.broadcast_to(crowd, union.shape)
    if crowd.any():
        np.copyto(union, np.broadcast_to(da, union.shape), where=crowd)
    with np.errstate(divide='ignore', invalid='ignore'):
        out = np.divide(inter, union, out=inter)
    out[~valid] = 0.0
    return out


@dataclasses.dataclass
class MatchResult:
    """Output of ``match``: units are (image, category) pairs with boxes or detections.

    Attributes:
        unit_image, unit_category: ids of each unit, sorted by image then category.
        unit_npig: (U, A) number of non-ignored boxes per unit and area range.
        det_unit: (N,) unit of each kept detection; detections sorted by unit, then score.
        det_score: (N,) scores.
        det_matched: (N, A) uint16 bit masks, bit t set if matched at IoU threshold t.
        det_ignored: (N, A) uint16 bit masks, bit t set if ignored at threshold t.
    """

    unit_image: np.ndarray
    unit_category: np.ndarray
    unit_npig: np.ndarray
    det_unit: np.ndarray
    det_score: np.ndarray
    det_matched: np.ndarray
    det_ignored: np.ndarray


def segment_ranks(counts: np.ndarray) -> np.ndarray:
    """For each element of the concatenation of ranges of these lengths, its rank in its range."""
    counts = np.asarray(counts, np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)


def sort_by_key_then_score(key: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The permutation that sorts by ``key`` (non-negative integers), then by descending score,
    equal pairs in their given order: ``np.lexsort((-score, key))``, computed as a stable sort
    of one integer (key, rank of -score), which is several times faster."""
    if len(key) == 0:
        return np.zeros(0, np.int64)
    _, srank = np.unique(-score, return_inverse=True)
    n_rank = int(srank.max()) + 1
    if (int(key.max()) + 1) * n_rank >= 2 ** 62:
        return np.lexsort((-score, key))
    return np.argsort(key.astype(np.int64) * n_rank + srank.reshape(-1), kind='stable')


def runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of the runs of equal values of a sorted array (``np.unique``'s
    ``return_index`` and ``return_counts`` without its sort)."""
    n = len(sorted_values)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    start = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    return start, np.diff(np.r_[start, n])


def _floor_key(v: np.ndarray) -> np.ndarray:
    """floor(v) clipped to +-2^30, shifted to [0, 2^31]: monotone, so a range test on it is a
    superset of the same test on v."""
    v = np.floor(v)
    if len(v) and (v.min() < -_COORD_LIMIT or v.max() > _COORD_LIMIT):
        v = np.clip(v, -_COORD_LIMIT, _COORD_LIMIT)
    return v.astype(np.int64) + _COORD_LIMIT


def candidate_pairs(gbox: np.ndarray, gunit: np.ndarray, gcrowd: np.ndarray,
                    dbox: np.ndarray, dunit: np.ndarray, n_units: int, min_iou: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (detection, box) pair of the same unit with IoU >= ``min_iou``.

    Args:
        gbox, gunit, gcrowd: boxes (xywh), their unit index (non-decreasing) and crowd flags.
        dbox, dunit: detections (xywh) and their unit index (non-decreasing).
        n_units: number of units.
        min_iou: the lowest IoU threshold (> 0).

    Returns:
        (det index, box index, IoU) of the pairs, sorted by detection, then box x.
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(gbox) == 0 or len(dbox) == 0:
        return empty
    gkey = (gunit << 32) + _floor_key(gbox[:, 0])
    gsort = np.argsort(gkey, kind='stable')
    gkey = gkey[gsort]
    # the widest box of each unit bounds how far left of a detection an overlapping box starts
    ustart, _ = runs(gunit)
    wmax = np.zeros(n_units)
    wmax[gunit[ustart]] = np.maximum.reduceat(gbox[:, 2], ustart)
    dx, dw = dbox[:, 0], dbox[:, 2]
    dkey = dunit << 32
    lo = np.searchsorted(gkey, dkey + _floor_key(dx - wmax[dunit] - 1.0), 'left')
    hi = np.searchsorted(gkey, dkey + _floor_key(dx + dw + 1.0), 'right')
    count = hi - lo
    ends = np.cumsum(count)
    out_d, out_g, out_iou = [], [], []
    d0 = 0
    while d0 < len(dbox):  # batches of detections with at most PAIR_BATCH pairs (one at least)
        base = ends[d0 - 1] if d0 else 0
        d1 = max(int(np.searchsorted(ends, base + PAIR_BATCH, 'right')), d0 + 1)
        c = count[d0:d1]
        d_idx = np.repeat(np.arange(d0, d1), c)
        g_idx = gsort[np.repeat(lo[d0:d1], c) + segment_ranks(c)]
        iou = pair_iou(dbox[d_idx], gbox[g_idx], gcrowd[g_idx])
        keep = iou >= min_iou
        out_d.append(d_idx[keep])
        out_g.append(g_idx[keep])
        out_iou.append(iou[keep])
        d0 = d1
    return np.concatenate(out_d), np.concatenate(out_g), np.concatenate(out_iou)


def greedy_match(pd: np.ndarray, pg: np.ndarray, piou: np.ndarray, gcrowd: np.ndarray,
                 gt_ig: np.ndarray, iou_thrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``evaluateImg``'s greedy assignment on candidate pairs, for every threshold and area.

    Args:
        pd: (P,) detection index of each pair, non-decreasing; a lower index is an earlier
            (higher-scoring) detection of the same unit, and pairs only join the same unit.
        pg: (P,) box index; within a unit a higher index is a later box in file order.
        piou: (P,) IoU, >= min(iou_thrs).
        gcrowd: (G,) crowd flags of the boxes.
        gt_ig: (G, A) ignored flags of the boxes per area range.
        iou_thrs: (T,) thresholds.

    Returns:
        det: (D,) the detections that have pairs; box: (D, A, T) the box each matches, -1 if none.
    """
    T, A = len(iou_thrs), gt_ig.shape[1]
    dstart, dlen = runs(pd)  # pd is sorted
    det = pd[dstart]
    box = np.full((len(det), A, T), -1, np.int64)
    if len(pd) == 0:
        return det, box
    # a detection with one candidate box that no other detection can take: matched wherever
    # the IoU reaches the threshold, in every area range (the usual case on sparse sets)
    alone = np.repeat(dlen == 1, dlen) & (np.bincount(pg)[pg] == 1)
    if alone.any():
        d_alone = np.searchsorted(det, pd[alone])
        box[d_alone] = np.where(piou[alone, None] >= iou_thrs[None, :], pg[alone, None],
                                -1)[:, None, :]
        rest = ~alone
        sub_det, sub_box = greedy_match(pd[rest], pg[rest], piou[rest], gcrowd, gt_ig, iou_thrs)
        box[np.searchsorted(det, sub_det)] = sub_box
        return det, box
    pdc = np.repeat(np.arange(len(det)), dlen)
    gbox_ids, pgc = np.unique(pg, return_inverse=True)
    crowd = gcrowd[gbox_ids][pgc]  # (P,)
    elig_iou = piou[:, None] >= iou_thrs[None, :]  # (P, T)
    by_g = np.lexsort((pdc, pgc))  # pairs grouped by box, earliest detection first
    gstart, _ = runs(pgc[by_g])
    d_by_g = pdc[by_g][:, None]
    big = np.int64(len(det))
    for a in range(A):
        tier = ~gt_ig[gbox_ids, a][pgc]
        # preference within a detection, ascending: ignored boxes first, then IoU, then index
        pref = np.lexsort((pgc, piou, tier, pdc))
        taken = np.zeros((len(gbox_ids), T), bool)
        done = np.zeros((len(det), T), bool)
        pos = np.arange(len(pd))[:, None]
        while True:
            elig = elig_iou & ~done[pdc] & (~taken[pgc] | crowd[:, None])  # (P, T)
            best = np.maximum.reduceat(np.where(elig[pref], pos, -1), dstart, axis=0)  # (D, T)
            has = best >= 0
            pair = pref[np.maximum(best, 0)]  # (D, T) pair chosen by each detection
            first = np.minimum.reduceat(np.where(elig[by_g], d_by_g, big), gstart, axis=0)
            g = pgc[pair]
            final = ~done & (~has | crowd[pair]
                             | (first[g, np.arange(T)[None, :]] == np.arange(len(det))[:, None]))
            hit = final & has
            box[:, a, :] = np.where(hit, gbox_ids[g], box[:, a, :])
            ti = np.nonzero(hit & ~crowd[pair])
            taken[g[ti], ti[1]] = True
            done |= final
            if done.all():
                break
    return det, box


def match(gt: Boxes, dt: Boxes, image_ids, category_ids, iou_thrs: np.ndarray,
          area_ranges: np.ndarray, max_det: int) -> MatchResult:
    """COCO matching of every (image, category) unit, for every area range and IoU threshold."""
    image_ids = np.unique(np.asarray(list(image_ids), np.int64))
    category_ids = np.unique(np.asarray(list(category_ids), np.int64))
    iou_thrs = np.asarray(iou_thrs, np.float64)
    area_ranges = np.asarray(area_ranges, np.float64).reshape(-1, 2)
    n_cat, T, A = len(category_ids), len(iou_thrs), len(area_ranges)
    gsel = np.isin(gt.image, image_ids) & np.isin(gt.category, category_ids)
    dsel = np.isin(dt.image, image_ids) & np.isin(dt.category, category_ids)
    gidx = np.arange(len(gt)) if gsel.all() else np.flatnonzero(gsel)
    didx = np.arange(len(dt)) if dsel.all() else np.flatnonzero(dsel)
    gkey = (np.searchsorted(image_ids, gt.image[gidx]) * n_cat
            + np.searchsorted(category_ids, gt.category[gidx]))
    dkey = (np.searchsorted(image_ids, dt.image[didx]) * n_cat
            + np.searchsorted(category_ids, dt.category[didx]))
    gorder = np.argsort(gkey, kind='stable')  # file order within a unit
    gt, gkey = gt.take(gidx[gorder]), gkey[gorder]
    dorder = sort_by_key_then_score(dkey, dt.score[didx])
    dkey = dkey[dorder]
    keep = segment_ranks(runs(dkey)[1]) < max_det
    if not keep.all():
        dorder, dkey = dorder[keep], dkey[keep]
    dt = dt.take(didx[dorder])
    units = np.union1d(gkey[runs(gkey)[0]], dkey[runs(dkey)[0]])
    gunit = np.searchsorted(units, gkey)
    dunit = np.searchsorted(units, dkey)
    lo, hi = area_ranges[:, 0], area_ranges[:, 1]
    gt_ig = gt.crowd[:, None] | (gt.area[:, None] < lo) | (gt.area[:, None] > hi)  # (G, A)
    dt_out = (dt.area[:, None] < lo) | (dt.area[:, None] > hi)  # (D, A)
    unit_npig = np.zeros((len(units), A), np.int64)
    for a in range(A):
        unit_npig[:, a] = np.bincount(gunit[~gt_ig[:, a]], minlength=len(units))

    pd, pg, piou = candidate_pairs(gt.xywh, gunit, gt.crowd, dt.xywh, dunit, len(units),
                                   float(iou_thrs.min()))
    det, box = greedy_match(pd, pg, piou, gt.crowd, gt_ig, iou_thrs)
    bits = (np.uint16(1) << np.arange(T, dtype=np.uint16)).astype(np.uint16)
    all_bits = np.uint16(bits.sum())
    det_matched = np.zeros((len(dt), A), np.uint16)
    det_ignored = np.where(dt_out, all_bits, np.uint16(0)).astype(np.uint16)
    if len(det):
        hit = box >= 0  # (D', A, T)
        m_bits = (hit * bits).sum(-1).astype(np.uint16)
        ig_of_match = gt_ig[np.maximum(box, 0), np.arange(A)[None, :, None]]  # (D', A, T)
        i_bits = ((hit & ig_of_match) * bits).sum(-1).astype(np.uint16)
        det_matched[det] = m_bits
        # unmatched at threshold t: ignored iff outside the area range
        det_ignored[det] = i_bits | (det_ignored[det] & ~m_bits)
    return MatchResult(unit_image=image_ids[units // n_cat],
                       unit_category=category_ids[units % n_cat],
                       unit_npig=unit_npig, det_unit=dunit,
                       det_score=dt.score, det_matched=det_matched, det_ignored=det_ignored)
