"""Hierarchical label assignment (HLA) of RFLA (Xu et al., ECCV 2022, Sec. 3.3).

Priors are ranked per ground truth by the receptive-field-distance similarity
(``BboxDistanceMetric``, ``1 / (1 + KL)`` by default) and assigned in two stages:

1. On the priors as generated: a prior whose best similarity over the ground truths is below
   ``ignore_sim_thr`` (0.8, hard-coded in the reference) is negative; the ``topk[0]`` most
   similar priors of each ground truth are positive for it (every prior tied with them too);
   any other prior (best similarity >= 0.8, not picked) is ignored.
2. The priors are shrunk about their centres by ``ratio`` (the radius decay, 0.9) and the
   similarities recomputed; the same rule with ``topk[1]`` decides every prior that stage 1 left
   negative or ignored. Stage 1's positives are kept. ``max_overlaps`` are stage 2's.

The stage-2 rule mainly gives a positive to ground truths that are far from every prior, so
that every tiny object gets at least one positive sample.

Decisions where this code departs from, or makes explicit, the reference code (R:
mmdet/core/bbox/assigners/hierarchical_assigner.py, identical in SR-TOD's code):

- A prior picked by several ground truths goes to the one it is most similar to (the reference
  gives it to the last ground truth in annotation order).
- Ignored regions (``gt_instances_ignore`` with ``ignore_iof_thr > 0``) are ignored in both
  stages (the reference masks stage 1 only, so stage 2 could label them).
- The reference shrinks ``pred_instances.priors`` *in place*, so mmdet's ``AnchorHead`` then
  encodes the regression targets against the shrunk priors while inference decodes against the
  unshrunk ones (proposals come out about 1 / 0.9 too large); that does not happen when the
  assignment is moved to the CPU (more than ``gpu_assign_thr`` ground truths).
  ``shrink_priors_inplace=True`` reproduces this, including the CPU exception, and is what the
  RFLA model config sets, since RFLA's and SR-TOD's published numbers were trained with it. The
  default ``False`` leaves the priors untouched.
"""
from __future__ import annotations

from typing import Sequence

import torch
from mmdet.models.task_modules.assigners import AssignResult, BaseAssigner
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import BaseBoxes, get_box_tensor
from mmengine.structures import InstanceData
from torch import Tensor


def shrink_boxes(bboxes: Tensor, ratio: float) -> Tensor:
    """Boxes ``(..., 4)`` scaled by ``ratio`` about their centres (a new tensor)."""
    centre = (bboxes[..., :2] + bboxes[..., 2:]) / 2
    half = (bboxes[..., 2:] - bboxes[..., :2]) * (ratio / 2)
    return torch.cat([centre - half, centre + half], dim=-1)


def rank_assign(similarity: Tensor, k: int, ignore_sim_thr: float) -> Tensor:
    """One stage of HLA on a ``(num_gts, num_priors)`` similarity matrix.

    Args:
        similarity: similarities in [0, 1]; -1 marks priors to ignore.
        k: number of priors each ground truth takes (with ties, possibly more).
        ignore_sim_thr: priors whose best similarity is >= this and that no ground truth
            takes are ignored instead of negative.

    Returns:
        Tensor: ``(num_priors,)`` long: -1 ignored, 0 negative, i + 1 positive for gt i.
    """
    num_gts, num_priors = similarity.shape
    gt_inds = similarity.new_full((num_priors,), -1, dtype=torch.long)
    max_sim, _ = similarity.max(dim=0)
    gt_inds[(max_sim >= 0) & (max_sim < ignore_sim_thr)] = 0
    kth = similarity.topk(min(k, num_priors), dim=1).values[:, -1:]
    # A prior is among a gt's top-k, ties included, iff its similarity reaches the k-th value.
    # The (gt, prior) pairs are few (about k per gt), so they are resolved sparsely: each picked
    # prior goes to its most similar picking gt, the lowest index on a tie.
    gt_idx, prior_idx = (similarity >= kth).nonzero(as_tuple=True)
    sims = similarity[gt_idx, prior_idx]
    best = similarity.new_full((num_priors,), float('-inf')).scatter_reduce(
        0, prior_idx, sims, reduce='amax')
    wins = sims == best[prior_idx]
    choice = gt_inds.new_full((num_priors,), num_gts).scatter_reduce(
        0, prior_idx[wins], gt_idx[wins], reduce='amin')
    positive = choice < num_gts
    gt_inds[positive] = choice[positive] + 1
    return gt_inds


@TASK_UTILS.register_module()
class HieAssigner(BaseAssigner):
    """RFLA's hierarchical label assigner (see the module docstring), mmdet 3 assigner API.

    Args:
        ignore_iof_thr: IoF above which a prior overlapping an ignored region is ignored;
            negative disables it (the RFLA configs use -1).
        ignore_wrt_candidates: compute the IoF over the priors (True) or over the ignored
            boxes (False), as mmdet's ``MaxIoUAssigner``.
        gpu_assign_thr: above this many ground truths the assignment runs on the CPU;
            negative: never (512 in the RFLA configs).
        iou_calculator: config of the similarity calculator, ``BboxDistanceMetric``.
        assign_metric: ``mode`` passed to the calculator: 'kl' (paper), 'wd', 'gjsd', 'iou'.
        topk: priors per ground truth in stage 1 and stage 2 (``[3, 1]`` in the paper).
        ratio: prior shrink factor of stage 2 (0.9 in the paper).
        ignore_sim_thr: best-similarity threshold between negative and ignored (0.8).
        shrink_priors_inplace: reproduce the reference's side effect of handing the shrunk
            priors back to the head (``pred_instances.priors`` is replaced), unless the
            assignment ran on the CPU.
    """

    def __init__(self,
                 ignore_iof_thr: float = -1,
                 ignore_wrt_candidates: bool = True,
                 gpu_assign_thr: int = -1,
                 iou_calculator: dict = dict(type='BboxDistanceMetric'),
                 assign_metric: str = 'kl',
                 topk: Sequence[int] = (3, 1),
                 ratio: float = 0.9,
                 ignore_sim_thr: float = 0.8,
                 shrink_priors_inplace: bool = False) -> None:
        if len(topk) != 2 or min(topk) < 1:
            raise ValueError(f'HieAssigner: topk must be two positive integers, got {topk}')
        if not ratio > 0:
            raise ValueError(f'HieAssigner: ratio must be > 0, got {ratio}')
        self.ignore_iof_thr = ignore_iof_thr
        self.ignore_wrt_candidates = ignore_wrt_candidates
        self.gpu_assign_thr = gpu_assign_thr
        self.iou_calculator = TASK_UTILS.build(iou_calculator)
        self.assign_metric = assign_metric
        self.topk = tuple(int(k) for k in topk)
        self.ratio = float(ratio)
        self.ignore_sim_thr = float(ignore_sim_thr)
        self.shrink_priors_inplace = shrink_priors_inplace

    def _ignored(self, priors: Tensor, gt_bboxes_ignore: Tensor | None) -> Tensor | None:
        """Mask ``(num_priors,)`` of priors inside ignored regions, or None."""
        if (self.ignore_iof_thr <= 0 or gt_bboxes_ignore is None
                or gt_bboxes_ignore.numel() == 0 or priors.numel() == 0):
            return None
        if self.ignore_wrt_candidates:
            iof = self.iou_calculator(priors, gt_bboxes_ignore, mode='iof').max(dim=1).values
        else:
            iof = self.iou_calculator(gt_bboxes_ignore, priors, mode='iof').max(dim=0).values
        return iof > self.ignore_iof_thr

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               gt_instances_ignore: InstanceData | None = None,
               **kwargs) -> AssignResult:
        """Assign a ground truth, the background or "ignore" to each prior.

        Args:
            pred_instances: ``priors`` ``(n, 4)``: the anchors or receptive-field priors.
            gt_instances: ``bboxes`` ``(k, 4)`` and ``labels`` ``(k,)``.
            gt_instances_ignore: optional ``bboxes`` of regions to ignore.

        Returns:
            AssignResult: ``gt_inds`` (-1 ignored, 0 negative, i + 1 for gt i),
            ``max_overlaps`` (stage-2 best similarity) and ``labels`` (-1 unless positive).
        """
        raw_priors = pred_instances.priors
        priors = get_box_tensor(raw_priors)
        gt_bboxes = get_box_tensor(gt_instances.bboxes)
        gt_labels = gt_instances.labels
        gt_bboxes_ignore = None
        if gt_instances_ignore is not None and 'bboxes' in gt_instances_ignore:
            gt_bboxes_ignore = get_box_tensor(gt_instances_ignore.bboxes)
        num_gts, num_priors = gt_bboxes.size(0), priors.size(0)

        device = priors.device
        on_cpu = 0 < self.gpu_assign_thr < num_gts
        if on_cpu:
            priors, gt_bboxes, gt_labels = priors.cpu(), gt_bboxes.cpu(), gt_labels.cpu()
            if gt_bboxes_ignore is not None:
                gt_bboxes_ignore = gt_bboxes_ignore.cpu()
        shrunk = shrink_boxes(priors, self.ratio)

        if num_gts == 0 or num_priors == 0:
            gt_inds = priors.new_zeros((num_priors,), dtype=torch.long)  # all background
            max_overlaps = priors.new_zeros((num_priors,))
        else:
            ignored = self._ignored(priors, gt_bboxes_ignore)
            stages = []
            # One (num_gts, num_priors) matrix at a time: they are large on crowded images.
            for boxes, k in ((priors, self.topk[0]), (shrunk, self.topk[1])):
                sim = self.iou_calculator(gt_bboxes, boxes, mode=self.assign_metric)
                if ignored is not None:
                    sim[:, ignored] = -1
                stages.append(rank_assign(sim, k, self.ignore_sim_thr))
            gt_inds = torch.where(stages[0] > 0, stages[0], stages[1])
            max_overlaps = sim.max(dim=0).values  # stage 2's
            del sim
        labels = gt_inds.new_full((num_priors,), -1)
        positive = gt_inds > 0
        labels[positive] = gt_labels[gt_inds[positive] - 1].long()

        if self.shrink_priors_inplace and not on_cpu:
            pred_instances.priors = (type(raw_priors)(shrunk)
                                     if isinstance(raw_priors, BaseBoxes) else shrunk)
        return AssignResult(num_gts, gt_inds.to(device), max_overlaps.to(device),
                            labels=labels.to(device))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(assign_metric={self.assign_metric!r}, '
                f'topk={list(self.topk)}, ratio={self.ratio}, '
                f'ignore_sim_thr={self.ignore_sim_thr}, ignore_iof_thr={self.ignore_iof_thr}, '
                f'gpu_assign_thr={self.gpu_assign_thr}, '
                f'shrink_priors_inplace={self.shrink_priors_inplace})')
