"""The difference map D between the reconstructed image I_r and the input image I_o.

Two kinds, both in this file:

- ``pixel`` (paper eq. 3, the default): ``D = mean_c |I_r - I_o|``, one value per pixel.
- ``highfreq`` (paper section 4.4, "HFD", Table 7): the same channel mean of absolute values,
  taken after an FFT high-pass filter of both images. The paper gives no cut-off, so we choose
  one: an ideal radial high-pass that zeroes every spatial frequency whose radius
  ``sqrt(fy**2 + fx**2)`` is below ``cutoff`` cycles per pixel. The default 1/32 removes
  structures wider than about 32 px (the upper end of AI-TOD's "small" range) and keeps the
  content of very tiny, tiny and small objects. The filter runs on the whole padded image.
  The high-pass is linear, so ``HP(I_r) - HP(I_o) = HP(I_r - I_o)``: one real FFT of the
  difference replaces the two FFTs of the paper's description (tested).

Both are registered in MODELS (``PixelDifferenceMap``, ``HighFrequencyDifferenceMap``); the
detector config names them by the short types of ``docs/architecture.md`` (``pixel``,
``highfreq``), which :func:`build_difference_map` maps to the classes.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from mmdet.registry import MODELS

__all__ = ['pixel_difference_map', 'high_pass', 'highfreq_difference_map',
           'PixelDifferenceMap', 'HighFrequencyDifferenceMap', 'build_difference_map']


def _check_pair(rec: Tensor, target: Tensor) -> None:
    if rec.shape != target.shape or rec.dim() != 4:
        raise ValueError(
            'the difference map needs the reconstruction and the target as two (N, C, H, W) '
            f'tensors of the same shape; got {tuple(rec.shape)} and {tuple(target.shape)}')


def pixel_difference_map(rec: Tensor, target: Tensor) -> Tensor:
    """Paper eq. 3: ``D = mean_c |I_r - I_o|``.

    Args:
        rec: reconstructed image I_r, (N, 3, H, W).
        target: input image I_o in the same range, (N, 3, H, W).

    Returns:
        Tensor: D, (N, 1, H, W).
    """
    _check_pair(rec, target)
    return (rec - target).abs().mean(dim=1, keepdim=True)


def high_pass(x: Tensor, cutoff: float) -> Tensor:
    """Ideal radial FFT high-pass over the last two dimensions.

    Frequencies with ``sqrt(fy**2 + fx**2) < cutoff`` (cycles per pixel, as given by
    ``torch.fft.fftfreq``) are set to zero, the others are kept unchanged.

    Args:
        x: real tensor (..., H, W).
        cutoff: radius of the removed low-frequency disc, in cycles per pixel, in [0, 0.5*sqrt(2)].

    Returns:
        Tensor: the filtered real tensor, same shape and dtype as ``x``.
    """
    h, w = x.shape[-2:]
    spectrum = torch.fft.rfft2(x.float())
    fy = torch.fft.fftfreq(h, device=x.device)
    fx = torch.fft.rfftfreq(w, device=x.device)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    keep = (radius >= cutoff).to(spectrum.dtype)
    return torch.fft.irfft2(spectrum * keep, s=(h, w)).to(x.dtype)


def highfreq_difference_map(rec: Tensor, target: Tensor, cutoff: float = 1 / 32) -> Tensor:
    """High-frequency difference map (paper section 4.4): ``mean_c |HP(I_r) - HP(I_o)|``.

    Computed as ``mean_c |HP(I_r - I_o)|`` (one FFT), which is the same by linearity.

    Args:
        rec: reconstructed image I_r, (N, 3, H, W).
        target: input image I_o, (N, 3, H, W).
        cutoff: high-pass cut-off in cycles per pixel (see :func:`high_pass`).

    Returns:
        Tensor: D, (N, 1, H, W).
    """
    _check_pair(rec, target)
    return high_pass(rec - target, cutoff).abs().mean(dim=1, keepdim=True)


@MODELS.register_module()
class PixelDifferenceMap(nn.Module):
    """Pixel difference map (paper eq. 3), config type ``pixel``.

    ``pointwise`` is True: the map at a subset of pixels needs the images at those pixels
    only, so the detector may compute it on the stride-sampled pixels that DGFE's nearest
    resize keeps (exactly the same values).
    """

    pointwise = True

    def forward(self, rec: Tensor, target: Tensor) -> Tensor:
        """Return D (N, 1, H, W) of ``rec`` and ``target`` (N, 3, H, W)."""
        return pixel_difference_map(rec, target)


@MODELS.register_module()
class HighFrequencyDifferenceMap(nn.Module):
    """High-frequency difference map (paper section 4.4, HFD), config type ``highfreq``.

    Args:
        cutoff: radius of the removed low-frequency disc in cycles per pixel (default 1/32,
            i.e. structures wider than ~32 px are removed).
    """

    pointwise = False

    def __init__(self, cutoff: float = 1 / 32):
        super().__init__()
        if not 0.0 <= float(cutoff) <= 0.5 * 2 ** 0.5:
            raise ValueError(f'highfreq cutoff must be in [0, 0.707] cycles per pixel, got {cutoff}')
        self.cutoff = float(cutoff)

    def forward(self, rec: Tensor, target: Tensor) -> Tensor:
        """Return the HFD (N, 1, H, W) of ``rec`` and ``target`` (N, 3, H, W)."""
        return highfreq_difference_map(rec, target, self.cutoff)

    def extra_repr(self) -> str:
        return f'cutoff={self.cutoff}'


_SHORT_TYPES = {'pixel': 'PixelDifferenceMap', 'highfreq': 'HighFrequencyDifferenceMap'}


def build_difference_map(cfg: dict | None) -> nn.Module:
    """Build a difference map from ``srtod.diff_map`` (``None`` means ``dict(type='pixel')``).

    Args:
        cfg: ``dict(type='pixel')``, ``dict(type='highfreq', cutoff=...)`` or a registered
            class name.

    Returns:
        nn.Module: called as ``module(rec, target) -> D``.
    """
    cfg = dict(type='pixel') if cfg is None else dict(cfg)
    kind = cfg.get('type', 'pixel')
    cfg['type'] = _SHORT_TYPES.get(kind, kind)
    if cfg['type'] not in _SHORT_TYPES.values():
        raise ValueError(f"srtod.diff_map.type must be one of {sorted(_SHORT_TYPES)}, got {kind!r}")
    return MODELS.build(cfg)
