"""COCO's per-image matching and accumulation, vectorised with numpy, for per-image records.

``match`` reproduces ``COCOeval.evaluateImg`` (pycocotools 2.0) bit for bit for boxes: IoU as
``maskApi.c bbIou`` computes it (crowd boxes: intersection over detection area), detections
sorted by score with a stable sort and cut to ``max_det`` per (image, category), ground truth
sorted with ignored boxes last, and greedy matching per IoU threshold in which a detection takes
the best still-free box (crowd boxes never become taken), prefers non-ignored boxes, and on equal
IoU takes the later box. Unmatched detections outside the area range are ignored.

Instead of looping over every detection in Python it loops over the *candidate rank*: only
detections with IoU >= the lowest threshold against some box can match, and step ``c`` handles
the ``c``-th candidate of every (image, category) unit of a chunk at once.
``records.PerImageRecords.accumulate`` does ``COCOeval.accumulate`` on the result.
"""
from __future__ import annotations

import dataclasses

import numpy as np

#: padded (units x detections x boxes) IoU elements per chunk.
CHUNK_ELEMENTS = 4_000_000


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
    dx, dy, dw, dh = (dt[..., :, None, k] for k in range(4))
    gx, gy, gw, gh = (gt[..., None, :, k] for k in range(4))
    w = np.minimum(dw + dx, gw + gx)
    w -= np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy)
    h -= np.maximum(dy, gy)
    valid = (w > 0) & (h > 0)
    inter = np.multiply(w, h, out=w)
    da = dw * dh
    union = np.add(da, gw * gh, out=h)  # (da + ga) - inter, as bbIou
    union -= inter
    if crowd.any():
        np.copyto(union, np.broadcast_to(da, union.shape), where=np.broadcast_to(
            crowd[..., None, :], union.shape))
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


def _ranges(counts: np.ndarray) -> np.ndarray:
    """For each element of the concatenation of ranges of these lengths, its rank in its range."""
    starts = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(starts, counts)


def _pad(values: np.ndarray, unit: np.ndarray, rank: np.ndarray, units: np.ndarray,
         width: int, fill) -> np.ndarray:
    out = np.full((len(units), width) + values.shape[1:], fill, dtype=values.dtype)
    pos = np.searchsorted(units, unit)
    out[pos, rank] = values
    return out


def match(gt: Boxes, dt: Boxes, image_ids, category_ids, iou_thrs: np.ndarray,
          area_ranges: np.ndarray, max_det: int) -> MatchResult:
    """COCO matching of every (image, category) unit, for every area range and IoU threshold."""
    image_ids = np.asarray(sorted(set(int(i) for i in image_ids)), np.int64)
    category_ids = np.asarray(sorted(set(int(c) for c in category_ids)), np.int64)
    n_cat, T, A = len(category_ids), len(iou_thrs), len(area_ranges)
    gt = gt.take(np.nonzero(np.isin(gt.image, image_ids) & np.isin(gt.category, category_ids))[0])
    dt = dt.take(np.nonzero(np.isin(dt.image, image_ids) & np.isin(dt.category, category_ids))[0])
    gkey = np.searchsorted(image_ids, gt.image) * n_cat + np.searchsorted(category_ids, gt.category)
    dkey = np.searchsorted(image_ids, dt.image) * n_cat + np.searchsorted(category_ids, dt.category)
    gorder = np.argsort(gkey, kind='stable')
    gt, gkey = gt.take(gorder), gkey[gorder]
    dorder = np.lexsort((-dt.score, dkey))  # stable: equal scores keep the file order
    dt, dkey = dt.take(dorder), dkey[dorder]
    _, dcount = np.unique(dkey, return_counts=True)
    drank = _ranges(dcount)
    keep = drank < max_det
    dt, dkey, drank = dt.take(np.nonzero(keep)[0]), dkey[keep], drank[keep]
    units = np.union1d(gkey, dkey)
    ukeys_g, gcount_u = np.unique(gkey, return_counts=True)
    grank = _ranges(gcount_u)
    gcount = np.zeros(len(units), np.int64)
    gcount[np.searchsorted(units, ukeys_g)] = gcount_u
    ukeys_d, dcount_u = np.unique(dkey, return_counts=True)
    dcount = np.zeros(len(units), np.int64)
    dcount[np.searchsorted(units, ukeys_d)] = dcount_u

    gt_ig = np.stack([gt.crowd | (gt.area < lo) | (gt.area > hi) for lo, hi in area_ranges], 1)
    dt_out = np.stack([(dt.area < lo) | (dt.area > hi) for lo, hi in area_ranges], 1)
    unit_npig = np.zeros((len(units), A), np.int64)
    np.add.at(unit_npig, np.searchsorted(units, gkey), (~gt_ig).astype(np.int64))
    bits = (1 << np.arange(T)).astype(np.uint16)
    all_bits = np.uint16(bits.sum())
    det_matched = np.zeros((len(dt), A), np.uint16)
    det_ignored = np.where(dt_out, all_bits, np.uint16(0)).astype(np.uint16)
    dstart = np.searchsorted(dkey, units)

    # chunks of units with both boxes and detections, similar sizes together
    work = np.nonzero((gcount > 0) & (dcount > 0))[0]
    work = work[np.lexsort((gcount[work], dcount[work]))]
    i = 0
    while i < len(work):
        j = i + 1
        while (j < len(work) and (j + 1 - i) * dcount[work[j]] * max(gcount[work[i:j + 1]])
               <= CHUNK_ELEMENTS):
            j += 1
        _match_chunk(work[i:j], units, gt, gkey, grank, gt_ig, dt, dkey, drank, dstart,
                     iou_thrs, bits, det_matched, det_ignored, dt_out)
        i = j
    return MatchResult(unit_image=image_ids[units // n_cat],
                       unit_category=category_ids[units % n_cat],
                       unit_npig=unit_npig, det_unit=np.searchsorted(units, dkey),
                       det_score=dt.score, det_matched=det_matched, det_ignored=det_ignored)


def _match_chunk(chunk, units, gt, gkey, grank, gt_ig, dt, dkey, drank, dstart, iou_thrs, bits,
                 det_matched, det_ignored, dt_out) -> None:
    chunk = np.sort(chunk)
    ukeys = units[chunk]
    gsel = np.nonzero(np.isin(gkey, ukeys))[0]
    dsel = np.nonzero(np.isin(dkey, ukeys))[0]
    Gm = int(grank[gsel].max()) + 1
    Dm = int(drank[dsel].max()) + 1
    gbox = _pad(gt.xywh[gsel], gkey[gsel], grank[gsel], ukeys, Gm, 0.0)
    gvalid = _pad(np.ones(len(gsel), bool), gkey[gsel], grank[gsel], ukeys, Gm, False)
    gcrowd = _pad(gt.crowd[gsel], gkey[gsel], grank[gsel], ukeys, Gm, False)
    gig = _pad(gt_ig[gsel], gkey[gsel], grank[gsel], ukeys, Gm, True)  # (U, Gm, A)
    dbox = _pad(dt.xywh[dsel], dkey[dsel], drank[dsel], ukeys, Dm, 0.0)
    dvalid = _pad(np.ones(len(dsel), bool), dkey[dsel], drank[dsel], ukeys, Dm, False)
    iou = box_iou(dbox, gbox, gcrowd)
    iou[~np.broadcast_to(gvalid[:, None, :], iou.shape)] = -1.0
    cand = (iou >= iou_thrs.min()).any(-1) & dvalid  # (U, Dm)
    n_cand = cand.sum(1)
    Cm = int(n_cand.max()) if len(n_cand) else 0
    if Cm == 0:
        return
    # positions of candidates, in score order, left-aligned
    order = np.argsort(~cand, axis=1, kind='stable')[:, :Cm]
    cvalid = np.arange(Cm)[None, :] < n_cand[:, None]
    ciou = np.take_along_axis(iou, order[:, :, None], axis=1)  # (U, Cm, Gm)
    thr = iou_thrs[None, :, None]
    U, T = len(ukeys), len(iou_thrs)
    flat_det = dstart[chunk][:, None] + order  # index into dt of each candidate
    for a in range(gig.shape[2]):
        ig = gig[:, :, a]  # (U, Gm)
        taken = np.zeros((U, T, Gm), bool)
        for c in range(Cm):
            row = ciou[:, c, None, :]  # (U, 1, Gm)
            elig = (row >= thr) & (~taken | gcrowd[:, None, :]) & cvalid[:, c, None, None]
            choice = np.full((U, T), -1)
            for tier in (~ig, ig):  # non-ignored boxes first, ignored ones only if none
                vals = np.where(elig & tier[:, None, :], row, -np.inf)
                last = Gm - 1 - np.argmax(vals[:, :, ::-1], axis=2)
                found = (np.max(vals, axis=2) > -np.inf) & (choice < 0)
                choice = np.where(found, last, choice)
            hit = choice >= 0
            ui, ti = np.nonzero(hit)
            taken[ui, ti, choice[ui, ti]] = True
            m_bits = (hit * bits[None, :]).sum(1).astype(np.uint16)
            i_bits = ((hit & np.take_along_axis(ig, np.maximum(choice, 0), axis=1))
                      * bits[None, :]).sum(1).astype(np.uint16)
            sel = cvalid[:, c]
            idx = flat_det[sel, c]
            det_matched[idx, a] = m_bits[sel]
            # unmatched at threshold t: ignored iff outside the area range
            out_bits = np.where(dt_out[idx, a], bits.sum(), 0).astype(np.uint16)
            det_ignored[idx, a] = i_bits[sel] | (out_bits & ~m_bits[sel])
