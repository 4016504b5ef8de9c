"""Helpers of the Snakemake workflow (Snakefile, workflow/rules/*.smk), kept here to be tested.

The workflow's config (``--config tier=... tables=[...] seeds=N "data={<dataset>: PATH}"``) is
normalised by ``normalize_config`` and then checked against workflow/schemas/config.schema.yaml,
whose choices come from :mod:`srtod.vocab` (``check_config_keys``); ``select_tables`` /
``select_runs`` turn it into the unique runs to train; ``paper_sources`` checks, before anything
runs, that every dataset the paper tier needs has a readable source.
"""
from __future__ import annotations

import difflib
import re
import shlex
from pathlib import Path

from srtod.errors import InputError
from srtod.vocab import (DATASET_SPECS, DATASETS, TIER_SEEDS, TIERS, fill_schema,
                         srtod_run_of_control)

__all__ = ['BENCHMARKS_ROOT', 'DATASETS', 'INVOCATION_FILE', 'PAPER_SOURCES', 'TIERS',
           'TIER_RESOURCES', 'alternation', 'check_config_keys', 'convert_options',
           'datasets_of', 'finish_invocation', 'fps_runs', 'invocation_path', 'job_counts',
           'normalize_config', 'paper_sources', 'read_invocation', 'record_invocation',
           'resources', 'select_runs', 'select_tables', 'stage_images', 'stage_split',
           'synth_options', 'tier_defaults', 'wall_time_text', 'write_data_ready']

#: Snakemake's ``benchmark:`` file of every job: ``benchmarks/<tier>/<rule>/<wildcards>.tsv``
#: (wall s, cpu_time, max_rss, ...), read by ``python -m srtod.bench workflow_time``.
BENCHMARKS_ROOT = 'benchmarks'

#: The record of the tier's current or last workflow invocation, written by the Snakefile's
#: onstart handler and completed by onsuccess/onerror (:func:`record_invocation`).
INVOCATION_FILE = 'logs/{tier}/workflow.json'

#: What the paper tier expects under ``data.<dataset>=PATH`` (:attr:`DatasetSpec.paper_sources`
#: of srtod.vocab): per split, the argument of ``srtod convert`` and the image folder the
#: converted file names are relative to (both relative to PATH).
PAPER_SOURCES = {name: spec.paper_sources for name, spec in DATASET_SPECS.items()}

#: Resources of one job per tier and stage, for cluster executors (mem_mb, runtime in minutes).
#: The paper tier's training asks for 48 h: a run cut by the time limit resumes on rerun.
TIER_RESOURCES = {
    'paper': {'data': (16000, 240), 'train': (32000, 2880), 'test': (16000, 240),
              'fps': (16000, 60)},
    # check: a paper-size model for 2 iterations on 6 synthetic images, on one CPU or GPU
    'check': {'data': (4000, 30), 'train': (24000, 60), 'test': (16000, 30), 'fps': (16000, 15)},
    'smoke': {'data': (4000, 30), 'train': (8000, 120), 'test': (8000, 30), 'fps': (8000, 15)},
    'tiny': {'data': (2000, 10), 'train': (4000, 20), 'test': (4000, 10), 'fps': (4000, 10)},
}


def normalize_config(config: dict) -> dict:
    """Bring ``--config`` values into the schema's shape, in place.

    Snakemake's ``--config`` takes nested values as YAML (``"data={aitod: PATH}"``) and refuses
    dotted keys, but a config file or the API may hold ``data.aitod: PATH``: such a key becomes
    ``config['data']['aitod']``.
    ``tables`` may be given as a string (``tables=T1,T4`` or ``tables=all``): it becomes a list.

    Args:
        config: Snakemake's ``config`` dict.

    Returns:
        The same dict.
    """
    for key in [k for k in config if isinstance(k, str) and '.' in k]:
        value = config.pop(key)
        head, *rest = key.split('.')
        node = config.setdefault(head, {})
        if not isinstance(node, dict):
            raise InputError(f'--config {key}=...: {head!r} is not a mapping')
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        node[rest[-1]] = value
    tables = config.get('tables')
    if isinstance(tables, str):
        config['tables'] = [t for t in re.split(r'[,\s]+', tables.strip('[] ')) if t]
    data = config.get('data')
    if isinstance(data, dict):
        for name, path in list(data.items()):
            if path is not None and not isinstance(path, str):
                data[name] = str(path)
    return config


def tier_defaults(config: dict) -> dict:
    """Fill in, in place, the defaults that depend on the tier, after the schema's validation
    (which sets ``tier``): ``seeds`` from :data:`srtod.vocab.TIER_SEEDS` (smoke 3, every other
    tier 1) unless ``--config seeds=N`` gave it.

    Returns:
        The same dict.
    """
    if config.get('seeds') is None:
        config['seeds'] = TIER_SEEDS[config['tier']]
    return config


def check_config_keys(config: dict, schema_path: str | Path) -> None:
    """Check the config against the schema with the vocabulary's choices, before Snakemake's check.

    The schema file leaves the choices (tiers, table ids, datasets) to :mod:`srtod.vocab`
    (``x-vocab`` nodes, :func:`srtod.vocab.fill_schema`); Snakemake's ``validate`` then sets the
    defaults. Unknown keys are named with the key meant (``seed`` -> ``seeds``) rather than with
    the schema's message, which prints the whole schema.

    Raises:
        InputError: an unknown key at the top level or under ``data``, or a value the filled
            schema refuses (an unknown tier or table, a wrong type).
    """
    import jsonschema
    import yaml

    schema = fill_schema(yaml.safe_load(Path(schema_path).read_text(encoding='utf-8')))
    known = schema['properties']
    for key in config:
        if key not in known:
            raise _unknown('config key', key, list(known))
    data = config.get('data')
    for name in data if isinstance(data, dict) else ():
        if name not in DATASETS:
            raise _unknown('dataset in data', name, DATASETS)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        err = errors[0]
        where = '.'.join(str(p) for p in err.absolute_path) or '(top level)'
        raise InputError(f'--config {where}: {err.message}', path=schema_path)


def _unknown(kind: str, value: str, choices) -> InputError:
    close = difflib.get_close_matches(value, list(choices), n=3)
    hint = f' (did you mean {", ".join(close)}?)' if close else ''
    return InputError(f'unknown {kind} {value!r}{hint}; expected one of: {", ".join(choices)}')


def select_tables(registry, tables) -> list[str]:
    """The tables to run, in the registry's order.

    Args:
        registry: the ``Registry``.
        tables: a list of table ids; empty or containing ``all``: every table.

    Raises:
        InputError: an unknown table id (close matches are suggested).
    """
    known = list(registry.tables)
    if not tables or 'all' in tables:
        return known
    for table in tables:
        if table not in registry.tables:
            raise _unknown('table', table, known)
    return [t for t in known if t in set(tables)]


def select_runs(registry, tables) -> list[str]:
    """The unique run ids the tables need: every non-external row's run, the baseline of every
    SR-TOD run (its gain is measured against it), and the SR-TOD run of every control run (the
    control splits that run's gain), in first-appearance order."""
    wanted = set(tables)
    runs: list[str] = []

    def add(run_id):
        if run_id and run_id not in runs:
            runs.append(run_id)

    for row in registry.rows:
        if row.table in wanted and not row.external and row.run_id:
            add(row.run_id)
            add(registry.runs[row.run_id].baseline)
            srtod_run = srtod_run_of_control(row.run_id)
            if srtod_run in registry.runs:
                add(srtod_run)
    return runs


def datasets_of(registry, run_ids) -> list[str]:
    """The datasets of the runs, in ``DATASETS`` order."""
    used = {registry.runs[r].dataset for r in run_ids}
    return [d for d in DATASETS if d in used]


def paper_sources(data: dict, datasets) -> dict[str, dict[str, tuple[str, str]]]:
    """Check the paper tier's dataset paths before anything runs.

    Args:
        data: ``config['data']``: dataset -> the folder holding its official release.
        datasets: the datasets the selected tables need.

    Returns:
        dataset -> split -> (``srtod convert`` source, image folder), absolute paths.

    Raises:
        InputError: a dataset without a path, or whose path lacks an expected file or folder;
            the message lists every problem and how to fix it.
    """
    problems, sources = [], {}
    for name in datasets:
        root = data.get(name)
        if not root:
            expected = sorted({p for split in PAPER_SOURCES[name].values() for p in split})
            problems.append(f'{name}: no path given; add "data={{{name}: PATH}}" to --config '
                            f'(PATH: the folder holding {", ".join(expected)})')
            continue
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            problems.append(f'{name}: {root} is not a folder; give the folder of the official '
                            'release')
            continue
        sources[name] = {}
        for split, (src, images) in PAPER_SOURCES[name].items():
            src_path, img_path = root / src, root / images
            for path in (src_path, img_path):
                if not path.exists():
                    problems.append(f'{name} ({split}): {path} not found; expected the layout '
                                    f'of docs/workflow.md under {root}')
            sources[name][split] = (str(src_path), str(img_path))
    if problems:
        raise InputError('the paper tier cannot start, fix the dataset paths first:\n  '
                         + '\n  '.join(problems))
    return sources


def alternation(values) -> str:
    """A regex matching exactly one of ``values`` (for Snakemake's wildcard_constraints)."""
    return '|'.join(re.escape(v) for v in sorted(values, key=len, reverse=True))


def resources(tier: str, stage: str) -> dict[str, int]:
    """``mem_mb`` and ``runtime`` (minutes) of a job of ``stage`` at ``tier``."""
    mem_mb, runtime = TIER_RESOURCES[tier][stage]
    return {'mem_mb': mem_mb, 'runtime': runtime}


def synth_options(tier: str, dataset: str | None = None) -> str:
    """The ``srtod synth`` options of a synthetic tier, from its spec (``srtod.tiers``); the
    check tier's image size is the dataset's."""
    from srtod.tiers import tier_data_spec

    spec = tier_data_spec(tier, dataset)
    return (f"--images {spec['images']} --test-fraction {spec['test_fraction']:.6g} "
            f"--width {spec['width']} --height {spec['height']}")


def convert_options(dataset: str, split: str, sources: dict) -> str:
    """The ``srtod convert`` options of a paper dataset split (after FORMAT SRC OUT_JSON).

    From the dataset's :class:`srtod.vocab.DatasetSpec`: its ``converter_options`` (DOTA: the
    version and the patch cut), and for a ``coco`` converter the image folder to check.
    """
    spec = DATASET_SPECS[dataset]
    options = list(spec.converter_options)
    if spec.converter == 'coco':
        options += ['--images', sources[dataset][split][1]]
    return shlex.join(options)


def stage_images(dataset: str, split: str, sources: dict) -> str:
    """The ``stage-split --images`` option: the split's image folder, none for a converter
    that writes the images itself (DOTA's patches, written into ``images/``)."""
    if DATASET_SPECS[dataset].converter == 'dota':
        return ''
    return f'--images {shlex.quote(sources[dataset][split][1])}'


def stage_split(raw_json: str | Path, out_json: str | Path, split: str,
                images: str | Path | None) -> int:
    """Make a converted split follow the data layout ``data/<tier>/<dataset>/images/``.

    The converters write file names relative to the split's own image folder, and the two
    splits of a release live in different folders. This links ``<out folder>/images/<split>``
    to ``images`` and prefixes every file name with ``<split>/``, so both splits share one
    ``images/`` folder. With ``images`` None (DOTA patches, written into ``images/`` by the
    converter) the file names are kept.

    Args:
        raw_json: the converter's output.
        out_json: the staged COCO json (written atomically).
        split: ``train`` or ``test``.
        images: the folder the raw file names are relative to, or None.

    Returns:
        The number of images.
    """
    import json
    import os

    from srtod.io import write_json

    raw_json, out_json = Path(raw_json), Path(out_json)
    data = json.loads(raw_json.read_text(encoding='utf-8'))
    if images is not None:
        images = Path(images).resolve()
        if not images.is_dir():
            raise InputError('image folder not found', path=images)
        link = out_json.parent / 'images' / split
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            if not link.is_symlink() or Path(os.readlink(link)).resolve() != images:
                raise InputError(f'expected a link to {images}; remove it to re-stage the data',
                                 path=link)
        else:
            link.symlink_to(images, target_is_directory=True)
        for image in data['images']:
            image['file_name'] = f"{split}/{image['file_name']}"
    write_json(out_json, data, indent=None)
    return len(data['images'])


def write_data_ready(path: str | Path, datasets, validations) -> None:
    """The gate file of the data stage: which datasets were validated, with what result."""
    from srtod.io import write_json

    write_json(path, {
        'datasets': list(datasets),
        'validation': {Path(v).name.split('.')[0]: Path(v).read_text(encoding='utf-8').strip()
                       for v in validations},
    })


def fps_runs(registry, tables, run_ids, which: str) -> list[str]:
    """The runs whose FPS is measured: ``all`` the runs, or (``tables``) the runs of the
    selected tables that publish an FPS column (supplement Table 5) and their baselines."""
    if which == 'all':
        return list(run_ids)
    wanted = [t for t in tables if 'FPS' in (registry.tables[t].columns or ())]
    return select_runs(registry, wanted)


def invocation_path(tier: str, root: str | Path = '.') -> Path:
    """``logs/<tier>/workflow.json`` under ``root`` (the workflow's working directory)."""
    return Path(root) / INVOCATION_FILE.format(tier=tier)


def _utc(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        '%Y-%m-%d %H:%M:%S UTC')


def job_counts(workflow) -> dict | None:
    """Rule name -> jobs the invocation runs (Snakemake's DAG, as in its "Job stats" table),
    or None when this Snakemake's DAG does not tell (its API is internal)."""
    from collections import Counter

    try:
        return dict(Counter(job.rule.name for job in workflow.dag.needrun_jobs()))
    except Exception:   # an internal API: the count is a nicety, never a failure
        return None


def _cpu(who: str) -> float:
    """CPU seconds (user + system) of this process (``self``: Snakemake itself, with the
    ``run:`` rules it runs in-process) or of its finished child processes (``children``: the
    local jobs; under a cluster executor, only its submit and status commands)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF if who == 'self' else resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def record_invocation(tier: str, cores, jobs: dict | None, seeds: int,
                      root: str | Path = '.', now: float | None = None) -> Path:
    """Record that a workflow invocation starts now (the Snakefile's onstart handler).

    Args:
        tier: the tier.
        cores: Snakemake's cores (``workflow.cores``).
        jobs: rule name -> jobs of that rule this invocation will run (None: not known).
        seeds: seeds per run.
        root: the working directory.
        now: the start time (time.time(); default now).

    Returns:
        The path of the record (``logs/<tier>/workflow.json``), which replaces the previous one.
    """
    import os
    import socket
    import sys
    import time

    from srtod.io import write_json

    now = time.time() if now is None else now
    path = invocation_path(tier, root)
    write_json(path, {
        'tier': tier, 'started': _utc(now), 'started_unix': now, 'cores': cores,
        'seeds': seeds, 'jobs': None if jobs is None else sum(jobs.values()),
        'jobs_by_rule': jobs, 'host': socket.gethostname(), 'pid': os.getpid(),
        'argv': sys.argv, 'snakemake_cpu_s_at_start': round(_cpu('self'), 2),
        'finished': None, 'finished_unix': None, 'wall_s': None, 'status': 'running'})
    return path


def finish_invocation(tier: str, status: str, root: str | Path = '.',
                      now: float | None = None) -> dict | None:
    """Complete the record of :func:`record_invocation` (onsuccess: ``ok``, onerror:
    ``failed``) with the end time and the measured wall time; None when there is no record."""
    import time

    from srtod.io import write_json

    record = read_invocation(tier, root)
    if record is None:
        return None
    now = time.time() if now is None else now
    record.update(finished=_utc(now), finished_unix=now,
                  wall_s=round(now - record['started_unix'], 1), status=status,
                  snakemake_cpu_s=round(_cpu('self'), 2),
                  children_cpu_s=round(_cpu('children'), 2))
    write_json(invocation_path(tier, root), record)
    return record


def read_invocation(tier: str, root: str | Path = '.') -> dict | None:
    """The tier's invocation record, or None when there is none.

    Raises:
        InputError: a record that is not JSON or lacks ``started_unix``.
    """
    import json

    path = invocation_path(tier, root)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding='utf-8'))
    except json.JSONDecodeError as err:
        raise InputError(f'not JSON ({err.msg})', path=path, line=err.lineno) from None
    if not isinstance(record, dict) or not isinstance(record.get('started_unix'), (int, float)):
        raise InputError('expected the record of a workflow invocation with started_unix',
                         path=path)
    return record


def _alive(record: dict) -> bool:
    """Whether the invocation of a record without an end still runs (False only when its
    process, on this host, is known to be gone)."""
    import os
    import socket

    pid = record.get('pid')
    if record.get('host') != socket.gethostname() or not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wall_time_text(record: dict | None, runs: int, now: float | None = None) -> str:
    """The sentence of index.md that says how long the workflow invocation behind it took.

    Measured, never estimated: the minutes from the invocation's start (onstart) to ``now``,
    when the report is written, and how many of the report's ``runs`` (run x seed) that
    invocation trained (its ``mmdet_train`` jobs). A report rewritten by an invocation that
    trained fewer says so: the time of earlier invocations is not known here.

    Args:
        record: :func:`read_invocation`'s record, or None.
        runs: the trainings (run x seed) the report shows.
        now: when the report is written (default now).
    """
    import time

    if record is None:
        return ('Wall time: not measured (no `logs/<tier>/workflow.json`: this report was not '
                'written by a workflow invocation).')
    now = time.time() if now is None else now
    if record.get('finished_unix') is not None:
        wall = record.get('wall_s')
        return (f'Wall time: this report was written by hand at {_utc(now)}, after the last '
                f'workflow invocation, which started at {record["started"]} and ended '
                f'({record.get("status")}) after {wall / 60:.1f} min.' if wall is not None else
                f'Wall time: this report was written by hand at {_utc(now)}.')
    if not _alive(record):
        return (f'Wall time: not measured; this report was written at {_utc(now)}, and the last '
                f'workflow invocation, which started at {record["started"]}, was stopped before '
                'it ended (no end recorded, its process is gone).')
    minutes = (now - record['started_unix']) / 60
    jobs = record.get('jobs_by_rule')
    cores = record.get('cores')
    on_cores = f' on {cores} cores' if cores else ''
    n_jobs = f' with {record["jobs"]} jobs' if record.get('jobs') is not None else ''
    head = (f'Wall time: made by a workflow invocation that started at {record["started"]}'
            f'{on_cores}{n_jobs} and wrote this report at {_utc(now)}, after {minutes:.1f} min')
    if jobs is None:
        return head + '; how many of its runs it trained is not recorded.'
    trained = jobs.get('mmdet_train', 0)
    if trained >= runs:
        pretrain = jobs.get('srtod_pretrain', 0)
        return (head + f'; it trained all {runs} runs (run x seed) shown'
                + (f', after pretraining {pretrain} backbones' if pretrain else '') + '.')
    if trained == 0:
        return (head + f'; it trained none of the {runs} runs shown, which come from earlier '
                'invocations whose wall time is not counted here.')
    return (head + f'; it trained {trained} of the {runs} runs shown, the others come from '
            'earlier invocations whose wall time is not counted here.')


def main(argv=None) -> int:
    """``python -m srtod.workflow stage-split RAW OUT SPLIT [--images DIR]`` (used by data.smk)."""
    import argparse
    import sys

    from srtod.errors import SRTODError

    parser = argparse.ArgumentParser(prog='python -m srtod.workflow')
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('stage-split', help='link a split\'s images under images/<split>/')
    p.add_argument('raw_json')
    p.add_argument('out_json')
    p.add_argument('split', choices=('train', 'test'))
    p.add_argument('--images', default=None)
    args = parser.parse_args(argv)
    try:
        n = stage_split(args.raw_json, args.out_json, args.split, args.images)
    except SRTODError as err:
        print(f'stage-split: error: {err}', file=sys.stderr)
        return 2
    print(f'{args.out_json}: {n} images')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
