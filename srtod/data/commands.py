"""``srtod synth | convert | validate | stats``: the dataset commands.

The datasets, their converters and their synthetic profiles are those of srtod/vocab.py.
"""
from __future__ import annotations

import argparse
import json

from srtod.vocab import CONVERTERS, DATASET_SPECS, DATASETS


def _synth(args: argparse.Namespace) -> int:
    from srtod.data.synth import make_synthetic
    counts = make_synthetic(args.out, args.images, seed=args.seed, width=args.width,
                            height=args.height, profile=args.profile,
                            test_fraction=args.test_fraction)
    print(json.dumps(counts))
    return 0


def _convert(args: argparse.Namespace) -> int:
    from srtod.data import convert, dota
    converter = DATASET_SPECS[args.format].converter
    if converter == 'visdrone':
        summary = convert.convert_visdrone(args.src, args.out_json)
    elif converter == 'dota':
        summary = dota.convert_dota(args.src, args.out_json, version=args.dota_version,
                                    patch_size=args.patch_size, overlap=args.overlap)
    elif converter == 'coco':  # a COCO json already
        summary = convert.convert_coco(args.src, args.out_json, images_dir=args.images)
    else:
        raise ValueError(f'srtod/vocab.py: {args.format} names converter {converter!r}, which '
                         'srtod convert does not have')
    print(json.dumps(summary))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from srtod.data.coco import load_coco, validate_coco
    data = load_coco(args.dataset_json)
    validate_coco(data, args.dataset_json, images_dir=args.images)
    print(f'{args.dataset_json}: ok ({len(data["images"])} images, '
          f'{len(data["annotations"])} annotations, {len(data["categories"])} categories)')
    return 0


def _stats(args: argparse.Namespace) -> int:
    from srtod.data.stats import dataset_stats
    result = dataset_stats(args.dataset_json, args.out_dir)
    print(json.dumps(result['splits'], indent=1))
    return 0


def add_commands(subparsers) -> None:
    """Add ``synth``, ``convert``, ``validate`` and ``stats`` to the ``srtod`` parser."""
    p = subparsers.add_parser('synth', help='write a deterministic synthetic dataset (COCO)')
    p.add_argument('out', help='output folder: train.json, test.json, images/')
    p.add_argument('--images', type=int, required=True, help='number of images, both splits')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--width', type=int, default=320)
    p.add_argument('--height', type=int, default=192)
    p.add_argument('--profile', choices=DATASETS, default=DATASETS[0],
                   help=f'which dataset the set stands in for (default: {DATASETS[0]})')
    p.add_argument('--test-fraction', type=float, default=0.25,
                   help='share of the images in test.json (default 0.25)')
    p.set_defaults(func=_synth)

    p = subparsers.add_parser('convert', help="convert a dataset's official format to COCO json")
    by_converter = {c: [d for d in DATASETS if DATASET_SPECS[d].converter == c]
                    for c in CONVERTERS}
    p.add_argument('format', choices=DATASETS, metavar='DATASET',
                   help=f'the dataset whose release SRC is: {", ".join(DATASETS)}')
    p.add_argument('src', help=f'{"/".join(by_converter["visdrone"] + by_converter["dota"])}: '
                               f'the split folder; {"/".join(by_converter["coco"])}: the json')
    p.add_argument('out_json')
    p.add_argument('--images', default=None,
                   help=f'{"/".join(by_converter["coco"])}: image folder, to check every image '
                        'and its size')
    p.add_argument('--dota-version', choices=['v1', 'v1.5', 'v2'], default='v1')
    p.add_argument('--patch-size', type=int, default=None,
                   help='dota: cut images into square patches of this side (usual: 800)')
    p.add_argument('--overlap', type=int, default=200,
                   help='dota: overlap of neighbouring patches in px (default 200)')
    p.set_defaults(func=_convert)

    p = subparsers.add_parser('validate', help='check a COCO dataset file (and its images)')
    p.add_argument('dataset_json')
    p.add_argument('--images', default=None, help='image folder the file names are relative to')
    p.set_defaults(func=_validate)

    p = subparsers.add_parser('stats', help='counts, size histogram and spatial scatter')
    p.add_argument('dataset_json', help='a COCO json, or a folder whose *.json are the splits')
    p.add_argument('out_dir')
    p.set_defaults(func=_stats)
