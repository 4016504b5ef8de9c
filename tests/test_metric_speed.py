"""The metric bench runs end to end on small sets and reports identical backends."""
import re

from srtod.bench.metric_speed import main, sparse_result_set, synthetic_result_set


def test_result_sets_shape():
    gt, dets = synthetic_result_set(images=5, dets_per_image=150, seed=1)
    assert len(gt['images']) == 5 and len(dets) == 5 * 150
    per_image = {i: int((dets.image_id == i).sum()) for i in range(1, 6)}
    assert set(per_image.values()) == {150}
    sizes = [(a['bbox'][2] * a['bbox'][3]) ** .5 for a in gt['annotations']]
    assert 5 < sum(sizes) / len(sizes) < 11  # DroneSwarms-like: about 8 px
    gt, dets = sparse_result_set(95, categories=10)
    assert len(gt['annotations']) == 95 and 95 <= len(dets) <= 190
    units = set(zip(dets.image_id.tolist(), dets.category_id.tolist()))
    assert len(units) == 95


def test_bench_prints_times_ratios_and_zero_difference(capsys):
    assert main(['--sparse', '300', '--dense', '4', '--dets', '100', '--process-images', '6',
                 '--reference-images', '3', '--repeats', '1']) == 0
    out = capsys.readouterr().out
    rows = re.findall(r'^\s+\d+\s+\d+\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+x\s+[0-9.]+\s+(\S+)$', out, re.M)
    assert rows == ['0', '0']  # numpy and faster-coco-eval agree on both sweeps
    assert 'EXTRAPOLATED: measured on the first 3 images' in out and 'x 6/3' in out
    assert re.search(r'evaluation alone [0-9.]+x, whole process [0-9.]+x', out)
    assert '(equal to the in-memory evaluation)' in out and '(equal)' in out
