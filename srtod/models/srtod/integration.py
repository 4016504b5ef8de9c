"""SR-TOD inside any mmdet FPN detector: the mixin the SR-TOD detectors share.

The detector's ``extract_feat`` (backbone + neck; for DetectoRS the whole recursive RFP neck)
is followed by the SR-TOD step on one level ``srtod.level`` (P2; P3 for RetinaNet):

1. the reconstruction head turns the level into I_r at the padded input resolution, and in
   training ``loss_rec = MSE(I_r, I_o)`` (mean over N*3*H*W, padding included, weight 1) joins
   the detector's losses; the level is not detached, so loss_rec also trains neck and backbone;
2. the difference map D (pixel or high-frequency) of I_r and the target I_o;
3. DGFE replaces the level by its enhanced version, in training and in inference.

``dgfe=None`` is "RH only" (the head is trained, the features are untouched, and inference
skips the head entirely: it has no effect there). ``predicted=True`` is PDM (see ``pdm.py``).
``srtod=None`` leaves the parent detector exactly as it is.

Exact shortcuts (same values as the direct computation, tested): DGFE's nearest resize keeps
the pixels ``[::s, ::s]`` of D, and the pixel map is pointwise, so D is computed on those
pixels only; in inference the head's last conv runs with stride s
(:meth:`ReconstructionHead.forward_sampled`).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet.registry import MODELS

from srtod.errors import InputError
from .difference_map import build_difference_map
from .pdm import gt_box_mask

__all__ = ['SRTODMixin']


@dataclass
class _Pass:
    """State of one loss / predict / tensor pass (set by the entry points, read by extract_feat)."""

    mode: str
    rec_targets: Tensor | None
    data_samples: list | None
    losses: dict = field(default_factory=dict)


class SRTODMixin:
    """Adds SR-TOD to a detector class whose ``extract_feat`` returns the neck outputs.

    Use as the first base: ``class X(SRTODMixin, TwoStageDetector)``; call
    :meth:`_init_srtod` at the end of ``__init__``. The ``srtod`` config keys are those of
    ``docs/architecture.md``: ``level``, ``rec_head``, ``diff_map``, ``dgfe``, ``loss_rec``,
    ``predicted``, and for PDM the optional ``pdm_head`` and ``loss_pdm``.
    """

    _srtod_pass: _Pass | None = None
    #: use the exact shortcuts (D on the sampled pixels, strided last conv in inference); False
    #: runs the direct computation (full I_r, full D, DGFE's resize), for the speed benchmark.
    srtod_shortcuts: bool = True

    def _init_srtod(self, srtod: dict | None) -> None:
        self.srtod_cfg = None if srtod is None else dict(srtod)
        if srtod is None:
            return
        known = {'level', 'rec_head', 'diff_map', 'dgfe', 'loss_rec', 'predicted', 'pdm_head', 'loss_pdm'}
        unknown = set(srtod) - known
        if unknown:
            raise InputError(f'unknown srtod config keys {sorted(unknown)}; expected some of {sorted(known)}')
        rec_cfg = dict(srtod.get('rec_head') or dict(type='ReconstructionHead'))
        self.srtod_level = int(srtod.get('level', 0))
        self.srtod_stride = int(rec_cfg.get('stride', 4))
        self.srtod_predicted = bool(srtod.get('predicted', False))
        if self.srtod_predicted:
            pdm_cfg = srtod.get('pdm_head') or dict(
                type='DifferenceMapPredictor', in_channels=rec_cfg.get('in_channels', 256))
            self.pdm_head = MODELS.build(pdm_cfg)
            self.loss_pdm = MODELS.build(srtod.get('loss_pdm') or dict(
                type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))
        else:
            self.rec_head = MODELS.build(rec_cfg)
            self.loss_rec = MODELS.build(srtod.get('loss_rec') or dict(type='mmdet.MSELoss', loss_weight=1.0))
        self.diff_map = build_difference_map(srtod.get('diff_map'))
        dgfe_cfg = srtod.get('dgfe')
        self.dgfe = None if dgfe_cfg is None else MODELS.build(dgfe_cfg)

    @property
    def with_srtod(self) -> bool:
        """Whether SR-TOD is on (``srtod`` config given)."""
        return getattr(self, 'srtod_cfg', None) is not None

    # ------------------------------------------------------------------ entry points
    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor', rec_targets: Tensor | None = None):
        """mmdet's ``forward`` with the extra ``rec_targets`` of :class:`SRTODDataPreprocessor`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, rec_targets=rec_targets)
        if mode == 'predict':
            return self.predict(inputs, data_samples, rec_targets=rec_targets)
        if mode == 'tensor':
            return self._forward(inputs, data_samples, rec_targets=rec_targets)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, predict and tensor mode')

    @contextmanager
    def _srtod_scope(self, mode: str, rec_targets, data_samples):
        previous = self._srtod_pass
        self._srtod_pass = _Pass(mode, rec_targets, data_samples)
        try:
            yield self._srtod_pass
        finally:
            self._srtod_pass = previous

    def loss(self, batch_inputs: Tensor, batch_data_samples, rec_targets: Tensor | None = None) -> dict:
        """The parent's losses, plus ``loss_rec`` (or ``loss_pdm``) with SR-TOD."""
        if not self.with_srtod:
            return super().loss(batch_inputs, batch_data_samples)
        with self._srtod_scope('loss', rec_targets, batch_data_samples) as state:
            losses = super().loss(batch_inputs, batch_data_samples)
        losses.update(state.losses)
        return losses

    def predict(self, batch_inputs: Tensor, batch_data_samples, rescale: bool = True,
                rec_targets: Tensor | None = None):
        """The parent's ``predict`` on the SR-TOD-enhanced features."""
        with self._srtod_scope('predict', rec_targets, batch_data_samples):
            return super().predict(batch_inputs, batch_data_samples, rescale=rescale)

    def _forward(self, batch_inputs: Tensor, batch_data_samples=None, rec_targets: Tensor | None = None):
        """The parent's ``_forward`` (raw head outputs) on the SR-TOD-enhanced features."""
        with self._srtod_scope('tensor', rec_targets, batch_data_samples):
            return super()._forward(batch_inputs, batch_data_samples)

    def extract_feat(self, batch_inputs: Tensor):
        """Backbone + neck, then the SR-TOD step on ``srtod.level``."""
        x = super().extract_feat(batch_inputs)
        if not self.with_srtod:
            return x
        state = self._srtod_pass or _Pass('tensor', None, None)
        return self._srtod_step(x, batch_inputs, state)

    # ------------------------------------------------------------------ the SR-TOD step
    def _srtod_targets(self, inputs: Tensor, rec_targets: Tensor | None, data_samples) -> Tensor:
        """Check ``rec_targets``; without them, recover I_o from the normalised inputs.

        The fallback undoes the data preprocessor's mean/std and zeroes the padding given by
        each sample's ``img_shape``; it equals the preprocessor's target up to float rounding.
        """
        n, _, h, w = inputs.shape
        if rec_targets is None:
            pre = self.data_preprocessor
            img = inputs
            if getattr(pre, '_enable_normalize', False):
                img = inputs * pre.std + pre.mean
            rec_targets = (img / 255.0).clamp(0, 1)
            if data_samples is not None:
                rec_targets = rec_targets.clone()
                for i, sample in enumerate(data_samples):
                    ih, iw = sample.metainfo.get('img_shape', (h, w))[:2]
                    rec_targets[i, :, ih:, :] = 0
                    rec_targets[i, :, :, iw:] = 0
        if tuple(rec_targets.shape) != (n, 3, h, w):
            raise InputError(f'SR-TOD expected rec_targets of shape {(n, 3, h, w)} (the padded RGB input in '
                             f'[0, 1], from SRTODDataPreprocessor), got {tuple(rec_targets.shape)}')
        return rec_targets.to(inputs.dtype)

    def _srtod_check_level(self, feat: Tensor, inputs: Tensor) -> None:
        h, w = inputs.shape[-2:]
        s = self.srtod_stride
        expected = (h // s, w // s)
        if h % s or w % s or tuple(feat.shape[-2:]) != expected:
            raise InputError(
                f'SR-TOD expected neck level {self.srtod_level} at stride {s}, of size input/{s} = '
                f'{expected} for the padded input {(h, w)}; got {tuple(feat.shape[-2:])}. Pad the input to '
                f'a multiple of 32 (pad_size_divisor=32) and check srtod.level and rec_head.stride')

    def _srtod_step(self, x, inputs: Tensor, state: _Pass):
        x = list(x)
        feat = x[self.srtod_level]
        self._srtod_check_level(feat, inputs)
        s = self.srtod_stride
        training = state.mode == 'loss'
        if self.srtod_predicted:
            logits = self.pdm_head(feat)
            if training:
                mask = gt_box_mask(state.data_samples, feat.shape[-2:], s, device=feat.device)
                state.losses['loss_pdm'] = self.loss_pdm(logits, mask)
            if self.dgfe is None:
                return tuple(x)
            diff = torch.sigmoid(logits)
        else:
            if not training and self.dgfe is None:
                return tuple(x)  # RH only: the head does not touch the features
            targets = self._srtod_targets(inputs, state.rec_targets, state.data_samples)
            sampled = self.srtod_shortcuts and self.diff_map.pointwise
            if training or not sampled:
                rec = self.rec_head(feat)
                if training:
                    state.losses['loss_rec'] = self.loss_rec(rec, targets)
                if self.dgfe is None:
                    return tuple(x)
                if sampled:
                    diff = self.diff_map(rec[..., ::s, ::s], targets[..., ::s, ::s])
                else:
                    diff = self.diff_map(rec, targets)
            else:
                diff = self.diff_map(self.rec_head.forward_sampled(feat, s), targets[..., ::s, ::s])
        x[self.srtod_level] = self.dgfe(feat, diff)
        return tuple(x)

    # ------------------------------------------------------------------ inspection
    def srtod_threshold(self) -> float | None:
        """The current DGFE threshold t, or None (no SR-TOD, no DGFE, or ``filtration='none'``)."""
        if not self.with_srtod or self.dgfe is None:
            return None
        return self.dgfe.threshold_value()

    @torch.no_grad()
    def srtod_maps(self, inputs: Tensor, rec_targets: Tensor | None = None, data_samples=None) -> dict:
        """The SR-TOD intermediates at full resolution, for figures.

        Args:
            inputs: the preprocessed batch (N, 3, H, W).
            rec_targets: I_o from :class:`SRTODDataPreprocessor` (recovered from ``inputs``
                when None).
            data_samples: optional, used to zero the padding of a recovered target.

        Returns:
            dict: ``feat`` (the level before DGFE), ``feat_enhanced``, ``reconstruction``
            (N, 3, H, W; None for PDM), ``diff_map`` (N, 1, H, W; for PDM the predicted
            probability, nearest-upsampled), ``binary_map`` (D_b, or D with
            ``filtration='none'``; None without DGFE) and ``threshold`` (float or None).
        """
        if not self.with_srtod:
            raise InputError('srtod_maps needs a detector built with an srtod config (srtod=None here)')
        x = super().extract_feat(inputs)
        feat = x[self.srtod_level]
        self._srtod_check_level(feat, inputs)
        rec = None
        if self.srtod_predicted:
            diff = torch.sigmoid(self.pdm_head(feat))
            full = F.interpolate(diff, size=inputs.shape[-2:], mode='nearest')
        else:
            targets = self._srtod_targets(inputs, rec_targets, data_samples)
            rec = self.rec_head(feat)
            diff = full = self.diff_map(rec, targets)
        enhanced = feat if self.dgfe is None else self.dgfe(feat, diff)
        binary = None if self.dgfe is None else self.dgfe.filter_map(full)
        return dict(feat=feat, feat_enhanced=enhanced, reconstruction=rec, diff_map=full,
                    binary_map=binary, threshold=self.srtod_threshold())
