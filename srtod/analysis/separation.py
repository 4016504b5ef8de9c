"""The paper's core claim, measured: does the difference map D single out tiny objects?

The paper shows it with pictures (Fig. 1, 3, supplement Fig. 1) and says D is "strongly
correlated" with tiny objects. Here that is a number per size bucket, pooled over test images:

- ``auc``: ROC AUC of D's pixel values inside ground-truth boxes of that bucket (positives)
  against D's values outside every ground-truth box (negatives). It is the Mann-Whitney
  statistic, exact, ties counted one half: P(D_pos > D_neg) + 0.5 P(D_pos = D_neg). 0.5 is a
  map that knows nothing about objects, 1.0 a map where every object pixel outranks every
  background pixel.
- ``hit_rate``: the share of objects whose box holds at least one pixel with D > t, t the
  model's threshold (the pixels the DGFE filtration turns on; sign(D - t) = 1).
- ``background_above_threshold``: the share of background pixels with D > t.

Conventions. D is taken at the network input's resolution (after the test pipeline's resize),
on the image part of the padded batch only; boxes are scaled into that frame. A pixel belongs
to a box when it overlaps it (so a sub-pixel object still owns one pixel). Buckets use the box
area in original-image pixels, half-open: very tiny [0, 8^2), tiny [8^2, 16^2), small
[16^2, 32^2), medium [32^2, inf) (AI-TOD's ranges; pycocotools closes both ends, here each
object falls in exactly one bucket). Ignored and crowd boxes are neither object nor background.
Background pixels are all kept up to 200,000 per image; a larger image contributes a uniform
random sample of that size (fixed seed), and the AUC is exact on that sample.

A reference puts the AUC in context: an untrained, flat reconstruction already gives
D = |I_o - const|, which separates bright objects on a dark sky. The figures command therefore
also measures two maps that need no learning: ``constant`` (mean_c |I_o - mean colour of the
image|, the difference map of a reconstruction that learned only the average) and
``local_contrast`` (mean_c |I_o - 9x9 box mean of I_o|, a hand-made detector of anything small).
D carries information of its own only where its AUC exceeds theirs.
"""
from __future__ import annotations

import json
import math

import numpy as np

from srtod.analysis.format import fmt
from srtod.errors import InputError

BUCKETS = (('very_tiny', 0.0, 8.0 ** 2), ('tiny', 8.0 ** 2, 16.0 ** 2),
           ('small', 16.0 ** 2, 32.0 ** 2), ('medium', 32.0 ** 2, math.inf))
BUCKET_NAMES = tuple(name for name, _, _ in BUCKETS)


def rank_auc(positives, negatives, negatives_sorted: bool = False) -> float:
    """Exact ROC AUC of two samples (Mann-Whitney U / (P N)), ties counted one half.

    Args:
        positives: scores that should rank high (any shape, flattened).
        negatives: scores that should rank low.
        negatives_sorted: ``negatives`` is already a sorted 1-d array (skips the sort).

    Returns:
        The AUC in [0, 1]; NaN when either sample is empty.
    """
    pos, neg = np.asarray(positives).ravel(), np.asarray(negatives).ravel()
    dtype = np.promote_types(pos.dtype, neg.dtype)   # no float64 copy of float32 maps
    pos, neg = pos.astype(dtype, copy=False), neg.astype(dtype, copy=False)
    if not negatives_sorted:
        neg = np.sort(neg)
    if pos.size == 0 or neg.size == 0:
        return math.nan
    below = np.searchsorted(neg, pos, side='left')
    upto = np.searchsorted(neg, pos, side='right')
    wins = below.sum(dtype=np.float64) + 0.5 * (upto - below).sum(dtype=np.float64)
    return float(wins / (pos.size * float(neg.size)))


def box_pixels(boxes, height: int, width: int) -> list[tuple[slice, slice]]:
    """Row and column slices of the pixels each (x1, y1, x2, y2) box overlaps, clipped."""
    out = []
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        c0 = min(max(int(math.floor(x1)), 0), width - 1)
        r0 = min(max(int(math.floor(y1)), 0), height - 1)
        c1 = max(min(int(math.ceil(x2)), width), c0 + 1)
        r1 = max(min(int(math.ceil(y2)), height), r0 + 1)
        out.append((slice(r0, r1), slice(c0, c1)))
    return out


def bucket_of(area: float) -> str:
    """The size bucket of an object of ``area`` original-image pixels."""
    for name, low, high in BUCKETS:
        if low <= area < high:
            return name
    raise InputError(f'object area must be a non-negative number, got {area}')


class SeparationAccumulator:
    """Pools D's values over test images and computes the per-bucket separation.

    Args:
        threshold: the model's threshold t on D (in D's units, [0, 1]); None for a model without
            filtration (then hit rates are not computed).
        max_negatives_per_image: background pixels kept per image; an image with more keeps a
            uniform random sample of this size (generator seeded by the image's position, so
            every accumulator fed the same images samples the same pixels). None keeps all.
    """

    def __init__(self, threshold: float | None, max_negatives_per_image: int | None = 200_000):
        self.threshold = threshold
        self.max_negatives = max_negatives_per_image
        self.images = 0
        self._negatives: list[np.ndarray] = []
        self._positives = {name: [] for name in BUCKET_NAMES}
        self._objects = {name: 0 for name in BUCKET_NAMES}
        self._hits = {name: 0 for name in BUCKET_NAMES}

    def add(self, diff_map, boxes, areas, ignore_boxes=()) -> None:
        """Add one image.

        Args:
            diff_map: D of the image, (H, W), cropped to the image part of the padded batch.
            boxes: (K, 4) ground-truth boxes (x1, y1, x2, y2) in D's pixel frame.
            areas: (K,) the boxes' areas in original-image pixels (they pick the bucket).
            ignore_boxes: (M, 4) boxes (D's frame) excluded from the background.
        """
        d = np.asarray(diff_map, dtype=np.float32)
        if d.ndim != 2:
            raise InputError(f'difference map must be (H, W), got shape {d.shape}')
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        areas = np.asarray(areas, dtype=np.float64).ravel()
        if len(areas) != len(boxes):
            raise InputError(f'expected one area per box, got {len(areas)} for {len(boxes)}')
        h, w = d.shape
        background = np.ones((h, w), dtype=bool)
        masks = {name: np.zeros((h, w), dtype=bool) for name in BUCKET_NAMES}
        t = self.threshold
        for (rows, cols), area in zip(box_pixels(boxes, h, w), areas):
            name = bucket_of(area)
            masks[name][rows, cols] = True
            background[rows, cols] = False
            self._objects[name] += 1
            if t is not None and float(d[rows, cols].max()) > t:
                self._hits[name] += 1
        for rows, cols in box_pixels(ignore_boxes, h, w):
            background[rows, cols] = False
        for name, mask in masks.items():
            if mask.any():
                self._positives[name].append(d[mask])
        negatives = d[background]
        if self.max_negatives is not None and negatives.size > self.max_negatives:
            rng = np.random.default_rng(self.images)
            negatives = negatives[np.sort(rng.choice(negatives.size, self.max_negatives,
                                                     replace=False))]
        self._negatives.append(negatives)
        self.images += 1

    def result(self) -> dict:
        """The separation per bucket and overall (the ``separation.json`` body)."""
        neg = (np.concatenate(self._negatives) if self._negatives
               else np.zeros(0, dtype=np.float32))
        neg_sorted = np.sort(neg)
        t = self.threshold
        out = dict(images=self.images, negative_pixels=int(neg.size), threshold=t,
                   background_above_threshold=(float(np.mean(neg > t)) if t is not None
                                               and neg.size else None),
                   background_mean=float(neg.mean()) if neg.size else None, buckets={})
        all_pos, all_objects, all_hits = [], 0, 0
        for name in BUCKET_NAMES:
            pos = (np.concatenate(self._positives[name]) if self._positives[name]
                   else np.zeros(0, dtype=np.float32))
            all_pos.append(pos)
            objects, hits = self._objects[name], self._hits[name]
            all_objects += objects
            all_hits += hits
            out['buckets'][name] = self._bucket(pos, neg_sorted, objects, hits)
        out['buckets']['all'] = self._bucket(np.concatenate(all_pos), neg_sorted, all_objects,
                                             all_hits)
        return out

    def _bucket(self, pos, neg_sorted, objects: int, hits: int) -> dict:
        return dict(objects=objects, positive_pixels=int(pos.size),
                    auc=rank_auc(pos, neg_sorted, negatives_sorted=True) if objects else None,
                    hit_rate=(hits / objects if objects and self.threshold is not None
                              else None),
                    positive_mean=float(pos.mean()) if pos.size else None)


def reference_maps(image) -> dict:
    """The learning-free reference maps of one image (module docstring).

    Args:
        image: (H, W, 3) RGB in [0, 1], the reconstruction target without padding.

    Returns:
        dict name -> (H, W) float32 map: ``constant`` and ``local_contrast``.
    """
    img = np.asarray(image, dtype=np.float32)
    constant = np.abs(img - img.mean(axis=(0, 1), keepdims=True)).mean(axis=2)
    return dict(constant=constant, local_contrast=np.abs(img - _box_mean(img, 9)).mean(axis=2))


def _box_mean(img: np.ndarray, k: int) -> np.ndarray:
    """Mean over the k x k window around each pixel, windows clipped at the border."""
    r = k // 2
    h, w = img.shape[:2]
    pad = np.pad(img, ((1, 0), (1, 0), (0, 0))).cumsum(0).cumsum(1)
    y0 = np.clip(np.arange(h) - r, 0, h)
    y1 = np.clip(np.arange(h) + r + 1, 0, h)
    x0 = np.clip(np.arange(w) - r, 0, w)
    x1 = np.clip(np.arange(w) + r + 1, 0, w)
    total = (pad[y1][:, x1] - pad[y0][:, x1] - pad[y1][:, x0] + pad[y0][:, x0])
    area = ((y1 - y0)[:, None] * (x1 - x0)[None, :])[..., None]
    return total / area


def feature_contrast(feature, boxes, stride: int) -> tuple[float, float]:
    """Sums for the object/background contrast of a feature map (Fig. 4, measured).

    Args:
        feature: (C, h, w) feature map at ``stride`` (P2: 4) of one image.
        boxes: (K, 4) ground-truth boxes in input pixels.
        stride: the feature map's stride.

    Returns:
        (mean over box cells, mean over the other cells) of the channel-mean of |feature|.
    """
    act = np.abs(np.asarray(feature, dtype=np.float32)).mean(axis=0)
    h, w = act.shape
    inside = np.zeros((h, w), dtype=bool)
    for rows, cols in box_pixels(np.asarray(boxes, dtype=np.float64) / stride, h, w):
        inside[rows, cols] = True
    if not inside.any() or inside.all():
        return math.nan, math.nan
    return float(act[inside].mean()), float(act[~inside].mean())


# -- reading separation.json back (reports, claims) ----------------------------------------------

def load_separation(tier: str, run_ids, results_root=None, seed: int = 0) -> dict:
    """run id -> ``separation.json`` (written by ``srtod figures``) of the SR-TOD runs given.

    Args:
        tier: the tier.
        run_ids: run ids to look at (those without ``+srtod`` or without the file are skipped,
            as are failed runs).
        results_root: the folder replacing ``results``; ``seed``: the seed the figures used.

    Returns:
        dict run id -> the parsed object; feed it to :func:`separation_table`.
    """
    from srtod.analysis.stats import records_path

    out = {}
    for run_id in run_ids:
        if '+srtod' not in run_id:
            continue
        path = records_path(tier, run_id, seed, results_root).with_name('separation.json')
        if path.is_file():
            obj = json.loads(path.read_text(encoding='utf-8'))
            if obj.get('status') == 'ok':
                out[run_id] = obj
    return out


def separation_table(separation: dict):
    """Per SR-TOD run: AUC, hit rate and objects per size bucket, and the reference AUCs.

    Args:
        separation: run id -> separation.json object (:func:`load_separation`).

    Returns:
        pandas.DataFrame, one row per run (the separation table of the reports).
    """
    import pandas as pd

    rows = []
    for run_id, obj in separation.items():
        row = dict(run_id=run_id, images=obj.get('images'))
        for name, b in obj['separation']['buckets'].items():
            row[f'{name}: AUC / hit rate (objects)'] = (
                f"{fmt(b['auc'], 3)} / {fmt(b['hit_rate'], 2)} ({b['objects']})")
        row['background > t'] = obj['separation'].get('background_above_threshold')
        row['all AUC (HFD)'] = ((obj.get('separation_highfreq') or {}).get('buckets', {})
                                .get('all', {}).get('auc'))
        for name, ref in (obj.get('separation_reference') or {}).items():
            row[f'all AUC ({name})'] = ref['buckets']['all']['auc']
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ['BUCKETS', 'BUCKET_NAMES', 'rank_auc', 'box_pixels', 'bucket_of',
           'SeparationAccumulator', 'reference_maps', 'feature_contrast', 'load_separation',
           'separation_table']
