"""``srtod eval``: the AI-TOD metrics of a COCO results file, as one JSON object."""
from __future__ import annotations

import argparse
import json

PRINTED_KEYS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'APm')


def _eval(args: argparse.Namespace) -> int:
    from srtod.evaluation.aitod_metric import write_records
    from srtod.evaluation.backends import Detections, GroundTruth, evaluate
    from srtod.errors import InputError

    gt = GroundTruth(args.gt)
    try:
        with open(args.dt, encoding='utf-8') as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise InputError('detections file not found', path=args.dt) from None
    except json.JSONDecodeError as err:
        raise InputError(f'invalid JSON: {err.msg}', path=args.dt, line=err.lineno) from None
    dets = Detections.from_coco_results(raw, path=args.dt)
    metrics = evaluate(gt, dets, backend=args.backend)
    if args.records:
        write_records(args.records, gt, dets, gt.image_ids, gt.category_ids())
    keys = PRINTED_KEYS + (('AR100', 'AR300', 'AR1500') if args.all else ())
    print(json.dumps({k: metrics[k] for k in keys}))
    return 0


def add_commands(subparsers) -> None:
    """Add ``eval`` to the ``srtod`` parser."""
    from srtod.evaluation.backends import BACKENDS
    p = subparsers.add_parser('eval', help='AI-TOD metrics of COCO results (percent, JSON)')
    p.add_argument('--gt', required=True, help='ground-truth COCO json')
    p.add_argument('--dt', required=True,
                   help='detections: COCO results json [{image_id, category_id, bbox, score}]')
    p.add_argument('--backend', choices=BACKENDS, default='numpy')
    p.add_argument('--records', default=None, help='also write per-image records (.npz) here')
    p.add_argument('--all', action='store_true', help='also print AR100, AR300, AR1500')
    p.set_defaults(func=_eval)
