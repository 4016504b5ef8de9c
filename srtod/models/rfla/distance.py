"""Gaussian distances between boxes and RFLA's receptive-field distance (RFD) similarity.

A box ``(x1, y1, x2, y2)`` is modelled as the 2-D Gaussian ``N(mu, Sigma)`` with ``mu`` its
centre and ``Sigma = diag(w^2 / 4, h^2 / 4)``, ``w`` and ``h`` its width and height plus a small
``eps`` (1e-6, as the reference code) so that degenerate boxes stay finite. RFLA ranks priors by
the similarity ``1 / (1 + d)`` of such distances ``d`` (Xu et al., ECCV 2022, Sec. 3.2).

Distances (``bboxes1`` gives the rows, ``bboxes2`` the columns):

- ``'kl'``: ``KL(N_2 || N_1)``. With the assigner's call order ``(gt, priors)`` this is
  KL(prior || gt), the direction of the RFLA reference code:
  ``1/2 [w2^2/w1^2 + h2^2/h1^2 + 4 dx^2/w1^2 + 4 dy^2/h1^2 + ln(w1^2/w2^2) + ln(h1^2/h2^2) - 2]``.
- ``'wd'``: the squared 2-Wasserstein distance
  ``dx^2 + dy^2 + ((w1 - w2)^2 + (h1 - h2)^2) / 4`` (squared, as the reference code).
- ``'gjsd'``: the geometric Jensen-Shannon divergence with weight 1/2 (Nielsen 2019):
  ``(KL(N_1 || G) + KL(N_2 || G)) / 2`` where ``G`` is the normalised geometric mean of the
  two Gaussians (precision = mean of the precisions). Symmetric, zero for identical boxes.
"""
from __future__ import annotations

import torch
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from torch import Tensor

#: Modes handled by mmdet's ``bbox_overlaps``; they return overlaps, not distances.
OVERLAP_MODES = ('iou', 'iof', 'giou')
#: Modes that compare the boxes as Gaussians; ``BboxDistanceMetric`` returns ``1 / (1 + d)``.
GAUSSIAN_MODES = ('kl', 'wd', 'gjsd')


def box_to_gaussian(bboxes: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Mean and diagonal variance of the Gaussian of each box.

    Args:
        bboxes: boxes ``(..., 4)`` as ``(x1, y1, x2, y2)``.
        eps: added to the width and height before squaring.

    Returns:
        tuple[Tensor, Tensor]: ``mu`` ``(..., 2)`` (centre) and ``var`` ``(..., 2)``
        (``(w^2 / 4, h^2 / 4)``).
    """
    mu = (bboxes[..., :2] + bboxes[..., 2:]) / 2
    wh = bboxes[..., 2:] - bboxes[..., :2] + eps
    return mu, wh * wh / 4


def _per_axis(bboxes1: Tensor, bboxes2: Tensor, is_aligned: bool, eps: float):
    """(mu1, var1, mu2, var2) of the x and of the y axis, shaped to broadcast to the result.

    The distances are sums over the two axes of terms computed on result-shaped tensors:
    reducing a trailing dimension of size 2 over millions of pairs is several times slower.
    """
    mu1, var1 = box_to_gaussian(bboxes1, eps)
    mu2, var2 = box_to_gaussian(bboxes2, eps)
    if not is_aligned:  # rows from bboxes1, columns from bboxes2
        mu1, var1 = mu1[..., :, None, :], var1[..., :, None, :]
        mu2, var2 = mu2[..., None, :, :], var2[..., None, :, :]
    return [(mu1[..., a], var1[..., a], mu2[..., a], var2[..., a]) for a in (0, 1)]


def _kl_axis(mu_p: Tensor, var_p: Tensor, mu_q: Tensor, var_q: Tensor) -> Tensor:
    """One axis of ``KL(N_p || N_q)``."""
    ratio = var_p / var_q
    return 0.5 * (ratio + (mu_p - mu_q) ** 2 / var_q - 1 - torch.log(ratio))


def gaussian_distance(bboxes1: Tensor,
                      bboxes2: Tensor,
                      mode: str = 'kl',
                      is_aligned: bool = False,
                      eps: float = 1e-6) -> Tensor:
    """Distance between the Gaussians of two sets of boxes (see the module docstring).

    Args:
        bboxes1: boxes ``(..., m, 4)``.
        bboxes2: boxes ``(..., n, 4)``; ``n == m`` if ``is_aligned``.
        mode: 'kl', 'wd' or 'gjsd'.
        is_aligned: compare ``bboxes1[i]`` with ``bboxes2[i]`` only.
        eps: added to widths and heights.

    Returns:
        Tensor: ``(..., m, n)``, or ``(..., m)`` if ``is_aligned``; >= 0, 0 for identical boxes.
    """
    if mode not in GAUSSIAN_MODES:
        raise ValueError(f'gaussian_distance: mode {mode!r} is not one of {GAUSSIAN_MODES}')
    (mx1, vx1, mx2, vx2), (my1, vy1, my2, vy2) = _per_axis(bboxes1, bboxes2, is_aligned, eps)
    if mode == 'kl':
        # KL(N_2 || N_1) = sum over axes of ((var2 + dmu^2) / var1 + ln var1 - ln var2 - 1) / 2.
        # The logarithms depend on one box each, so they are taken before broadcasting.
        out = (0.5 * torch.log(vx1 * vy1) - 1) - 0.5 * torch.log(vx2 * vy2)
        out.add_((mx2 - mx1).square_().add_(vx2).mul_(0.5 / vx1))
        return out.add_((my2 - my1).square_().add_(vy2).mul_(0.5 / vy1))
    if mode == 'wd':
        out = (mx1 - mx2).square_().add_((my1 - my2).square_())
        out.add_((vx1.sqrt() - vx2.sqrt()).square_())
        return out.add_((vy1.sqrt() - vy2.sqrt()).square_())
    # 'gjsd': the geometric mean G has precision (1/var1 + 1/var2) / 2 and a mean weighted by
    # the precisions.
    out = None
    for mu1, var1, mu2, var2 in ((mx1, vx1, mx2, vx2), (my1, vy1, my2, vy2)):
        var_g = 2 * var1 * var2 / (var1 + var2)
        mu_g = (mu1 * var2 + mu2 * var1) / (var1 + var2)
        term = 0.5 * (_kl_axis(mu1, var1, mu_g, var_g) + _kl_axis(mu2, var2, mu_g, var_g))
        out = term if out is None else out.add_(term)
    return out


def rf_similarity(distance: Tensor) -> Tensor:
    """RFLA's receptive-field-distance similarity ``1 / (1 + d)``, in (0, 1]."""
    return 1 / (1 + distance)


@TASK_UTILS.register_module()
class BboxDistanceMetric:
    """IoU calculator of RFLA: overlaps or Gaussian similarities between two sets of boxes.

    A drop-in for mmdet's ``BboxOverlaps2D`` (same call), so assigners can build it as their
    ``iou_calculator``. Overlap modes go to mmdet's ``bbox_overlaps``; Gaussian modes return
    the RFD similarity ``1 / (1 + d)`` of :func:`gaussian_distance`.

    Args:
        eps: added to the widths and heights of the boxes for the Gaussian modes.
        chunk_elements: above this many box pairs the Gaussian similarities are computed by
            blocks of rows (same result, bounded temporary memory).
    """

    def __init__(self, eps: float = 1e-6, chunk_elements: int = 1 << 24) -> None:
        self.eps = eps
        self.chunk_elements = int(chunk_elements)

    def __call__(self,
                 bboxes1: Tensor,
                 bboxes2: Tensor,
                 mode: str = 'iou',
                 is_aligned: bool = False) -> Tensor:
        """Similarity of each pair of boxes.

        Args:
            bboxes1: ``(..., m, 4)`` or ``(..., m, 5)`` (a trailing score is dropped), or boxes
                of an mmdet box type.
            bboxes2: ``(..., n, 4)`` or ``(..., n, 5)``, or an mmdet box type.
            mode: 'iou', 'iof', 'giou', 'kl', 'wd' or 'gjsd'.
            is_aligned: compare ``bboxes1[i]`` with ``bboxes2[i]`` only.

        Returns:
            Tensor: ``(..., m, n)`` or ``(..., m)`` if ``is_aligned``.
        """
        bboxes1 = get_box_tensor(bboxes1)
        bboxes2 = get_box_tensor(bboxes2)
        # an empty set of boxes may come as shape (0,)
        bboxes1 = bboxes1.reshape(0, 4) if bboxes1.dim() == 1 and not bboxes1.numel() else bboxes1
        bboxes2 = bboxes2.reshape(0, 4) if bboxes2.dim() == 1 and not bboxes2.numel() else bboxes2
        for boxes in (bboxes1, bboxes2):
            if boxes.size(-1) not in (0, 4, 5):
                raise ValueError('BboxDistanceMetric: boxes must have 4 (x1, y1, x2, y2) or 5 '
                                 f'(with a score) values in the last dim, got {boxes.shape}')
        bboxes1 = bboxes1[..., :4]
        bboxes2 = bboxes2[..., :4]
        if mode in OVERLAP_MODES:
            return bbox_overlaps(bboxes1, bboxes2, mode=mode, is_aligned=is_aligned)
        if mode not in GAUSSIAN_MODES:
            raise ValueError(f'BboxDistanceMetric: mode {mode!r} is not one of '
                             f'{OVERLAP_MODES + GAUSSIAN_MODES}')
        rows, cols = bboxes1.shape[-2], bboxes2.shape[-2]
        if bboxes1.numel() == 0 or bboxes2.numel() == 0:
            shape = bboxes1.shape[:-2] + ((rows,) if is_aligned else (rows, cols))
            return bboxes1.new_zeros(shape)
        if is_aligned or bboxes1.dim() != 2 or rows * cols <= self.chunk_elements:
            return rf_similarity(gaussian_distance(bboxes1, bboxes2, mode, is_aligned, self.eps))
        # Many gts x many priors: fill the result by blocks of rows, so that the temporaries of
        # the distance stay small.
        out = bboxes1.new_empty((rows, cols))
        step = max(1, self.chunk_elements // cols)
        for start in range(0, rows, step):
            block = gaussian_distance(bboxes1[start:start + step], bboxes2, mode, False, self.eps)
            out[start:start + step] = rf_similarity(block)
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(eps={self.eps}, chunk_elements={self.chunk_elements})'
