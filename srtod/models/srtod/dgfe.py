"""Difference Map Guided Feature Enhancement (DGFE, paper section 3.3, eq. 4-6).

Default (the paper and the authors' code)::

    D_b   = (sign(D - t) + 1) / 2                    # eq. 4; 0.5 where D == t exactly
    F     = Resize_nearest(D_b, size of P2) + 1      # eq. 4
    w     = sigmoid(MLP(AvgPool(P2)) + MLP(MaxPool(P2)))   # eq. 5; MLP: Linear C->C/r, ReLU, Linear C/r->C
    P2'   = (w * F) * P2                             # eq. 6

Switches (every DGFE ablation of the paper and the supplement, plus one extra):

- ``filtration``: ``'learnable'`` (paper: t is an ``nn.Parameter``, but sign() has a zero
  derivative, so t receives no gradient from the losses and only weight decay moves it),
  ``'fixed'`` (t is a buffer), ``'none'`` (paper Table 5 "w/o T": no threshold; the map used in
  place of D_b is the raw difference map D itself, so F = Resize(D) + 1; the binary step is
  simply left out), ``'ste'`` (extra, not in the paper: the forward value is the same step as
  ``'learnable'``, the backward uses the derivative of ``sigmoid((D - t) / ste_temperature)``
  with respect to t, so t learns; D is detached in the surrogate, so the reconstruction head
  still learns from ``loss_rec`` only).
- ``enhancement``: ``'ea'`` (element-wise attention, eq. 6), ``'em'`` (paper Table 6, element-wise
  multiplication: ``P2' = P2 * Resize(D_b)``, no +1 and no reweighting, which wipes features
  where D_b is 0, as the paper discusses), ``'concat'`` (paper Table 6: the resized binary map is
  concatenated to P2 as one more channel and a 1x1 conv with bias maps the C+1 channels back to
  C; the paper gives no fusion layer, a 1x1 conv is the lightest that restores the width).
- ``parts`` (supplement Table 1, only with ``'ea'``): ``'rw+dm'`` (eq. 6), ``'rw'`` (reweighting
  only, ``P2' = w * P2``), ``'dm'`` (difference map only, ``P2' = (1 + Resize(D_b)) * P2``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS

__all__ = ['DGFE']

FILTRATIONS = ('learnable', 'fixed', 'none', 'ste')
ENHANCEMENTS = ('ea', 'em', 'concat')
PARTS = ('rw+dm', 'rw', 'dm')


def _choice(name: str, value: str, allowed: tuple) -> str:
    if value not in allowed:
        raise ValueError(f'DGFE {name} must be one of {list(allowed)}, got {value!r}')
    return value


@MODELS.register_module()
class DGFE(BaseModule):
    """Difference Map Guided Feature Enhancement.

    Args:
        channels: channels C of the enhanced level (256 in the paper, 64 in slim models).
        reduction: reduction ratio r of the reweighting MLP (hidden width ``max(1, C // r)``).
        threshold_init: initial threshold t in [0, 1] (40/255 DroneSwarms, 4/255 VisDrone2019,
            3/255 AI-TOD). Checked even with ``filtration='none'``, where it is not used.
        filtration: ``'learnable'``, ``'fixed'``, ``'none'`` or ``'ste'`` (module docstring).
        enhancement: ``'ea'``, ``'em'`` or ``'concat'``.
        parts: ``'rw+dm'``, ``'rw'`` or ``'dm'`` (only ``'rw+dm'`` with ``'em'``/``'concat'``).
        ste_temperature: temperature of the sigmoid surrogate of ``'ste'``, in units of D.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 channels: int,
                 reduction: int = 16,
                 threshold_init: float = 40 / 255,
                 filtration: str = 'learnable',
                 enhancement: str = 'ea',
                 parts: str = 'rw+dm',
                 ste_temperature: float = 0.01,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        self.filtration = _choice('filtration', filtration, FILTRATIONS)
        self.enhancement = _choice('enhancement', enhancement, ENHANCEMENTS)
        self.parts = _choice('parts', parts, PARTS)
        if enhancement != 'ea' and parts != 'rw+dm':
            raise ValueError(f"DGFE parts={parts!r} is a switch of enhancement='ea' only; "
                             f"enhancement={enhancement!r} expects parts='rw+dm'")
        threshold_init = float(threshold_init)
        if not 0.0 <= threshold_init <= 1.0:
            raise ValueError('DGFE threshold_init must be in [0, 1] (the difference map of images '
                             f'in [0, 1] is in [0, 1]; e.g. 40/255), got {threshold_init}')
        if channels < 1 or reduction < 1:
            raise ValueError(f'DGFE expects channels >= 1 and reduction >= 1, got {channels}, {reduction}')
        if ste_temperature <= 0:
            raise ValueError(f'DGFE ste_temperature must be > 0, got {ste_temperature}')
        self.channels = channels
        self.ste_temperature = float(ste_temperature)

        t = torch.tensor(threshold_init, dtype=torch.float32)
        if filtration in ('learnable', 'ste'):
            self.threshold = nn.Parameter(t)
        elif filtration == 'fixed':
            self.register_buffer('threshold', t)
        else:
            self.threshold = None

        self.mlp = None
        if enhancement == 'ea' and 'rw' in parts:
            hidden = max(1, channels // reduction)
            self.mlp = nn.Sequential(
                nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.fuse = nn.Conv2d(channels + 1, channels, 1) if enhancement == 'concat' else None

    def filter_map(self, diff_map: Tensor) -> Tensor:
        """The filtered map at the resolution of ``diff_map``: D_b, or D itself for ``'none'``.

        Args:
            diff_map: D, (N, 1, H, W), values in [0, 1].

        Returns:
            Tensor: (N, 1, H, W).
        """
        if diff_map.dim() != 4 or diff_map.shape[1] != 1:
            raise ValueError(f'DGFE expects a difference map (N, 1, H, W), got {tuple(diff_map.shape)}')
        if self.threshold is None:
            return diff_map
        t = self.threshold.to(diff_map.dtype)
        hard = (torch.sign(diff_map - t) + 1) * 0.5
        if self.filtration != 'ste':
            return hard
        soft = torch.sigmoid((diff_map.detach() - t) / self.ste_temperature)
        return hard + (soft - soft.detach())

    def reweighting(self, feat: Tensor) -> Tensor:
        """Eq. 5: channel weights ``sigmoid(MLP(avgpool) + MLP(maxpool))``, shape (N, C, 1, 1)."""
        avg = self.mlp(feat.mean(dim=(2, 3)))
        mx = self.mlp(feat.amax(dim=(2, 3)))
        return torch.sigmoid(avg + mx)[:, :, None, None]

    def forward(self, feat: Tensor, diff_map: Tensor) -> Tensor:
        """Enhance ``feat`` with ``diff_map``.

        Args:
            feat: the level to enhance (P2), (N, C, h, w).
            diff_map: D, (N, 1, H, W) at any resolution that nearest resizing maps to (h, w):
                the input resolution (the paper), or already the stride-sampled pixels (then
                the resize is the identity and skipped).

        Returns:
            Tensor: the enhanced level, (N, C, h, w).
        """
        if feat.dim() != 4 or feat.shape[1] != self.channels:
            raise ValueError(f'DGFE(channels={self.channels}) expects a feature map (N, {self.channels}, h, w), '
                             f'got {tuple(feat.shape)}')
        if diff_map.shape[0] != feat.shape[0]:
            raise ValueError(f'DGFE: batch of the difference map ({diff_map.shape[0]}) differs from '
                             f'the feature map ({feat.shape[0]})')
        m = self.filter_map(diff_map)
        if m.shape[-2:] != feat.shape[-2:]:
            m = F.interpolate(m, size=feat.shape[-2:], mode='nearest')
        m = m.to(feat.dtype)
        if self.enhancement == 'em':
            return feat * m
        if self.enhancement == 'concat':
            return self.fuse(torch.cat([feat, m], dim=1))
        if self.mlp is None:  # parts='dm'
            return feat * (m + 1)
        out = self.reweighting(feat) * feat
        if 'dm' in self.parts:
            # in inference the second product reuses the first one's memory (same values)
            out = out.mul_(m + 1) if not torch.is_grad_enabled() else out * (m + 1)
        return out

    def threshold_value(self) -> float | None:
        """The current t as a float, or None with ``filtration='none'``."""
        return None if self.threshold is None else float(self.threshold.detach().cpu())

    def extra_repr(self) -> str:
        return (f'channels={self.channels}, filtration={self.filtration!r}, '
                f'enhancement={self.enhancement!r}, parts={self.parts!r}')
