"""Reconstruction head (RH, paper section 3.2, eq. 1-2): from a pyramid level back to the image.

Layers, as in the authors' code (docs/sources.md, "SR-TOD modules";
``Hiyuur/SR-TOD@1c4d93b:srtod_project/srtod_cascade_rcnn/srtod_cascadercnn.py``), for a level of stride s with C
channels: log2(s) up-sampling blocks, each

    ConvTranspose2d(C, C/2, 4, stride 2, padding 1, bias) -> Conv2d(C/2, C/2, 3, bias=False) -> ReLU
                                                          -> Conv2d(C/2, C/2, 3, bias=False) -> ReLU

then ``Conv2d(C', 3, 3, bias) -> sigmoid``; for P2 with C = 256: 256 -> 128 -> 64 -> 3. No norm
layers, no ReLU after the transposed convs, PyTorch default initialisation.

Paper discrepancy: eq. 1 gives Conv1/Conv2 C x C x 3 x 3 kernels after a transposed conv that
outputs C/2 channels, which cannot compose; we follow the code (C/2 -> C/2).

Exact speed-ups (outputs equal within float rounding, tested; measured by
``python -m srtod.bench.srtod_speed``):

- ``channels_last=True`` (default): activations and weights in NHWC, oneDNN's preferred layout
  on CPU (the head is about 1.4x faster on this CPU; no layout copies of the weights per call).
- ``fuse_relu=True`` (default): in inference on CPU, each 3x3 conv and its ReLU run as one oneDNN
  call (``torch.ops.mkldnn._convolution_pointwise``, the fused kernel PyTorch's own compiler
  uses); training, other devices, or a PyTorch without the op use ``conv`` then ``relu_``.
- :meth:`ReconstructionHead.forward_sampled`: the reconstruction only at the pixels
  ``[::k, ::k]`` that DGFE's nearest resize keeps, with the last conv strided.
- ``upsample_impl``: ``'deconv'`` (default, ``nn.ConvTranspose2d``, oneDNN's deconvolution) or
  two re-expressions of the 4x4 stride-2 transposed conv that we measured and kept as options
  since they are exact but slower on this CPU: ``'phases'`` (four 2x2 convs, one per output
  phase, interleaved by a reshape; same FLOPs) and ``'conv_shuffle'`` (one 3x3 conv to 4*C/2
  channels with zeros in the unused taps, then ``pixel_shuffle(2)``; 2.25x the FLOPs).

The parameters are the same in every implementation (``ConvTranspose2d`` weights), so checkpoints
do not depend on these switches.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS

__all__ = ['ReconstructionHead', 'deconv_phase_kernels', 'deconv_by_phases', 'deconv_by_conv_shuffle']

UPSAMPLE_IMPLS = ('deconv', 'phases', 'conv_shuffle')
_FUSED_CONV_RELU = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, '_convolution_pointwise')


def conv_relu(conv: nn.Conv2d, x: Tensor, fuse: bool = True) -> Tensor:
    """``relu(conv(x))``; one fused oneDNN call in CPU float32 inference when ``fuse``."""
    if (fuse and _FUSED_CONV_RELU and not torch.is_grad_enabled() and x.device.type == 'cpu'
            and x.dtype == torch.float32 and conv.padding_mode == 'zeros'):
        return torch.ops.mkldnn._convolution_pointwise(x, conv.weight, conv.bias, list(conv.padding),
                                                       list(conv.stride), list(conv.dilation), conv.groups,
                                                       'relu', [], '')
    return F.relu(conv(x), inplace=True)


def _check_deconv(deconv: nn.ConvTranspose2d) -> None:
    if (deconv.kernel_size, deconv.stride, deconv.padding, deconv.output_padding, deconv.groups,
            deconv.dilation) != ((4, 4), (2, 2), (1, 1), (0, 0), 1, (1, 1)):
        raise ValueError('the re-expression needs ConvTranspose2d(kernel 4, stride 2, padding 1)')


def deconv_phase_kernels(weight: Tensor) -> Tensor:
    """Split a ConvTranspose2d(k4, s2, p1) weight into the 2x2 kernels of its four output phases.

    Output pixel (2m+a, 2n+b) of the transposed conv is a 2x2 correlation of the input rows
    m+a-1, m+a and columns n+b-1, n+b; tap r of phase a uses kernel row ``3 - a - 2r``.

    Args:
        weight: (C_in, C_out, 4, 4), the ``ConvTranspose2d`` weight.

    Returns:
        Tensor: (2, 2, C_out, C_in, 2, 2), indexed [a, b] -> a Conv2d weight.
    """
    idx = torch.tensor([[3, 1], [2, 0]], device=weight.device)  # [a, r] -> kernel row
    w = weight.permute(1, 0, 2, 3)  # (C_out, C_in, 4, 4)
    # rows: (C_out, C_in, a, r, 4) -> columns: (C_out, C_in, a, r, b, s)
    w = w[:, :, idx, :][..., idx]
    return w.permute(2, 4, 0, 1, 3, 5)


def deconv_by_phases(x: Tensor, deconv: nn.ConvTranspose2d) -> Tensor:
    """``deconv(x)`` computed as four 2x2 convs (one per output phase) and an interleave."""
    _check_deconv(deconv)
    n, _, h, w = x.shape
    kernels = deconv_phase_kernels(deconv.weight)
    xp = F.pad(x, (1, 1, 1, 1))
    rows = []
    for a in range(2):
        cols = [F.conv2d(xp[:, :, a:a + h + 1, b:b + w + 1], kernels[a, b], deconv.bias)
                for b in range(2)]
        rows.append(torch.stack(cols, dim=-1))  # (N, C_out, h, w, 2)
    out = torch.stack(rows, dim=3)  # (N, C_out, h, 2, w, 2)
    return out.reshape(n, -1, 2 * h, 2 * w)


def deconv_by_conv_shuffle(x: Tensor, deconv: nn.ConvTranspose2d) -> Tensor:
    """``deconv(x)`` computed as one 3x3 conv to 4*C_out channels and ``pixel_shuffle(2)``."""
    _check_deconv(deconv)
    kernels = deconv_phase_kernels(deconv.weight)  # (2, 2, C_out, C_in, 2, 2)
    c_out, c_in = kernels.shape[2:4]
    k3 = kernels.new_zeros(c_out, 2, 2, c_in, 3, 3)
    for a in range(2):
        for b in range(2):
            k3[:, a, b, :, a:a + 2, b:b + 2] = kernels[a, b]
    bias = None if deconv.bias is None else deconv.bias.repeat_interleave(4)
    y = F.conv2d(x, k3.reshape(4 * c_out, c_in, 3, 3), bias, padding=1)
    return F.pixel_shuffle(y, 2)


class UpBlock(nn.Module):
    """One x2 up-sampling block of eq. 1: transposed conv (C -> C/2), two 3x3 conv + ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.conv1 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)

    def upsample(self, x: Tensor, impl: str) -> Tensor:
        if impl == 'phases':
            return deconv_by_phases(x, self.deconv)
        if impl == 'conv_shuffle':
            return deconv_by_conv_shuffle(x, self.deconv)
        return self.deconv(x)

    def forward(self, x: Tensor, impl: str = 'deconv', fuse_relu: bool = False) -> Tensor:
        x = conv_relu(self.conv1, self.upsample(x, impl), fuse_relu)
        return conv_relu(self.conv2, x, fuse_relu)


@MODELS.register_module()
class ReconstructionHead(BaseModule):
    """Reconstruct the (padded) input image from one pyramid level.

    Args:
        in_channels: channels C of the level (256; 64 in slim models). Halved by each block.
        stride: stride s of the level (4 for P2, 8 for P3); log2(s) up-sampling blocks.
        out_channels: channels of the reconstruction (3, RGB).
        upsample_impl: ``'deconv'`` (default), ``'phases'`` or ``'conv_shuffle'`` (module docstring).
        channels_last: keep weights and activations in ``torch.channels_last`` (same values).
        fuse_relu: fuse each 3x3 conv with its ReLU in CPU inference (same values).
        init_cfg: mmengine init config (None: PyTorch defaults, as the authors).
    """

    def __init__(self,
                 in_channels: int = 256,
                 stride: int = 4,
                 out_channels: int = 3,
                 upsample_impl: str = 'deconv',
                 channels_last: bool = True,
                 fuse_relu: bool = True,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        n_up = int(round(math.log2(stride))) if stride > 0 else -1
        if n_up < 1 or 2 ** n_up != stride:
            raise ValueError(f'ReconstructionHead stride must be a power of two >= 2 (4 for P2, 8 for P3), got {stride}')
        if in_channels % (2 ** n_up) != 0:
            raise ValueError(f'ReconstructionHead halves the channels {n_up} times: in_channels must be '
                             f'divisible by {2 ** n_up}, got {in_channels}')
        if upsample_impl not in UPSAMPLE_IMPLS:
            raise ValueError(f'upsample_impl must be one of {list(UPSAMPLE_IMPLS)}, got {upsample_impl!r}')
        self.in_channels = in_channels
        self.stride = stride
        self.upsample_impl = upsample_impl
        self.channels_last = channels_last
        self.fuse_relu = fuse_relu
        blocks = []
        c = in_channels
        for _ in range(n_up):
            blocks.append(UpBlock(c, c // 2))
            c //= 2
        self.blocks = nn.ModuleList(blocks)
        self.out_conv = nn.Conv2d(c, out_channels, 3, padding=1)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _features(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'ReconstructionHead(in_channels={self.in_channels}) expects (N, '
                             f'{self.in_channels}, h, w), got {tuple(x.shape)}')
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            x = block(x, self.upsample_impl, self.fuse_relu)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct I_r, (N, 3, h*s, w*s), values in (0, 1)."""
        out = torch.sigmoid(self.out_conv(self._features(x)))
        return out.contiguous()

    def forward_sampled(self, x: Tensor, step: int) -> Tensor:
        """I_r at the pixels ``[::step, ::step]`` only: ``forward(x)[..., ::step, ::step]``.

        The last 3x3 conv is evaluated with stride ``step`` (same sums, 1/step^2 of the work).
        """
        feats = self._features(x)
        out = F.conv2d(feats, self.out_conv.weight, self.out_conv.bias, stride=step, padding=1)
        return torch.sigmoid(out).contiguous()
