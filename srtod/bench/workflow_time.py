"""Where the time of a workflow invocation goes (`python -m srtod.bench workflow_time`).

Read from the last invocation of a tier (default ``smoke``), measured, never estimated:

- every job's Snakemake ``benchmark:`` file, ``benchmarks/<tier>/<rule>/<wildcards>.tsv``
  (``s``: the job's wall seconds; ``cpu_time``: CPU seconds of its processes, sampled by
  Snakemake, so a process that ends between two samples is missed; ``max_rss`` in MB). Only the
  files the last invocation wrote count (modified after its start); older ones are counted apart.
- the invocation's record, ``logs/<tier>/workflow.json`` (srtod.workflow.record_invocation):
  start, end, cores, and Snakemake's own CPU time (``getrusage`` of its process) and its jobs'
  (of its child processes) at the start and the end.

And measured here: the fixed cost of one job, best of 3 fresh processes each: ``srtod --help``
(interpreter start, the CLI and its command modules) and a fresh interpreter importing what a
model job (pretrain, train, test, fps, figures) imports before it builds its model
(:data:`MODEL_JOB_IMPORTS`). Multiplied by the number of jobs, it is the part of the jobs' time
that no tuning of sizes removes.

Printed: per rule (grouped by stage) jobs, wall s, CPU s, mean wall and CPU per job, max RSS;
per stage the totals; the fixed cost x jobs; and the invocation's wall time x cores split into
the jobs' CPU, Snakemake's own CPU and the rest (cores waiting).
"""
from __future__ import annotations

import argparse
import csv
import math
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from srtod.analysis.format import fmt
from srtod.workflow import BENCHMARKS_ROOT, read_invocation

#: The stage of each rule of the workflow (a rule not listed is its own stage).
STAGES = {
    'srtod_convert': 'data', 'srtod_synth': 'data', 'srtod_validate': 'data',
    'srtod_data_ready': 'data', 'srtod_pretrain': 'pretrain', 'mmdet_train': 'train',
    'aitod_eval': 'test', 'srtod_fps': 'fps', 'srtod_figures': 'figures',
    'srtod_figures_datasets': 'figures', 'srtod_collect': 'report', 'srtod_report': 'report',
    'srtod_claims': 'report',
}
STAGE_ORDER = ('data', 'pretrain', 'train', 'test', 'fps', 'figures', 'report')

#: Rules whose job builds a model (torch, mmengine, mmdet and srtod's models imported).
MODEL_RULES = ('srtod_pretrain', 'mmdet_train', 'aitod_eval', 'srtod_fps', 'srtod_figures')

#: What a model job imports before it builds its model (srtod train: srtod.engine.train and the
#: registry's config resolution; the config's custom_imports: srtod.models and mmdet.models).
MODEL_JOB_IMPORTS = ('srtod.engine.train', 'srtod.registry', 'srtod.models', 'mmdet.models')

#: Rules that run inside Snakemake's process (``run:``): no process of their own to start, and
#: their benchmark's cpu_time and max_rss are Snakemake's (so they are not counted as the job's).
IN_PROCESS_RULES = ('srtod_data_ready',)


@dataclass
class RuleTime:
    """The jobs of one rule: count, wall and CPU seconds, largest RSS (MB)."""

    rule: str
    jobs: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_mb: float = math.nan
    cpu_missing: int = 0   # jobs without a CPU time of their own (NA, or run in-process)
    files: list = field(default_factory=list)

    @property
    def stage(self) -> str:
        return STAGES.get(self.rule, self.rule)


def _number(value: str) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def read_benchmark(path: Path) -> dict:
    """One benchmark tsv: ``s``, ``cpu_time``, ``max_rss`` of its last row (None for NA).

    Raises:
        InputError: a file without the columns of Snakemake's benchmark header or a data row.
    """
    from srtod.errors import InputError

    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f, delimiter='\t'))
    if not rows or 's' not in rows[-1] or 'cpu_time' not in rows[-1]:
        raise InputError("expected a Snakemake benchmark file (a header with 's' and "
                         "'cpu_time' and a row)", path=path)
    row = rows[-1]
    wall = _number(row['s'])
    if wall is None:
        raise InputError(f"expected seconds in column 's', got {row['s']!r}", path=path, line=2)
    return {'s': wall, 'cpu_time': _number(row['cpu_time']),
            'max_rss': _number(row.get('max_rss'))}


def collect(tier: str, root: str | Path = '.', since: float | None = None
            ) -> tuple[dict[str, RuleTime], int]:
    """The benchmark files of ``tier`` per rule.

    Args:
        tier: the tier.
        root: the workflow's working directory.
        since: count only files modified at or after this time (the invocation's start);
            None: every file.

    Returns:
        (rule -> RuleTime, number of older files left out).
    """
    base = Path(root) / BENCHMARKS_ROOT / tier
    rules: dict[str, RuleTime] = {}
    older = 0
    for path in sorted(base.rglob('*.tsv')):
        if since is not None and path.stat().st_mtime < since:
            older += 1
            continue
        rule = path.relative_to(base).parts[0]
        rec = read_benchmark(path)
        if rule in IN_PROCESS_RULES:   # Snakemake measured its own process: not the job's
            rec.update(cpu_time=None, max_rss=None)
        r = rules.setdefault(rule, RuleTime(rule))
        r.jobs += 1
        r.wall_s += rec['s']
        if rec['cpu_time'] is None:
            r.cpu_missing += 1
        else:
            r.cpu_s += rec['cpu_time']
        if rec['max_rss'] is not None:
            r.max_rss_mb = rec['max_rss'] if math.isnan(r.max_rss_mb) else max(r.max_rss_mb,
                                                                                 rec['max_rss'])
        r.files.append(path)
    return rules, older


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def process_cost(argv: list[str], repeats: int = 3) -> tuple[float, float]:
    """(wall s, CPU s) of a fresh process running ``argv``, each the best of ``repeats``.

    Raises:
        RuntimeError: the process failed.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        cpu0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        cpus.append(_children_cpu() - cpu0)
        if proc.returncode != 0:
            raise RuntimeError(f'{" ".join(argv)} failed ({proc.returncode}): '
                               f'{proc.stderr[-500:]}')
    return min(walls), min(cpus)


def fixed_costs(repeats: int = 3) -> dict[str, tuple[float, float]]:
    """The fixed cost of a job, measured now: ``cli`` (``srtod --help``) and ``model``
    (a fresh interpreter importing :data:`MODEL_JOB_IMPORTS`), each (wall s, CPU s)."""
    srtod = shutil.which('srtod')
    cli = [srtod, '--help'] if srtod else [sys.executable, '-m', 'srtod.cli', '--help']
    imports = 'import ' + ', '.join(MODEL_JOB_IMPORTS)
    return {'cli': process_cost(cli, repeats),
            'model': process_cost([sys.executable, '-c', imports], repeats)}


def _row(cells, widths):
    return '  '.join(str(c).rjust(w) if i else str(c).ljust(w)
                     for i, (c, w) in enumerate(zip(cells, widths)))


def breakdown(rules: dict[str, RuleTime], fixed: dict[str, tuple[float, float]] | None,
              invocation: dict | None) -> list[str]:
    """The printed lines: per rule and stage, fixed cost x jobs, the invocation's share."""
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    ordered = sorted(rules.values(), key=lambda r: (order.get(r.stage, len(order)), r.stage,
                                                    r.rule))
    widths = (24, 9, 5, 10, 10, 9, 9, 8)
    lines = [_row(('rule', 'stage', 'jobs', 'wall s', 'CPU s', 'wall/job', 'CPU/job',
                   'RSS MB'), widths)]
    stages: dict[str, list[float]] = {}
    for r in ordered:
        lines.append(_row((r.rule, r.stage, r.jobs, fmt(r.wall_s), fmt(r.cpu_s),
                           fmt(r.wall_s / r.jobs), fmt(r.cpu_s / r.jobs), fmt(r.max_rss_mb, 0)),
                          widths))
        acc = stages.setdefault(r.stage, [0, 0.0, 0.0])
        acc[0] += r.jobs
        acc[1] += r.wall_s
        acc[2] += r.cpu_s
    missing = sum(r.cpu_missing for r in ordered)
    lines += ['', _row(('stage', '', 'jobs', 'wall s', 'CPU s', 'wall/job', 'CPU/job', ''),
                       widths)]
    for stage, (jobs, wall, cpu) in stages.items():
        lines.append(_row((stage, '', jobs, fmt(wall), fmt(cpu), fmt(wall / jobs), fmt(cpu / jobs),
                           ''), widths))
    jobs = sum(r.jobs for r in ordered)
    wall = sum(r.wall_s for r in ordered)
    cpu = sum(r.cpu_s for r in ordered)
    lines.append(_row(('all jobs', '', jobs, fmt(wall), fmt(cpu), fmt(wall / jobs) if jobs else '–',
                       fmt(cpu / jobs) if jobs else '–', ''), widths))
    if missing:
        lines.append(f'({missing} jobs without a CPU time of their own, counted as 0 CPU s: '
                     'ended before Snakemake sampled it, or ran inside Snakemake\'s process ('
                     f'{", ".join(IN_PROCESS_RULES)}), whose benchmark measures Snakemake)')
    if fixed is not None:
        shell_jobs = sum(r.jobs for r in ordered if r.rule not in IN_PROCESS_RULES)
        model_jobs = sum(r.jobs for r in ordered if r.rule in MODEL_RULES)
        (cli_w, cli_c), (mod_w, mod_c) = fixed['cli'], fixed['model']
        lines += ['', 'Fixed cost of a job, measured now (best of 3 fresh processes):',
                  f'  srtod --help: {cli_w:.2f} s wall, {cli_c:.2f} s CPU; x {shell_jobs} jobs '
                  f'with a process of their own = {cli_w * shell_jobs:.0f} s wall, '
                  f'{cli_c * shell_jobs:.0f} s CPU',
                  f'  import {", ".join(MODEL_JOB_IMPORTS)}: {mod_w:.2f} s wall, {mod_c:.2f} s '
                  f'CPU; x {model_jobs} model jobs = {mod_w * model_jobs:.0f} s wall, '
                  f'{mod_c * model_jobs:.0f} s CPU'
                  + (f' ({100 * mod_c * model_jobs / cpu:.0f}% of the jobs\' CPU)' if cpu else '')]
    lines += [''] + invocation_lines(invocation, cpu)
    return lines


def invocation_lines(invocation: dict | None, jobs_cpu: float) -> list[str]:
    """The invocation's wall time x cores, split into jobs' CPU, Snakemake's CPU and the rest."""
    if invocation is None:
        return ['Invocation: not recorded (no logs/<tier>/workflow.json; it is written by the '
                "Snakefile's onstart handler)."]
    lines = [f'Invocation: started {invocation["started"]} on {invocation.get("cores")} cores, '
             f'{invocation.get("jobs")} jobs planned, status {invocation.get("status")}.']
    wall = invocation.get('wall_s')
    if wall is None:
        lines.append('  no end recorded (still running, or stopped before onsuccess/onerror): '
                     'wall time not measured.')
        return lines
    cores = invocation.get('cores') or 1
    capacity = wall * cores
    lines.append(f'  wall time {wall:.0f} s ({wall / 60:.1f} min); x {cores} cores = '
                 f'{capacity:.0f} core-s')
    own = invocation.get('snakemake_cpu_s')
    children = invocation.get('children_cpu_s')
    if own is not None and children is not None:
        start = invocation.get('snakemake_cpu_s_at_start')
        lines += [f'  jobs\' CPU (getrusage of Snakemake\'s child processes): {children:.0f} s '
                  f'({100 * children / capacity:.0f}%); from the benchmark files {jobs_cpu:.0f} s',
                  f'  Snakemake\'s own CPU: {own:.0f} s ({100 * own / capacity:.0f}%)'
                  + (f', {start:.0f} s of it before the first job (parse, DAG)'
                     if start is not None else ''),
                  f'  rest (cores waiting): {capacity - children - own:.0f} s '
                  f'({100 * (capacity - children - own) / capacity:.0f}%)']
    else:
        rest = capacity - jobs_cpu
        lines.append(f'  minus the jobs\' CPU ({jobs_cpu:.0f} s): {rest:.0f} s of Snakemake and '
                     'waiting cores (Snakemake\'s own CPU was not recorded)')
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m srtod.bench workflow_time',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--tier', default='smoke')
    parser.add_argument('--root', default='.', help='the workflow\'s working directory')
    parser.add_argument('--repeats', type=int, default=3,
                        help='fresh processes per fixed-cost measurement (best of)')
    parser.add_argument('--all', action='store_true',
                        help='every benchmark file, not only the last invocation\'s')
    args = parser.parse_args(argv)
    invocation = read_invocation(args.tier, args.root)
    since = None if args.all or invocation is None else invocation['started_unix']
    rules, older = collect(args.tier, args.root, since)
    base = Path(args.root) / BENCHMARKS_ROOT / args.tier
    if not rules:
        print(f'workflow_time: no benchmark files of the {args.tier} tier in {base}'
              + (f' from its last invocation ({older} older)' if older else '')
              + f'; run `snakemake --cores all --config tier={args.tier}` first.')
        return 0
    scope = ('every benchmark file' if since is None else
             f'the jobs of the invocation started {invocation["started"]}'
             + (f' ({older} older benchmark files left out: jobs it did not rerun)'
                if older else ''))
    print(f'Tier {args.tier}: {scope}, from {base}')
    fixed = fixed_costs(args.repeats) if args.repeats > 0 else None
    print('\n'.join(breakdown(rules, fixed, invocation)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
