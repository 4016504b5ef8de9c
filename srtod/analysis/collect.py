"""Collect: every run of a tier, read from its result files, into one pandas table.

``results/<tier>/<run id>/seed<S>/{train,metrics,fps}.json`` -> ``results/<tier>/runs.csv``, one
row per (run id, seed). Of an SR-TOD run's metrics.json (``srtod test`` measures the mechanism
of every seed, srtod.engine.evaluate) the row keeps the mechanism figures
(``MECHANISM_COLUMNS``, see srtod.analysis.mechanism); they are empty where that metrics.json
has none (a baseline, a failed run, or a test by older code). A run whose training, test or
FPS measurement failed (a model failure, see docs/architecture.md) is a row with ``status``
``failed`` and the reason in ``failure``; a run whose training finished but whose test has not
run yet is ``incomplete``.

Provenance. Each row carries what made it (``config_hash``, ``run_version``, ``code_version`` and
``machine`` of the training; ``test_code_version`` and ``test_machine`` of the test). Given the
current hashes and versions (``current``), a row whose recorded config hash or run version
differs, or was not recorded, is marked ``stale`` with the reason: its numbers come from another
config than the one configs/ now define.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from srtod.engine.provenance import machine_text
from srtod.errors import InputError
from srtod.io import atomic_open
from srtod.vocab import METRIC_KEYS

#: The mechanism figures of metrics.json's ``mechanism`` that runs.csv keeps (NaN when absent).
MECHANISM_COLUMNS = ('rec_psnr', 'rec_psnr_constant', 'auc_very_tiny', 'auc_very_tiny_constant',
                     'auc_all', 'auc_all_constant')

#: What one training cost, as train.json records it (srtod.engine.train): seconds per iteration
#: (the first iteration of each attempt left out), peak memory in MB and how it was measured
#: (``cpu_ru_maxrss``: the process's peak RSS; ``cuda_max_memory_allocated``: the GPU's peak
#: allocation), and the torch threads. Empty for a train.json written before they were recorded.
COST_COLUMNS = ('seconds_per_iter', 'peak_memory_mb', 'memory_measure', 'torch_threads')

#: The columns of runs.csv, in order.
RUN_COLUMNS = (
    'run_id', 'tier', 'seed', 'dataset', 'detector', 'variant', 'baseline', 'status',
    'failure_stage', 'failure', *METRIC_KEYS, 'fps', 'fps_device', 'fps_images',
    *MECHANISM_COLUMNS,
    'threshold_init', 'threshold_final', 'iterations', 'wall_time_s', *COST_COLUMNS,
    'test_wall_time_s', 'config_hash',
    'run_version', 'code_version', 'machine', 'test_code_version', 'test_machine', 'stale')

STATUS_OK, STATUS_FAILED, STATUS_INCOMPLETE = 'ok', 'failed', 'incomplete'
_SEED_DIR = re.compile(r'^seed(\d+)$')


def read_result(path: Path) -> dict | None:
    """Read one result file (train.json, metrics.json, fps.json).

    Args:
        path: the file.

    Returns:
        The parsed object, or None when the file does not exist.

    Raises:
        InputError: the file exists but is not a JSON object.
    """
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text(encoding='utf-8'))
    except json.JSONDecodeError as err:
        raise InputError(f'not valid JSON ({err.msg}); expected a result file written by srtod',
                         path=path, line=err.lineno) from err
    if not isinstance(obj, dict):
        raise InputError('expected a JSON object', path=path)
    return obj


def _failure_reason(obj: dict) -> str:
    failure = obj.get('failure') or {}
    if isinstance(failure, dict):
        reason = str(failure.get('reason') or 'unknown reason')
        if failure.get('iteration') is not None:
            reason += f' (iteration {failure["iteration"]})'
        return reason
    return str(failure)


def _number(value) -> float:
    """A result value as float; None, missing or non-numeric values are NaN."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _threshold(train: dict, metrics: dict | None) -> tuple[float, float]:
    thr = train.get('threshold')
    if not isinstance(thr, dict) and metrics is not None:
        thr = metrics.get('threshold')
    if isinstance(thr, dict):
        return _number(thr.get('init')), _number(thr.get('final'))
    return math.nan, _number(thr)


def run_record(run_dir: Path, run=None, tier: str | None = None) -> dict | None:
    """One row of runs.csv from the result files of one seed directory.

    Args:
        run_dir: ``results/<tier>/<run id>/seed<S>``.
        run: the registry's ``Run`` of this run id (dataset, detector, variant, baseline), if known.
        tier: the tier, when the files do not say it.

    Returns:
        A dict with the keys of ``RUN_COLUMNS``, or None when the run has not been trained yet
        (no train.json).
    """
    train = read_result(run_dir / 'train.json')
    if train is None:
        return None
    metrics = read_result(run_dir / 'metrics.json')
    fps = read_result(run_dir / 'fps.json')
    seed_match = _SEED_DIR.match(run_dir.name)
    rec = {key: math.nan for key in RUN_COLUMNS}
    rec.update(
        run_id=train.get('run_id') or (run.run_id if run is not None else None),
        tier=train.get('tier') or tier,
        seed=int(train.get('seed', seed_match.group(1) if seed_match else -1)),
        dataset=getattr(run, 'dataset', None), detector=getattr(run, 'detector', None),
        variant=getattr(run, 'variant', None), baseline=getattr(run, 'baseline', None),
        status=STATUS_OK, failure_stage=None, failure=None,
        iterations=_number(train.get('iterations')),
        wall_time_s=_number(train.get('wall_time_s')),
        seconds_per_iter=_number(train.get('seconds_per_iter')),
        peak_memory_mb=_number(train.get('peak_memory_mb')),
        memory_measure=train.get('memory_measure'),
        torch_threads=_number(train.get('torch_threads')),
        config_hash=train.get('config_hash'), run_version=train.get('run_version'),
        code_version=train.get('code_version'), machine=machine_text(train.get('machine')),
        stale=None)
    tested = (metrics or {}).get('test_provenance') or {}
    rec.update(test_code_version=tested.get('code_version'),
               test_machine=machine_text(tested.get('machine')),
               test_wall_time_s=_number((metrics or {}).get('test_wall_time_s')))
    rec['threshold_init'], rec['threshold_final'] = _threshold(train, metrics)
    if metrics is not None and metrics.get('status') != STATUS_FAILED:
        values = metrics.get('metrics') or {}
        for key, value in values.items():
            key = key.split('/', 1)[1] if key.startswith('aitod/') else key
            if key in METRIC_KEYS:
                rec[key] = _number(value)
        mechanism = metrics.get('mechanism') or {}
        if not isinstance(mechanism, dict):
            raise InputError('expected `mechanism` to be an object (srtod test writes '
                             'MechanismAccumulator.result()) or absent',
                             path=run_dir / 'metrics.json')
        rec.update({key: _number(mechanism.get(key)) for key in MECHANISM_COLUMNS})
    if fps is not None and fps.get('status') != STATUS_FAILED:
        rec.update(fps=_number(fps.get('fps')), fps_device=fps.get('device'),
                   fps_images=_number(fps.get('images')))
    for stage, obj in (('train', train), ('test', metrics), ('fps', fps)):
        if obj is not None and obj.get('status') == STATUS_FAILED:
            rec.update(status=STATUS_FAILED, failure_stage=stage, failure=_failure_reason(obj))
            break
    else:
        if metrics is None:
            rec['status'] = STATUS_INCOMPLETE
    return rec


def stale_reason(rec: dict, config_hash: str | None, version: int | None) -> str | None:
    """Why a row's numbers no longer match the current config, or None when they do.

    Args:
        rec: a row of runs.csv (``config_hash``, ``run_version``).
        config_hash: the hash of the run's config as configs/ define it now.
        version: the run's ``version`` in configs/experiments.yaml now.
    """
    reasons = []
    recorded = rec.get('config_hash')
    if not isinstance(recorded, str) or not recorded:
        reasons.append('config hash not recorded')
    elif config_hash is not None and recorded != config_hash:
        reasons.append(f'config changed ({recorded} -> {config_hash})')
    recorded_version = _number(rec.get('run_version'))
    if not math.isfinite(recorded_version):
        reasons.append('run version not recorded')
    elif version is not None and int(recorded_version) != int(version):
        reasons.append(f'run version {int(recorded_version)} -> {int(version)}')
    return '; '.join(reasons) or None


def seed_dirs(results_root: Path, tier: str, run_id: str) -> list[Path]:
    """The ``seed<S>`` directories of one run, by seed."""
    base = Path(results_root) / tier / run_id
    if not base.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in base.iterdir()
             if p.is_dir() and (m := _SEED_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def collect_runs(registry, tier: str, results_root: str | Path = 'results',
                 run_ids=None, current=None) -> pd.DataFrame:
    """Collect every trained (run id, seed) of a tier.

    Args:
        registry: a ``srtod.registry.Registry``; its runs give dataset, detector, variant and
            baseline of each row.
        tier: ``paper``, ``smoke`` or ``tiny``.
        results_root: the folder holding ``<tier>/<run id>/seed<S>/``.
        run_ids: restrict to these run ids (default: every run of the registry).
        current: function (run id, seed) -> the hash of the run's config now; with it, each
            row's ``stale`` column says why its numbers no longer match configs/ (None when
            they do). Without it, nothing is marked.

    Returns:
        A DataFrame with the columns ``RUN_COLUMNS``, sorted by run id and seed; runs with no
        train.json are absent.
    """
    ids = list(registry.runs) if run_ids is None else list(run_ids)
    records = []
    for run_id in ids:
        run = registry.runs.get(run_id)
        for directory in seed_dirs(Path(results_root), tier, run_id):
            rec = run_record(directory, run=run, tier=tier)
            if rec is not None:
                rec['run_id'] = run_id
                if current is not None and run is not None:
                    rec['stale'] = stale_reason(rec, current(run_id, rec['seed']), run.version)
                records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=list(RUN_COLUMNS))
    if len(frame):
        frame = frame.sort_values(['run_id', 'seed'], kind='stable').reset_index(drop=True)
    return frame


def write_runs_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write runs.csv atomically."""
    with atomic_open(path, 'w', encoding='utf-8', newline='') as f:
        frame.to_csv(f, index=False)


def load_runs_csv(path: str | Path) -> pd.DataFrame:
    """Read runs.csv back (the columns of ``RUN_COLUMNS``).

    Raises:
        InputError: the file is missing or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError('runs table not found; run `srtod collect --tier TIER` first', path=path)
    frame = pd.read_csv(path, dtype={'run_id': str, 'status': str, 'failure': str,
                                     'failure_stage': str, 'variant': str, 'baseline': str,
                                     'config_hash': str, 'code_version': str, 'stale': str,
                                     'memory_measure': str})
    missing = [c for c in ('run_id', 'seed', 'status') if c not in frame.columns]
    if missing:
        raise InputError(f'missing columns {missing}; expected the columns of runs.csv: '
                         + ', '.join(RUN_COLUMNS), path=path, line=1)
    return frame
