"""The metric bench runs end to end on a small set and reports identical backends."""
import re

from srtod.bench.metric_speed import main, synthetic_result_set


def test_result_set_shape():
    gt, dets = synthetic_result_set(images=5, dets_per_image=150, seed=1)
    assert len(gt['images']) == 5 and len(dets) == 5 * 150
    per_image = {i: int((dets.image_id == i).sum()) for i in range(1, 6)}
    assert set(per_image.values()) == {150}
    sizes = [(a['bbox'][2] * a['bbox'][3]) ** .5 for a in gt['annotations']]
    assert 5 < sum(sizes) / len(sizes) < 11  # DroneSwarms-like: about 8 px


def test_bench_prints_times_ratio_and_zero_difference(capsys):
    assert main(['--images', '6', '--dets', '150', '--reference-images', '3']) == 0
    out = capsys.readouterr().out
    assert 'EXTRAPOLATED: measured' in out and 'x 6/3' in out
    assert re.search(r'faster-coco-eval [0-9.]+x, numpy [0-9.]+x', out)
    assert re.search(r'on the subset 0, faster-coco-eval vs numpy on the full set 0 ', out)
