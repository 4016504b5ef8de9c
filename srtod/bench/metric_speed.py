"""Speed of the AI-TOD metric backends on a DroneSwarms-sized synthetic result set.

The set is built in memory: 2,532 images of 1920x1080 px, about 26.6 drones per image
(Poisson), sizes log-normal around 8 px as in DroneSwarms, and 1,500 detections per image:
one to three jittered detections per drone (some of them misses) plus background detections
with low scores. The three backends (numpy, srtod's vectorised port and the default; faster-coco-eval;
pycocotools, the reference) evaluate it with the AI-TOD parameters from the same arrays.

pycocotools takes about a quarter of an hour on the full set on this machine, so by default it
runs on a subset (``--reference-images``) and its full-size time is extrapolated linearly from
that subset (its per-image matching dominates and scales with the number of images); the output
says so. ``--reference-images 0`` runs it on the full set. faster-coco-eval always runs on the
full set. The largest difference is taken over every metric key on the subset both ran on.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


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


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _subset(gt: dict, dets, n: int):
    from srtod.evaluation.backends import Detections
    keep = set(range(1, n + 1))
    sub = dict(gt, images=[im for im in gt['images'] if im['id'] in keep],
               annotations=[a for a in gt['annotations'] if a['image_id'] in keep])
    m = dets.image_id <= n
    return sub, Detections(dets.image_id[m], dets.category_id[m], dets.bbox[m], dets.score[m])


def main(argv: list[str] | None = None) -> int:
    """Print the backends' times, their ratios to pycocotools and the largest difference."""
    from srtod.evaluation.backends import GroundTruth, evaluate

    ap = argparse.ArgumentParser(prog='python -m srtod.bench.metric_speed', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--images', type=int, default=2532)
    ap.add_argument('--dets', type=int, default=1500, help='detections per image')
    ap.add_argument('--reference-images', type=int, default=100,
                    help='images pycocotools runs on (0: all); its full-size time is '
                         'extrapolated linearly from them')
    args = ap.parse_args(argv)

    gt_dict, dets = synthetic_result_set(args.images, args.dets)
    print(f'AI-TOD metric backends: {args.images} images, {len(gt_dict["annotations"])} boxes '
          f'({len(gt_dict["annotations"]) / args.images:.1f}/image), {len(dets)} detections')
    gt = GroundTruth(gt_dict)
    _, t_index = _timed(lambda: gt.coco('faster-coco-eval'))
    _, t_units = _timed(lambda: gt.unit_arrays(gt.image_ids, gt.category_ids()))
    fast, t_fast = _timed(lambda: evaluate(gt, dets, backend='faster-coco-eval'))
    print(f'  faster-coco-eval: {t_fast:8.2f} s (full set; ground-truth index built once '
          f'before, {t_index + t_units:.2f} s)  AP {fast["AP"]:.4f}')
    own, t_own = _timed(lambda: evaluate(gt, dets, backend='numpy'))
    print(f'  numpy (srtod):    {t_own:8.2f} s (full set; matching + accumulation, the per-image '
          f'records included)  AP {own["AP"]:.4f}')

    n_ref = args.images if args.reference_images <= 0 else min(args.reference_images, args.images)
    sub_gt, sub_dets = _subset(gt_dict, dets, n_ref)
    sub = GroundTruth(sub_gt)
    sub.coco('pycocotools')
    sub.coco('faster-coco-eval')
    ref, t_ref = _timed(lambda: evaluate(sub, sub_dets, backend='pycocotools'))
    fast_sub, t_fast_sub = _timed(lambda: evaluate(sub, sub_dets, backend='faster-coco-eval'))
    own_sub = evaluate(sub, sub_dets, backend='numpy')
    diff = max(abs(ref[k] - other[k]) for other in (fast_sub, own_sub) for k in ref
               if not (np.isnan(ref[k]) and np.isnan(other[k])))
    diff_full = max(abs(fast[k] - own[k]) for k in fast
                    if not (np.isnan(fast[k]) and np.isnan(own[k])))
    if n_ref == args.images:
        t_ref_full, how = t_ref, 'measured on the full set'
    else:
        t_ref_full = t_ref * args.images / n_ref
        how = (f'EXTRAPOLATED: measured {t_ref:.2f} s on {n_ref} images, x {args.images}/{n_ref}')
    print(f'  pycocotools:      {t_ref_full:8.2f} s ({how})')
    print(f'  speed-up over pycocotools, full set: faster-coco-eval {t_ref_full / t_fast:.1f}x, '
          f'numpy {t_ref_full / t_own:.1f}x; on the {n_ref}-image subset faster-coco-eval '
          f'{t_ref / t_fast_sub:.1f}x ({t_ref:.2f} s vs {t_fast_sub:.2f} s)')
    print(f'  largest difference over {len(ref)} keys: pycocotools vs the others on the subset '
          f'{diff:.3g}, faster-coco-eval vs numpy on the full set {diff_full:.3g} (percent points)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
