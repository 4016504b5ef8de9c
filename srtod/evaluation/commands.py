"""``srtod eval``: the AI-TOD metrics of a COCO results file, as one JSON object.

Imports only what evaluation needs (numpy, msgspec and the chosen backend; no torch, mmengine or
mmdet): ``srtod.cli`` imports this module alone for ``eval``, and ``srtod/__init__.py`` skips the
registry imports in that process.
"""
from __future__ import annotations

import argparse

PRINTED_KEYS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'APm')


def _eval(args: argparse.Namespace) -> int:
    import msgspec

    from srtod.evaluation.backends import (Detections, GroundTruth, compute_records, evaluate,
                                           json_metrics, metrics_from_records)
    from srtod.evaluation.records import save_records

    gt = GroundTruth(args.gt)
    dets = Detections.load(args.dt)
    if args.records and args.backend == 'numpy':  # the records are its intermediate result
        dets.validate(gt, args.dt)
        records = compute_records(gt, dets, gt.image_ids, gt.category_ids())
        metrics = metrics_from_records(records)
    else:
        metrics = evaluate(gt, dets, backend=args.backend, dets_path=args.dt)
        records = (compute_records(gt, dets, gt.image_ids, gt.category_ids()) if args.records
                   else None)
    if records is not None:
        save_records(args.records, records)
    keys = PRINTED_KEYS + (('AR100', 'AR300', 'AR1500') if args.all else ())
    # strict JSON: a metric without boxes of its area range (NaN in Python) is printed as null
    print(msgspec.json.encode(json_metrics({k: metrics[k] for k in keys})).decode())
    return 0


def add_commands(subparsers) -> None:
    """Add ``eval`` to the ``srtod`` parser."""
    p = subparsers.add_parser(
        'eval', help='AI-TOD metrics of COCO results (percent, JSON; null: no box of that size)')
    p.add_argument('--gt', required=True, help='ground-truth COCO json')
    p.add_argument('--dt', required=True,
                   help='detections: COCO results json [{image_id, category_id, bbox, score}]')
    p.add_argument('--backend', choices=('numpy', 'faster-coco-eval', 'pycocotools'),
                   default='numpy')
    p.add_argument('--records', default=None, help='also write per-image records (.npz) here')
    p.add_argument('--all', action='store_true', help='also print AR100, AR300, AR1500')
    p.set_defaults(func=_eval)
