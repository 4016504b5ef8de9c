"""Gaussian box distances of RFLA against closed forms and an independent oracle."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from srtod.models.rfla import BboxDistanceMetric, gaussian_distance, rf_similarity

EPS = 1e-6


def _mvn(box):
    """The Gaussian of a box, as a full-covariance torch distribution (the oracle)."""
    box = box.double()
    w, h = box[2] - box[0] + EPS, box[3] - box[1] + EPS
    centre = (box[:2] + box[2:]) / 2
    return MultivariateNormal(centre, torch.diag(torch.stack([w * w / 4, h * h / 4])))


def _gjsd_oracle(box1, box2):
    p, q = _mvn(box1), _mvn(box2)
    precision = (torch.linalg.inv(p.covariance_matrix) + torch.linalg.inv(q.covariance_matrix)) / 2
    cov = torch.linalg.inv(precision)
    mean = cov @ (torch.linalg.inv(p.covariance_matrix) @ p.mean / 2
                  + torch.linalg.inv(q.covariance_matrix) @ q.mean / 2)
    g = MultivariateNormal(mean, cov)
    return 0.5 * (kl_divergence(p, g) + kl_divergence(q, g))


def _d(box1, box2, mode):
    return gaussian_distance(torch.tensor([box1], dtype=torch.float64),
                             torch.tensor([box2], dtype=torch.float64), mode=mode)[0, 0].item()


@pytest.mark.parametrize('mode', ['kl', 'wd', 'gjsd'])
def test_identical_boxes_have_zero_distance_and_similarity_one(mode):
    box = [3.0, 5.0, 9.0, 17.0]
    assert _d(box, box, mode) == pytest.approx(0.0, abs=1e-9)
    metric = BboxDistanceMetric()
    sim = metric(torch.tensor([box]), torch.tensor([box]), mode=mode)
    assert sim.shape == (1, 1)
    assert sim.item() == pytest.approx(1.0, abs=1e-6)


def test_shifted_boxes_closed_forms():
    # w = 4, h = 8, shifted by (dx, dy) = (2, -3): variances (4, 16).
    gt, moved = [0.0, 0.0, 4.0, 8.0], [2.0, -3.0, 6.0, 5.0]
    kl = 0.5 * (4 * 2**2 / 4**2 + 4 * 3**2 / 8**2)  # = 0.78125
    assert _d(gt, moved, 'kl') == pytest.approx(kl, rel=1e-6)
    assert _d(gt, moved, 'wd') == pytest.approx(2**2 + 3**2, rel=1e-6)
    # Equal covariances: the geometric mean is the midpoint Gaussian, GJSD = KL / 4.
    assert _d(gt, moved, 'gjsd') == pytest.approx(kl / 4, rel=1e-6)
    # A shift is symmetric for equal shapes.
    assert _d(moved, gt, 'kl') == pytest.approx(kl, rel=1e-6)


def test_scaled_boxes_closed_forms_and_direction():
    # Concentric: gt 4 x 4, anchor 8 x 2 (variances gt (4, 4), anchor (16, 1)).
    gt, anchor = [0.0, 0.0, 4.0, 4.0], [-2.0, 1.0, 6.0, 3.0]
    # KL(anchor || gt) = 1/2 [64/16 + 4/16 + ln(16/64) + ln(16/4) - 2] = 1.125 (logs cancel).
    assert _d(gt, anchor, 'kl') == pytest.approx(1.125, rel=1e-6)
    # The other direction, KL(gt || anchor) = 1/2 [16/64 + 16/4 + ln(64/16) + ln(4/16) - 2].
    assert _d(anchor, gt, 'kl') == pytest.approx(0.5 * (0.25 + 4 - 2), rel=1e-6)
    assert _d(gt, anchor, 'wd') == pytest.approx(((4 - 8) ** 2 + (4 - 2) ** 2) / 4, rel=1e-6)
    # Scaling both sides by s: KL(s*box || box) = s^2 - 1 - 2 ln s.
    s = 1.5
    assert _d([0.0, 0.0, 10.0, 10.0], [-2.5, -2.5, 12.5, 12.5], 'kl') == pytest.approx(
        s * s - 1 - 2 * math.log(s), rel=1e-6)


def test_random_boxes_match_full_covariance_oracle():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(12, 2, generator=gen, dtype=torch.float64) * 50
    wh = torch.rand(12, 2, generator=gen, dtype=torch.float64) * 20 + 1
    boxes = torch.cat([xy, xy + wh], dim=1)
    gts, anchors = boxes[:5], boxes[5:]
    kl = gaussian_distance(gts, anchors, mode='kl')
    gjsd = gaussian_distance(gts, anchors, mode='gjsd')
    assert kl.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            # rows are bboxes1 (gt): KL(N_anchor || N_gt), the RFLA reference direction.
            assert kl[i, j].item() == pytest.approx(
                kl_divergence(_mvn(anchors[j]), _mvn(gts[i])).item(), rel=1e-9)
            assert gjsd[i, j].item() == pytest.approx(_gjsd_oracle(gts[i], anchors[j]).item(),
                                                      rel=1e-7)
    # Similarities are 1 / (1 + d), and decrease with the distance.
    sim = BboxDistanceMetric()(gts.float(), anchors.float(), mode='kl')
    torch.testing.assert_close(sim, rf_similarity(kl).float(), rtol=1e-5, atol=1e-6)
    assert ((sim > 0) & (sim <= 1)).all()


def test_aligned_and_overlap_modes_and_empty_inputs():
    from mmdet.models.task_modules import BboxOverlaps2D
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(6, 2, generator=gen) * 30
    boxes = torch.cat([xy, xy + torch.rand(6, 2, generator=gen) * 10 + 1], dim=1)
    a, b = boxes[:3], boxes[3:]
    metric = BboxDistanceMetric()
    for mode in ('kl', 'wd', 'gjsd', 'iou'):
        aligned = metric(a, b, mode=mode, is_aligned=True)
        torch.testing.assert_close(aligned, metric(a, b, mode=mode).diagonal())
    torch.testing.assert_close(metric(a, b, mode='iou'), BboxOverlaps2D()(a, b))
    torch.testing.assert_close(metric(a, b, mode='iof'), BboxOverlaps2D()(a, b, mode='iof'))
    # A trailing score column is dropped.
    scored = torch.cat([b, torch.ones(3, 1)], dim=1)
    torch.testing.assert_close(metric(a, scored, mode='kl'), metric(a, b, mode='kl'))
    # Blocks of rows give the same matrix.
    for mode in ('kl', 'wd', 'gjsd'):
        torch.testing.assert_close(BboxDistanceMetric(chunk_elements=4)(boxes, a, mode=mode),
                                   metric(boxes, a, mode=mode))
    assert metric(a, torch.zeros(0, 4), mode='kl').shape == (3, 0)
    assert metric(torch.zeros(0, 4), b, mode='wd').shape == (0, 3)
    with pytest.raises(ValueError, match='mode'):
        metric(a, b, mode='kld')
