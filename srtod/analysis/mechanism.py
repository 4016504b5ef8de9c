"""Does SR-TOD's mechanism work in a trained run? Reconstruction quality and what D adds.

The paper's argument (section 3.2-3.3) has two steps: the reconstruction head learns to redraw
the image, and because tiny objects are what it redraws worst, the difference map D singles
them out. Both steps are measured here, on the test split, against the reconstruction that
learned nothing but the average colour:

- ``rec_psnr``: PSNR of I_r against I_o (both in [0, 1], peak 1), per image, averaged over images.
- ``rec_psnr_constant``: the same for the best constant image in the mean-squared sense, the
  per-image mean colour (per channel). A head that has collapsed to the mean scores about this;
  ``rec_psnr_gain`` = ``rec_psnr - rec_psnr_constant`` is what the head learned beyond it.
- ``auc_<bucket>``: ROC AUC of D inside ground-truth boxes of the size bucket against D outside
  every box (:class:`srtod.analysis.separation.SeparationAccumulator`, buckets and
  conventions as there, ``all`` for every object).
- ``auc_<bucket>_constant``: the same for the map that the constant reconstruction gives, made
  by the run's own difference-map module (pixel: mean_c |I_o - mean colour|; high-frequency:
  the high-pass of the same difference). ``auc_<bucket>_gain`` is the difference.

A predicted difference map (PDM) has no reconstruction: its PSNRs are None, its D is the
predicted map and its reference is the pixel map of the constant reconstruction.

Where it is measured: ``srtod test`` of every SR-TOD seed calls :func:`measure_mechanism` on the
whole test split with the model it has just tested, and writes the result into metrics.json
(srtod.engine.evaluate); separation.json (``srtod figures``) and runs.csv copy it from there.
"""
from __future__ import annotations

import math

import numpy as np

from srtod.analysis.separation import BUCKET_NAMES, SeparationAccumulator
from srtod.errors import InputError

__all__ = ['psnr', 'constant_reconstruction', 'constant_map', 'MechanismAccumulator',
           'measure_mechanism', 'MECHANISM_KEYS', 'MAX_NEGATIVES', 'GAIN_COLUMNS', 'seed_table']

#: the flat keys of :meth:`MechanismAccumulator.result` besides ``images``.
MECHANISM_KEYS = (('rec_psnr', 'rec_psnr_constant', 'rec_psnr_gain')
                  + tuple(f'auc_{b}{s}' for b in BUCKET_NAMES + ('all',)
                          for s in ('', '_constant', '_gain')))


def psnr(prediction, target) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1] (peak 1); inf when equal."""
    pred, tgt = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    if pred.shape != tgt.shape:
        raise InputError(f'PSNR needs two images of one shape, got {pred.shape} and {tgt.shape}')
    mse = float(np.mean((pred - tgt) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def constant_reconstruction(image) -> np.ndarray:
    """The best constant reconstruction of an (H, W, 3) image: its mean colour everywhere."""
    img = np.asarray(image, np.float32)
    if img.ndim != 3:
        raise InputError(f'expected an (H, W, C) image, got shape {img.shape}')
    return np.broadcast_to(img.mean(axis=(0, 1), keepdims=True), img.shape).copy()


def constant_map(image, diff_map=None) -> np.ndarray:
    """D of the constant reconstruction of ``image``, made by the run's difference-map module.

    Args:
        image: (H, W, 3) I_o in [0, 1].
        diff_map: the detector's ``diff_map`` module (``module(rec, target) -> D`` on
            (N, 3, H, W) tensors); None for the pixel map.

    Returns:
        (H, W) float32.
    """
    img = np.asarray(image, np.float32)
    const = constant_reconstruction(img)
    if diff_map is None:
        return np.abs(img - const).mean(axis=2)
    import torch

    def tensor(x):
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]

    with torch.no_grad():
        return diff_map(tensor(const), tensor(img))[0, 0].float().numpy()


class MechanismAccumulator:
    """Pools the mechanism figures over test images (module docstring).

    Args:
        max_negatives_per_image: background pixels kept per image for the AUCs (as
            :class:`SeparationAccumulator`).
    """

    def __init__(self, max_negatives_per_image: int | None = 200_000):
        self.d = SeparationAccumulator(None, max_negatives_per_image)
        self.constant = SeparationAccumulator(None, max_negatives_per_image)
        self._psnr: list[float] = []
        self._psnr_constant: list[float] = []

    @property
    def images(self) -> int:
        return self.d.images

    def add(self, image, reconstruction, diff_map, constant_diff_map, boxes, areas,
            ignore_boxes=()) -> None:
        """Add one test image.

        Args:
            image: (H, W, 3) I_o in [0, 1], the image part of the padded batch.
            reconstruction: (H, W, 3) I_r in [0, 1], or None (PDM).
            diff_map: (H, W) the run's D.
            constant_diff_map: (H, W) D of the constant reconstruction (:func:`constant_map`).
            boxes: (K, 4) ground-truth boxes (x1, y1, x2, y2) in the image's pixel frame.
            areas: (K,) their areas in original-image pixels.
            ignore_boxes: (M, 4) regions that are neither object nor background.
        """
        img = np.asarray(image, np.float32)
        for name, m in (('diff_map', diff_map), ('constant_diff_map', constant_diff_map)):
            if np.shape(m) != img.shape[:2]:
                raise InputError(f'{name} must be (H, W) = {img.shape[:2]} like the image, got '
                                 f'{np.shape(m)}')
        self.d.add(diff_map, boxes, areas, ignore_boxes)
        self.constant.add(constant_diff_map, boxes, areas, ignore_boxes)
        if reconstruction is not None:
            self._psnr.append(psnr(reconstruction, img))
            self._psnr_constant.append(psnr(constant_reconstruction(img), img))

    def result(self) -> dict:
        """``images``, ``negative_pixels`` (background pixels the AUCs pooled), the
        :data:`MECHANISM_KEYS` (None where not measurable) and ``objects_<bucket>``."""
        def mean(values):
            finite = [v for v in values if math.isfinite(v)]
            return float(np.mean(finite)) if finite else None

        def diff(x, y):
            return None if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)) \
                else x - y

        out = dict(images=self.images, rec_psnr=mean(self._psnr),
                   rec_psnr_constant=mean(self._psnr_constant))
        out['rec_psnr_gain'] = diff(out['rec_psnr'], out['rec_psnr_constant'])
        d_result = self.d.result()
        out['negative_pixels'] = d_result['negative_pixels']   # the background the AUCs pool
        d, c = d_result['buckets'], self.constant.result()['buckets']
        for name in BUCKET_NAMES + ('all',):
            auc, ref = d[name]['auc'], c[name]['auc']
            out[f'auc_{name}'] = auc
            out[f'auc_{name}_constant'] = ref
            out[f'auc_{name}_gain'] = diff(auc, ref)
            out[f'objects_{name}'] = d[name]['objects']
        return out


#: Background pixels the AUCs of :func:`measure_mechanism` keep per map over the whole test
#: split (float32: 80 MB each for D and the constant map). A split whose pixels fit keeps them all
#: (the smoke tier: 128 images of 320 x 192 = 7.9 M); a larger one keeps a uniform sample of
#: ``MAX_NEGATIVES // images`` (at most 200,000) per image, the same pixels for both maps.
MAX_NEGATIVES = 20_000_000


def measure_mechanism(model, dataset, images: int | None = None,
                      max_negatives: int = MAX_NEGATIVES) -> dict:
    """The mechanism figures of a trained SR-TOD detector on a test dataset.

    Args:
        model: an SR-TOD detector in eval mode (has ``srtod_maps``), e.g.
            :func:`srtod.analysis.figures.build_model`.
        dataset: its test dataset (:func:`srtod.analysis.figures.build_test_dataset`).
        images: how many test images (the first ones); all when None.
        max_negatives: background pixels kept for each map's AUCs over all images
            (:data:`MAX_NEGATIVES`); memory stays bounded on a test split of any size.

    Returns:
        :meth:`MechanismAccumulator.result`.
    """
    from srtod.analysis.figures import MapExtractor

    extractor = MapExtractor(model, dataset)
    count = len(extractor) if images is None else min(int(images), len(extractor))
    if count == 0:
        raise InputError('the test dataset has no images; the mechanism needs at least one')
    module = None if getattr(model, 'srtod_predicted', False) else model.diff_map
    acc = MechanismAccumulator(max(1, min(200_000, int(max_negatives) // count)))
    for index in range(count):
        m = extractor(index)
        acc.add(m.image, m.reconstruction, m.diff_map, constant_map(m.image, module), m.boxes,
                m.areas, m.ignore_boxes)
    return acc.result()


# -- reading the figures back from runs.csv (reports, claims) --------------------------------------

#: The gains computed from runs.csv's mechanism columns (srtod.analysis.collect.MECHANISM_COLUMNS).
GAIN_COLUMNS = {'rec_psnr_gain': ('rec_psnr', 'rec_psnr_constant'),
                'auc_very_tiny_gain': ('auc_very_tiny', 'auc_very_tiny_constant'),
                'auc_all_gain': ('auc_all', 'auc_all_constant')}


def seed_table(runs):
    """Per (SR-TOD run id, seed) of runs.csv with a mechanism measurement: its figures and gains.

    Args:
        runs: runs.csv as a DataFrame (srtod.analysis.collect); a table without the mechanism
            columns (written before they existed) has no measurement.

    Returns:
        pandas.DataFrame with ``run_id``, ``seed``, the ``MECHANISM_COLUMNS`` and the
        ``GAIN_COLUMNS`` (NaN where a figure is missing), sorted by run id and seed; only rows
        where some mechanism figure is finite.
    """
    import pandas as pd

    from srtod.analysis.collect import MECHANISM_COLUMNS

    columns = ['run_id', 'seed', *MECHANISM_COLUMNS, *GAIN_COLUMNS]
    if not len(runs) or not set(MECHANISM_COLUMNS) <= set(runs.columns):
        return pd.DataFrame(columns=columns)
    frame = runs[['run_id', 'seed', *MECHANISM_COLUMNS]].copy()
    for column in MECHANISM_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors='coerce')
    frame = frame[frame[list(MECHANISM_COLUMNS)].notna().any(axis=1)]
    for gain, (value, constant) in GAIN_COLUMNS.items():
        frame[gain] = frame[value] - frame[constant]
    frame['seed'] = frame['seed'].astype(int)
    return frame.sort_values(['run_id', 'seed'], kind='stable').reset_index(drop=True)[columns]
