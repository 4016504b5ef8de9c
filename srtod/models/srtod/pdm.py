"""Predicted difference map (PDM, supplement section 1.5 and Table 5).

The supplement says only: "We have extended our self-reconstructed difference map to a
predictive version by using ground truth (GT)", and that PDM costs less than the
reconstruction (DetectoRS on AI-TOD: 12.5 FPS baseline, 11.4 with PDM, 8.9 with SR-TOD).

Our interpretation (documented here and in the report): instead of reconstructing the image,
a light head predicts a one-channel objectness map directly at the resolution of the level
(P2), supervised by a mask of the ground-truth boxes (a cell is 1 where any GT box overlaps it,
so even a 2-pixel object marks its cell), with a sigmoid binary cross-entropy ``loss_pdm``.
DGFE then filters and uses the predicted probability map in place of D, unchanged (its nearest
resize is the identity, the map already has the size of P2). The predicted map lies in [0, 1]
like D, so DGFE's threshold applies as-is; note that with a dataset T_init such as 3/255 almost
every cell passes the threshold, 0.5 is the natural value for a probability (a config choice).
"""
from __future__ import annotations

import torch
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor

__all__ = ['DifferenceMapPredictor', 'gt_box_mask']


@MODELS.register_module()
class DifferenceMapPredictor(BaseModule):
    """Light head predicting a one-channel objectness map (logits) at the level's resolution.

    Args:
        in_channels: channels of the level (256; 64 in slim models).
        feat_channels: width of the hidden 3x3 convs (default ``in_channels // 4``).
        num_convs: number of hidden 3x3 conv + ReLU layers.
        prior_prob: initial foreground probability of the output (bias initialisation; tiny
            objects cover a small fraction of the image).
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 feat_channels: int | None = None,
                 num_convs: int = 1,
                 prior_prob: float = 0.01,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        feat_channels = feat_channels or max(1, in_channels // 4)
        layers = []
        c = in_channels
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, feat_channels, 3, padding=1), nn.ReLU(inplace=True)]
            c = feat_channels
        self.in_channels = in_channels
        self.convs = nn.Sequential(*layers)
        self.out_conv = nn.Conv2d(c, 1, 1)
        nn.init.constant_(self.out_conv.bias, bias_init_with_prob(prior_prob))

    def forward(self, feat: Tensor) -> Tensor:
        """Return the map logits, (N, 1, h, w)."""
        if feat.dim() != 4 or feat.shape[1] != self.in_channels:
            raise ValueError(f'DifferenceMapPredictor(in_channels={self.in_channels}) expects (N, '
                             f'{self.in_channels}, h, w), got {tuple(feat.shape)}')
        return self.out_conv(self.convs(feat))


def gt_box_mask(data_samples, size: tuple[int, int], stride: int, device=None) -> Tensor:
    """The PDM target: 1 on every cell of a stride-``stride`` grid that a GT box overlaps.

    Cell (i, j) covers input pixels ``[j*s, (j+1)*s) x [i*s, (i+1)*s)``; a box (x1, y1, x2, y2)
    overlaps it when ``x1 < (j+1)*s``, ``x2 > j*s`` and the same for y.

    Args:
        data_samples: the batch's ``DetDataSample`` list (``gt_instances.bboxes`` in input pixels).
        size: (h, w) of the grid.
        stride: s, input pixels per cell.
        device: device of the result.

    Returns:
        Tensor: (N, 1, h, w) float mask.
    """
    h, w = size
    masks = []
    for sample in data_samples:
        boxes = get_box_tensor(sample.gt_instances.bboxes).float()
        if device is None:
            device = boxes.device
        boxes = boxes.to(device)
        if boxes.numel() == 0:
            masks.append(torch.zeros(h, w, device=device))
            continue
        ys = torch.arange(h, device=device, dtype=torch.float32) * stride
        xs = torch.arange(w, device=device, dtype=torch.float32) * stride
        rows = ((boxes[:, 1:2] < ys + stride) & (boxes[:, 3:4] > ys)).float()  # (K, h)
        cols = ((boxes[:, 0:1] < xs + stride) & (boxes[:, 2:3] > xs)).float()  # (K, w)
        masks.append((rows.t() @ cols > 0).float())
    return torch.stack(masks)[:, None]
