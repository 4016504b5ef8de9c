"""Speed of the AI-TOD metric: srtod's numpy backend against faster-coco-eval and pycocotools.

Printed (never asserted), on synthetic sets built in memory:

1. Sparse units: 2k to 100k (image, category) units of 1-2 detections and one box each (10
   categories); numpy vs faster-coco-eval (the project's backend, fed from arrays). The time per
   unit shows whether the cost grows linearly.
2. Dense units: 300 to 2,532 images of 1920x1080 px x 1,500 detections (DroneSwarms-like: about
   26.6 drones of about 8 px per image, 0-3 jittered detections per drone, low-scoring background
   detections); numpy vs faster-coco-eval.
3. Whole process at 1,000 images x 1,500 detections: ``srtod eval`` (``python -m srtod.cli eval``)
   against a plain pycocotools script (``COCO``, ``loadRes``, ``COCOeval`` with the AI-TOD
   parameters), each a fresh process on the same json files; and the evaluation step alone
   (arrays in memory for numpy; pycocotools' ``evaluate`` + ``accumulate`` inside its process).
   pycocotools takes minutes at this size, so by default it runs on the first
   ``--reference-images`` images and its times are scaled linearly to the full size; the output
   says so. ``--reference-images 0`` measures it on the full set.

Every comparison also prints the largest difference of the metrics (percent points).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: plain pycocotools as a user runs it on two json files; prints its times and metrics as JSON.
PYCOCOTOOLS_SCRIPT = r'''
import contextlib, io, json, sys, time
import numpy as np
t0 = time.perf_counter()
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    dt = gt.loadRes(sys.argv[2])
    t1 = time.perf_counter()
    ev = COCOeval(gt, dt, 'bbox')
    ev.params.maxDets = [100, 300, 1500]
    ev.params.areaRng = [[0, 1e10], [0, 64], [64, 256], [256, 1024], [1024, 1e10]]
    ev.params.areaRngLbl = ['all', 'verytiny', 'tiny', 'small', 'medium']
    ev.evaluate()
    ev.accumulate()
t2 = time.perf_counter()
s = ev.eval['precision'][:, :, :, 0, 2]
print(json.dumps({'load_s': t1 - t0, 'eval_s': t2 - t1, 'AP': float(np.mean(s[s > -1]) * 100)}))
'''


def synthetic_result_set(images: int = 2532, dets_per_image: int = 1500, seed: int = 0,
                         width: int = 1920, height: int = 1080):
    """(ground-truth COCO dict, Detections) of a DroneSwarms-sized evaluation."""
    from srtod.evaluation.backends import Detections
    rng = np.random.default_rng(seed)
    n_gt = rng.poisson(26.59, images)
    img_of_gt = np.repeat(np.arange(1, images + 1), n_gt)
    g = len(img_of_gt)
    size = np.clip(np.exp(rng.normal(np.log(8) - .1, .45, g)), 2, 60)
    aspect = rng.uniform(.7, 1.4, g)
    gw, gh = size * np.sqrt(aspect), size / np.sqrt(aspect)
    gx, gy = rng.uniform(0, width - gw), rng.uniform(0, height - gh)
    gt_boxes = np.round(np.stack([gx, gy, gw, gh], 1), 2)
    gt_boxes[:, 0] = np.minimum(gt_boxes[:, 0], width - gt_boxes[:, 2])  # inside after rounding
    gt_boxes[:, 1] = np.minimum(gt_boxes[:, 1], height - gt_boxes[:, 3])
    anns = [{'id': i + 1, 'image_id': int(img_of_gt[i]), 'category_id': 1,
             'bbox': gt_boxes[i].tolist(), 'area': float(gt_boxes[i, 2] * gt_boxes[i, 3]),
             'iscrowd': 0} for i in range(g)]
    gt = {'images': [{'id': i, 'file_name': f'{i:06d}.jpg', 'width': width, 'height': height}
                     for i in range(1, images + 1)],
          'annotations': anns, 'categories': [{'id': 1, 'name': 'drone'}]}
    # true-positive-like detections: 0-3 per drone, jittered
    k = rng.choice(4, g, p=[.15, .45, .3, .1])
    src = np.repeat(np.arange(g), k)
    jit = rng.normal(0, .15, (len(src), 4)) * np.repeat(size, k)[:, None]
    tp = gt_boxes[src] + jit
    tp[:, 2:] = np.maximum(tp[:, 2:], 1.0)
    tp_img = img_of_gt[src]
    tp_score = rng.beta(5, 2, len(src))
    # background detections fill each image up to dets_per_image
    per_img_tp = np.bincount(tp_img, minlength=images + 1)[1:]
    n_bg = np.maximum(dets_per_image - per_img_tp, 0)
    bg_img = np.repeat(np.arange(1, images + 1), n_bg)
    b = len(bg_img)
    bs = np.clip(np.exp(rng.normal(np.log(10), .6, b)), 2, 100)
    bg = np.stack([rng.uniform(0, width - bs), rng.uniform(0, height - bs), bs,
                   bs * rng.uniform(.7, 1.4, b)], 1)
    bg_score = rng.beta(1, 6, b)
    img = np.concatenate([tp_img, bg_img])
    order = np.argsort(img, kind='stable')
    dets = Detections(image_id=img[order].astype(np.int64),
                      category_id=np.ones(len(img), np.int64),
                      bbox=np.round(np.concatenate([tp, bg])[order], 2),
                      score=np.round(np.concatenate([tp_score, bg_score])[order], 4))
    return gt, dets


def sparse_result_set(units: int, categories: int = 10, seed: int = 0):
    """(ground-truth COCO dict, Detections) with ``units`` (image, category) units, each of one
    box and 1-2 detections (one near the box, half of the units a second one anywhere)."""
    from srtod.evaluation.backends import Detections
    rng = np.random.default_rng(seed)
    images = -(-units // categories)
    W = H = 512
    img = np.repeat(np.arange(1, images + 1), categories)[:units]
    cat = np.tile(np.arange(1, categories + 1), images)[:units]
    s = rng.uniform(4, 40, units)
    box = np.round(np.stack([rng.uniform(0, W - s), rng.uniform(0, H - s), s, s], 1), 2)
    box[:, :2] = np.minimum(box[:, :2], W - box[:, 2:])
    gt = {'images': [{'id': i, 'file_name': f'{i:06d}.jpg', 'width': W, 'height': H}
                     for i in range(1, images + 1)],
          'categories': [{'id': c, 'name': f'class{c}'} for c in range(1, categories + 1)],
          'annotations': [{'id': i + 1, 'image_id': int(img[i]), 'category_id': int(cat[i]),
                           'bbox': box[i].tolist(), 'area': float(box[i, 2] * box[i, 3]),
                           'iscrowd': 0} for i in range(units)]}
    near = box + rng.normal(0, .1, (units, 4)) * s[:, None]
    near[:, 2:] = np.maximum(near[:, 2:], 1)
    second = rng.random(units) < .5
    far = np.stack([rng.uniform(0, W, units), rng.uniform(0, H, units), s, s], 1)[second]
    order = np.argsort(np.r_[np.arange(units), np.flatnonzero(second)], kind='stable')
    dets = Detections(image_id=np.r_[img, img[second]][order].astype(np.int64),
                      category_id=np.r_[cat, cat[second]][order].astype(np.int64),
                      bbox=np.r_[near, far][order],
                      score=np.round(rng.random(units + int(second.sum())), 3)[order])
    return gt, dets


def _timed(fn, repeats: int = 1):
    """(result, smallest wall time over ``repeats`` calls)."""
    best, out = float('inf'), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def _diff(a: dict, b: dict) -> float:
    return max((abs(a[k] - b[k]) for k in a if not (np.isnan(a[k]) and np.isnan(b[k]))),
               default=0.0)


def _compare(gt_dict, dets, repeats: int) -> tuple[float, float, float]:
    """(numpy s, faster-coco-eval s, largest difference) on one set; the ground-truth index of
    both is built before the timing (it is built once per file in use)."""
    from srtod.evaluation.backends import GroundTruth, evaluate
    gt = GroundTruth(gt_dict)
    gt.boxes()
    gt.coco('faster-coco-eval')
    gt.unit_arrays(sorted(set(gt.image_ids)), sorted(set(gt.category_ids())))
    own, t_own = _timed(lambda: evaluate(gt, dets, backend='numpy'), repeats)
    fast, t_fast = _timed(lambda: evaluate(gt, dets, backend='faster-coco-eval'), 1)
    return t_own, t_fast, _diff(own, fast)


def _subset(gt: dict, dets, n: int):
    from srtod.evaluation.backends import Detections
    keep = set(range(1, n + 1))
    sub = dict(gt, images=[im for im in gt['images'] if im['id'] in keep],
               annotations=[a for a in gt['annotations'] if a['image_id'] in keep])
    m = dets.image_id <= n
    return sub, Detections(dets.image_id[m], dets.category_id[m], dets.bbox[m], dets.score[m])


def _write(folder: Path, gt: dict, dets) -> tuple[Path, Path]:
    import msgspec
    gt_path, dt_path = folder / 'gt.json', folder / 'dt.json'
    gt_path.write_bytes(msgspec.json.encode(gt))
    img, cat, box, score = (dets.image_id.tolist(), dets.category_id.tolist(),
                            dets.bbox.tolist(), dets.score.tolist())
    dt_path.write_bytes(msgspec.json.encode(
        [{'image_id': img[i], 'category_id': cat[i], 'bbox': box[i], 'score': score[i]}
         for i in range(len(img))]))
    return gt_path, dt_path


def _process(cmd: list[str]) -> tuple[str, float]:
    """(stdout, wall time) of a fresh process; its failure raises."""
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])  # the repository root
    wall = time.perf_counter() - t
    if out.returncode:
        raise RuntimeError(f'{" ".join(cmd[:4])} ... failed:\n{out.stderr[-2000:]}')
    return out.stdout, wall


def whole_process(images: int, dets_per_image: int, reference_images: int, repeats: int) -> None:
    """Part 3 of the module docstring."""
    from srtod.evaluation.backends import GroundTruth, evaluate
    gt_dict, dets = synthetic_result_set(images, dets_per_image)
    gt = GroundTruth(gt_dict)
    gt.boxes()
    own, t_eval = _timed(lambda: evaluate(gt, dets, backend='numpy'), repeats)
    n_ref = images if reference_images <= 0 else min(reference_images, images)
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, dt_path = _write(Path(tmp), gt_dict, dets)
        size_mb = dt_path.stat().st_size / 1e6
        srtod_cmd = [sys.executable, '-m', 'srtod.cli', 'eval', '--gt', str(gt_path), '--dt',
                     str(dt_path)]
        walls = []
        for _ in range(repeats):
            out, wall = _process(srtod_cmd)
            walls.append(wall)
        t_proc = min(walls)
        printed = json.loads(out)
        ref_dir = Path(tmp) / 'ref'
        ref_dir.mkdir()
        if n_ref == images:
            ref_gt, ref_dt, own_ref = gt_path, dt_path, own
        else:
            sub_gt, sub_dets = _subset(gt_dict, dets, n_ref)
            ref_gt, ref_dt = _write(ref_dir, sub_gt, sub_dets)
            own_ref = evaluate(GroundTruth(sub_gt), sub_dets, backend='numpy')
        out, py_wall = _process([sys.executable, '-c', PYCOCOTOOLS_SCRIPT, str(ref_gt),
                                 str(ref_dt)])
        ref = json.loads(out)
    scale = images / n_ref
    how = ('measured on the full set' if n_ref == images else
           f'EXTRAPOLATED: measured on the first {n_ref} images ({py_wall:.2f} s, evaluation '
           f'{ref["eval_s"]:.2f} s), x {images}/{n_ref}')
    py_proc, py_eval = py_wall * scale, ref['eval_s'] * scale
    print(f'whole process, {images} images x {dets_per_image} detections '
          f'({dt_path.name} {size_mb:.0f} MB):')
    print(f'  srtod eval (numpy):  process {t_proc:7.2f} s (best of {repeats}: '
          + ', '.join(f'{w:.2f}' for w in walls) + f'), evaluation alone {t_eval:6.2f} s')
    print(f'  pycocotools:         process {py_proc:7.2f} s, evaluation alone {py_eval:6.2f} s '
          f'({how})')
    print(f'  speed-up over pycocotools: evaluation alone {py_eval / t_eval:.1f}x, whole process '
          f'{py_proc / t_proc:.1f}x')
    print(f'  AP printed by srtod eval {printed["AP"]:.6f} '
          f'({"equal to" if printed["AP"] == own["AP"] else "NOT equal to"} the in-memory '
          f'evaluation); on the {n_ref} images pycocotools ran on: pycocotools {ref["AP"]:.6f}, '
          f'numpy {own_ref["AP"]:.6f} ({"equal" if ref["AP"] == own_ref["AP"] else "NOT equal"})')


def main(argv: list[str] | None = None) -> int:
    """Print the three parts of the module docstring."""
    ap = argparse.ArgumentParser(prog='python -m srtod.bench.metric_speed', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sparse', type=int, nargs='*', default=[2000, 10000, 30000, 100000],
                    help='numbers of (image, category) units of the sparse sweep')
    ap.add_argument('--dense', type=int, nargs='*', default=[300, 1000, 2532],
                    help='numbers of images of the dense sweep')
    ap.add_argument('--dets', type=int, default=1500, help='detections per image (dense)')
    ap.add_argument('--process-images', type=int, default=1000,
                    help='images of the whole-process comparison (0: skip it)')
    ap.add_argument('--reference-images', type=int, default=50,
                    help='images pycocotools runs on (0: all); its times are scaled linearly')
    ap.add_argument('--repeats', type=int, default=2, help='numpy / srtod eval runs (best)')
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    print(f'AI-TOD metric speed; {os.cpu_count()} cores, load average (1 min) {load:.1f} at start'
          f'; numpy: best of {args.repeats}, faster-coco-eval: one run')
    if args.sparse:
        print('sparse units (1 box, 1-2 detections each; 10 categories):')
        print(f'  {"units":>7s} {"dets":>7s} {"numpy s":>8s} {"faster s":>9s} {"ratio":>6s} '
              f'{"numpy us/unit":>14s} {"max diff":>9s}')
        for units in args.sparse:
            gt, dets = sparse_result_set(units)
            t_own, t_fast, diff = _compare(gt, dets, args.repeats)
            print(f'  {units:7d} {len(dets):7d} {t_own:8.3f} {t_fast:9.3f} {t_fast / t_own:5.1f}x '
                  f'{t_own / units * 1e6:14.1f} {diff:9.2g}', flush=True)
    if args.dense:
        print(f'dense units (1920x1080 images, {args.dets} detections each):')
        print(f'  {"images":>7s} {"dets":>8s} {"numpy s":>8s} {"faster s":>9s} {"ratio":>6s} '
              f'{"numpy us/det":>13s} {"max diff":>9s}')
        for images in args.dense:
            gt, dets = synthetic_result_set(images, args.dets)
            t_own, t_fast, diff = _compare(gt, dets, args.repeats)
            print(f'  {images:7d} {len(dets):8d} {t_own:8.3f} {t_fast:9.3f} {t_fast / t_own:5.1f}x '
                  f'{t_own / len(dets) * 1e6:13.2f} {diff:9.2g}', flush=True)
    if args.process_images > 0:
        whole_process(args.process_images, args.dets, args.reference_images, args.repeats)
    print(f'load average (1 min) at end {os.getloadavg()[0]:.1f} (a shared machine slows every '
          f'figure alike only roughly)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
