"""RFLA's hierarchical label assigner: the HLA rules, ignore handling, and tiny-object coverage."""
import pytest
import torch
from mmdet.models.task_modules import AnchorGenerator, MaxIoUAssigner, anchor_inside_flags
from mmdet.registry import TASK_UTILS
from mmengine.structures import InstanceData

from srtod.models.rfla import HieAssigner, RFGenerator, rank_assign, shrink_boxes


def _gts(boxes, labels=None):
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    labels = torch.zeros(len(boxes), dtype=torch.long) if labels is None else torch.tensor(labels)
    return InstanceData(bboxes=boxes, labels=labels)


def test_rank_assign_rules():
    sim = torch.tensor([
        [0.90, 0.50, 0.40, 0.40, 0.10, 0.85],
        [0.05, 0.45, 0.10, 0.20, 0.30, 0.20],
    ])
    inds = rank_assign(sim, k=2, ignore_sim_thr=0.8)
    # gt 0 takes its top-2: 0.90 and 0.85. gt 1 takes 0.45 (prior 1) and 0.30 (prior 4).
    # Prior 2 and 3 have best similarity < 0.8: negative. Nothing is left ignored.
    assert inds.tolist() == [1, 2, 0, 0, 2, 1]
    # Ties with the k-th value are all taken; a prior picked by two gts goes to the more similar.
    sim = torch.tensor([[0.5, 0.5, 0.5, 0.1, 0.82], [0.1, 0.6, 0.2, 0.3, 0.0]])
    inds = rank_assign(sim, k=1, ignore_sim_thr=0.8)
    # gt 0: top-1 is 0.82 (prior 4); gt 1: prior 1. Prior 0, 2, 3 negative.
    assert inds.tolist() == [0, 2, 0, 0, 1]
    inds = rank_assign(sim, k=3, ignore_sim_thr=0.8)
    # gt 0: 0.82 and the three tied 0.5s (priors 0-2); gt 1: 0.6, 0.3, 0.2 (priors 1, 3, 2).
    # Prior 1 is 0.5-similar to gt 0 and 0.6 to gt 1: gt 1. Prior 2: 0.5 vs 0.2: gt 0.
    assert inds.tolist() == [1, 2, 1, 2, 1]
    # Equally similar to two picking gts: the lower index wins.
    sim = torch.tensor([[0.7, 0.1], [0.7, 0.2]])
    assert rank_assign(sim, k=1, ignore_sim_thr=0.8).tolist() == [1, 0]
    # An unpicked prior with best similarity >= 0.8 is ignored (-1); so is a prior marked -1
    # (an ignored region) for every gt.
    sim = torch.tensor([[0.95, 0.9, 0.85, 0.2, 0.1, -1.0], [0.0, 0.05, 0.0, 0.3, -1.0, -1.0]])
    assert rank_assign(sim, k=1, ignore_sim_thr=0.8).tolist() == [1, -1, -1, 2, 0, -1]


def test_two_stages_on_hand_picked_priors():
    # Priors: a 4x4 box on a 2x2 gt, a 16x16 box around it, a far 4x4 box, and a 12x12 box
    # near a second gt that no prior covers closely.
    priors = torch.tensor([[8., 8., 12., 12.], [2., 2., 18., 18.], [40., 40., 44., 44.],
                           [58., 58., 70., 70.]])
    gts = _gts([[9., 9., 11., 11.], [60., 60., 62., 62.]], labels=[3, 5])
    assigner = HieAssigner(topk=(1, 1), ratio=0.5)
    result = assigner.assign(InstanceData(priors=priors.clone()), gts)
    # Stage 1 (top-1): gt 0 -> prior 0, gt 1 -> prior 3 (its closest). Priors 1, 2 negative.
    assert result.gt_inds.tolist() == [1, 0, 0, 2]
    assert result.labels.tolist() == [3, -1, -1, 5]
    assert result.num_gts == 2
    # max_overlaps are the stage-2 similarities (priors shrunk by 0.5) computed by hand.
    metric = TASK_UTILS.build(dict(type='BboxDistanceMetric'))
    expected = metric(gts.bboxes, shrink_boxes(priors, 0.5), mode='kl').max(dim=0).values
    torch.testing.assert_close(result.max_overlaps, expected)
    # Prior 0 shrunk by 0.5 is the 2x2 gt exactly: similarity 1.
    assert result.max_overlaps[0].item() == pytest.approx(1.0, abs=1e-5)


def test_stage_two_only_fills_non_positives():
    # Stage 1 gives gt 0 its top-1 (prior 0). Stage 2 (shrunk priors) prefers prior 1 for gt 0;
    # prior 0 stays positive and prior 1 becomes positive too.
    priors = torch.tensor([[0., 0., 10., 10.], [-2., -2., 12., 12.], [50., 50., 60., 60.]])
    gts = _gts([[1., 1., 9., 9.]])
    assigner = HieAssigner(topk=(1, 1), ratio=0.6)
    sim1 = assigner.iou_calculator(gts.bboxes, priors, mode='kl')
    sim2 = assigner.iou_calculator(gts.bboxes, shrink_boxes(priors, 0.6), mode='kl')
    assert sim1.argmax().item() == 0 and sim2.argmax().item() == 1
    result = assigner.assign(InstanceData(priors=priors), gts)
    assert result.gt_inds.tolist() == [1, 1, 0]


def test_no_gt_no_priors_and_ignored_regions():
    priors = torch.tensor([[0., 0., 8., 8.], [20., 20., 28., 28.], [40., 40., 48., 48.]])
    assigner = HieAssigner(topk=(1, 1), ignore_iof_thr=0.5)
    empty = assigner.assign(InstanceData(priors=priors), _gts([]))
    assert empty.gt_inds.tolist() == [0, 0, 0]
    assert empty.labels.tolist() == [-1, -1, -1]
    none = assigner.assign(InstanceData(priors=torch.zeros(0, 4)), _gts([[0., 0., 4., 4.]]))
    assert none.gt_inds.numel() == 0
    # The ignored region covers prior 1: it is ignored in both stages, even though it would be
    # gt 0's top-1 prior otherwise; the gt then takes the next prior.
    gts = _gts([[21., 21., 27., 27.]])
    ignore = InstanceData(bboxes=torch.tensor([[18., 18., 30., 30.]]))
    plain = assigner.assign(InstanceData(priors=priors), gts)
    assert plain.gt_inds[1].item() == 1
    masked = assigner.assign(InstanceData(priors=priors), gts, ignore)
    assert masked.gt_inds[1].item() == -1
    assert (masked.gt_inds[[0, 2]] > 0).any()


def test_prior_shrinking_side_effect_and_cpu_path():
    priors = torch.tensor([[0., 0., 10., 10.], [20., 20., 40., 30.]])
    gts = _gts([[2., 2., 8., 8.], [22., 22., 36., 28.]])
    kept = InstanceData(priors=priors.clone())
    HieAssigner(ratio=0.9).assign(kept, gts)
    torch.testing.assert_close(kept.priors, priors)
    shrunk = InstanceData(priors=priors.clone())
    result = HieAssigner(ratio=0.9, shrink_priors_inplace=True).assign(shrunk, gts)
    torch.testing.assert_close(shrunk.priors,
                               torch.tensor([[0.5, 0.5, 9.5, 9.5], [21., 20.5, 39., 29.5]]))
    # More gts than gpu_assign_thr: assigned on a CPU copy, priors untouched (as the reference),
    # same assignment.
    offloaded = InstanceData(priors=priors.clone())
    cpu = HieAssigner(ratio=0.9, shrink_priors_inplace=True, gpu_assign_thr=1).assign(
        offloaded, gts)
    torch.testing.assert_close(offloaded.priors, priors)
    assert cpu.gt_inds.tolist() == result.gt_inds.tolist()


def _tiny_scene(seed=0, image=128, cell=32, margin=8):
    """One gt of 2-8 px per 32-px cell, at a random place inside the cell."""
    gen = torch.Generator().manual_seed(seed)
    boxes = []
    for y0 in range(0, image, cell):
        for x0 in range(0, image, cell):
            w, h = (torch.randint(2, 9, (2,), generator=gen)).tolist()
            x = x0 + margin + torch.rand(1, generator=gen).item() * (cell - 2 * margin - w)
            y = y0 + margin + torch.rand(1, generator=gen).item() * (cell - 2 * margin - h)
            boxes.append([x, y, x + w, y + h])
    return torch.tensor(boxes)


def _inside_priors(generator, image):
    sizes = [(image // s, image // s) for s in (4, 8, 16, 32, 64)]
    priors = torch.cat(generator.grid_priors(sizes, device='cpu'))
    flags = torch.cat(generator.valid_flags(sizes, (image, image), device='cpu'))
    # The RPN keeps priors inside the image (train_cfg.rpn.allowed_border = 0).
    return priors[anchor_inside_flags(priors, flags, (image, image), allowed_border=0)]


def _num_uncovered(result, num_gts):
    covered = set(result.gt_inds[result.gt_inds > 0].tolist())
    return num_gts - len(covered)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_every_tiny_gt_gets_a_positive_unlike_max_iou(seed):
    image = 128
    gts = _gts(_tiny_scene(seed, image))
    sides = gts.bboxes[:, 2:] - gts.bboxes[:, :2]
    assert sides.min() >= 2 and sides.max() <= 8
    rf_priors = _inside_priors(RFGenerator(strides=[4, 8, 16, 32, 64], fpn_layer='p2'), image)
    hla = TASK_UTILS.build(dict(type='HieAssigner', iou_calculator=dict(type='BboxDistanceMetric'),
                                assign_metric='kl', topk=[3, 1], ratio=0.9))
    result = hla.assign(InstanceData(priors=rf_priors), gts)
    assert _num_uncovered(result, len(gts)) == 0
    # Each gt gets at least its 3 stage-1 priors (the scene has no neighbours to compete).
    counts = torch.bincount(result.gt_inds[result.gt_inds > 0], minlength=len(gts) + 1)[1:]
    assert counts.min().item() >= 3

    max_iou = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                             match_low_quality=True, ignore_iof_thr=-1)
    for scale in (2, 8):  # the paper's DroneSwarms anchor scale, and mmdet's default
        anchors = _inside_priors(AnchorGenerator(strides=[4, 8, 16, 32, 64], ratios=[0.5, 1, 2],
                                                 scales=[scale]), image)
        baseline = max_iou.assign(InstanceData(priors=anchors), gts)
        assert _num_uncovered(baseline, len(gts)) > 0, f'scale {scale}'


def _reference_rules(sim1, sim2, topk, thr=0.8):
    """HLA as docs/sources.md ("RFLA") states it, with per-gt loops (last gt wins a prior)."""
    def stage(sim, k):
        inds = torch.full((sim.shape[1],), -1, dtype=torch.long)
        best = sim.max(dim=0).values
        inds[(best >= 0) & (best < thr)] = 0
        values = sim.topk(k, dim=1).values
        for i in range(sim.shape[0]):
            for j in range(k):
                inds[sim[i] == values[i, j]] = i + 1
        return inds
    first = stage(sim1, topk[0])
    second = stage(sim2, topk[1])
    return torch.where(first > 0, first, second)


@pytest.mark.parametrize('cell', [32, 12])
def test_matches_reference_rules_where_no_prior_is_contested(cell):
    image = 128
    gts = _gts(_tiny_scene(3, image, cell=cell, margin=2))
    priors = _inside_priors(RFGenerator(strides=[4, 8, 16, 32, 64], fpn_layer='p2'), image)
    assigner = HieAssigner(topk=(3, 1), ratio=0.9)
    ours = assigner.assign(InstanceData(priors=priors), gts).gt_inds
    metric = assigner.iou_calculator
    sim1 = metric(gts.bboxes, priors, mode='kl')
    sim2 = metric(gts.bboxes, shrink_boxes(priors, 0.9), mode='kl')
    reference = _reference_rules(sim1, sim2, (3, 1))
    # Contested priors: among the top-k of several gts, in either stage.
    contested = torch.zeros(len(priors), dtype=torch.bool)
    for sim, k in ((sim1, 3), (sim2, 1)):
        picked = sim >= sim.topk(k, dim=1).values[:, -1:]
        contested |= picked.sum(dim=0) > 1
    assert torch.equal(ours[~contested], reference[~contested])
    if cell == 32:
        assert not contested.any()  # sparse scene: identical everywhere
    else:
        # Crowded scene: a prior picked in stage 1 goes to the most similar of the gts that
        # picked it (the reference gives it to the last of them).
        assert contested.any()
        picked = sim1 >= sim1.topk(3, dim=1).values[:, -1:]
        chosen = picked.any(dim=0)
        expected = sim1.masked_fill(~picked, -2).argmax(dim=0) + 1
        assert torch.equal(ours[chosen], expected[chosen])
        assert (ours[contested] != reference[contested]).any()
