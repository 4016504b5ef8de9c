"""``srtod collect`` and ``srtod report``: the last two stages of the workflow, usable by hand."""
from __future__ import annotations

import argparse
from pathlib import Path

from srtod.vocab import TIERS


def _registry(args):
    from srtod.registry import load_registry
    return load_registry(args.registry) if args.registry else load_registry()


def cmd_collect(args: argparse.Namespace) -> int:
    from srtod.analysis.collect import collect_runs, write_runs_csv
    from srtod.engine.provenance import resolved_config_hash
    registry = _registry(args)
    hashes = {}

    def current(run_id, seed):   # the config each run would train with now (stale rows)
        key = (run_id, int(seed))
        if key not in hashes:
            hashes[key] = resolved_config_hash(run_id, args.tier, int(seed), registry)
        return hashes[key]

    frame = collect_runs(registry, args.tier, results_root=args.results, current=current)
    out = Path(args.out) if args.out else Path(args.results) / args.tier / 'runs.csv'
    write_runs_csv(frame, out)
    counts = frame['status'].value_counts().to_dict() if len(frame) else {}
    summary = ', '.join(f'{n} {status}' for status, n in sorted(counts.items())) or 'none'
    stale = int(frame['stale'].notna().sum()) if len(frame) else 0
    print(f'{out}: {len(frame)} runs ({summary}; {stale} stale)')
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from srtod.analysis.collect import load_runs_csv
    from srtod.analysis.report import write_reports
    registry = _registry(args)
    runs_csv = Path(args.runs) if args.runs else Path(args.results) / args.tier / 'runs.csv'
    runs = load_runs_csv(runs_csv)
    tables = args.tables or list(registry.tables)
    out_dir = Path(args.out) if args.out else Path('reports') / args.tier
    written = write_reports(registry, runs, args.tier, tables, out_dir, seeds=args.seeds,
                            results_root=args.results)
    print(f'{out_dir}: {len(tables)} table reports, index.md ({len(written)} files)')
    return 0


def add_commands(subparsers) -> None:
    """Add ``collect`` and ``report`` to the ``srtod`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--tier', required=True, choices=TIERS, help='the tier to collect')
    common.add_argument('--results', default='results', metavar='DIR',
                        help='the folder holding <tier>/<run id>/seed<S>/ (default: results)')
    common.add_argument('--registry', default=None, metavar='YAML',
                        help='experiments registry (default: configs/experiments.yaml)')

    p = subparsers.add_parser(
        'collect', parents=[common],
        help='gather every run of a tier into results/<tier>/runs.csv',
        description='Read train.json, metrics.json and fps.json of every (run id, seed) of a '
                    'tier and write one table, one row per run and seed, with the provenance of '
                    'each (config hash, run version, code version, machine); a row whose config '
                    'hash or run version differs from the current one is marked stale.')
    p.add_argument('--out', default=None, metavar='CSV',
                   help='output file (default: <results>/<tier>/runs.csv)')
    p.set_defaults(func=cmd_collect)

    p = subparsers.add_parser(
        'report', parents=[common],
        help='write reports/<tier>/index.md and one markdown report per table',
        description='Compare the reproduced numbers of runs.csv with the published ones: per '
                    'table, published, reproduced, difference, rank agreement, SR-TOD gains '
                    'over the baseline, statistics, figures, provenance and decisions; an index; '
                    'and an HTML copy of each page (html/).')
    p.add_argument('--tables', nargs='+', default=None, metavar='TABLE',
                   help='tables to report (default: every table of the registry)')
    p.add_argument('--seeds', type=int, default=None, metavar='N',
                   help='use seeds 0..N-1 (default: every collected seed)')
    p.add_argument('--runs', default=None, metavar='CSV',
                   help='runs table (default: <results>/<tier>/runs.csv)')
    p.add_argument('--out', default=None, metavar='DIR',
                   help='report folder (default: reports/<tier>)')
    p.set_defaults(func=cmd_report)
