"""What a result was produced with: config hash, run version, code version, machine, packages.

Every result file (train.json, metrics.json, fps.json) records :func:`provenance`; the
workflow gives the same config hash and run version to the training rule as params, so a change
of either reruns that run (docs/architecture.md, "Results layout"), and ``srtod collect`` marks
results whose config or version no longer match as stale.

Also the one place that maps (results root, tier, run id, seed) to a run directory and checks
that a run id cannot lead out of the results root.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from srtod.errors import InputError
from srtod.vocab import RUN_ID_RE, TIERS

__all__ = ['TIERS', 'run_directory', 'config_hash', 'code_version', 'packages', 'machine',
           'machine_text', 'run_version', 'provenance', 'claim_work_dir']

PACKAGES = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmdet', 'numpy', 'pycocotools',
            'faster-coco-eval')
# Keys that say where a run writes, not what it computes.
_UNHASHED_KEYS = ('work_dir', 'launcher', 'resume', 'load_from', 'experiment_name')


def run_directory(results: str | Path, tier: str, run_id: str, seed: int) -> Path:
    """``<results>/<tier>/<run id>/seed<S>``, refusing ids or tiers that would leave ``results``.

    Args:
        results: the results root (``results/`` by default in the CLI).
        tier: one of ``paper``, ``smoke``, ``tiny``.
        run_id: a run id as docs/architecture.md spells it.
        seed: a non-negative integer.

    Returns:
        The absolute run directory (not created).

    Raises:
        InputError: a malformed run id, tier or seed, or a path outside ``results``.
    """
    if tier not in TIERS:
        raise InputError(f'unknown tier {tier!r}; expected one of {", ".join(TIERS)}')
    if not RUN_ID_RE.match(run_id or ''):
        raise InputError(
            f'malformed run id {run_id!r}; expected <dataset>/<detector>[+srtod[-<variant>]] '
            f'matching {RUN_ID_RE.pattern}')
    if int(seed) < 0:
        raise InputError(f'seed must be >= 0, got {seed}')
    root = Path(results).resolve()
    path = (root / tier / run_id / f'seed{int(seed)}').resolve()
    if root not in path.parents:
        raise InputError(f'run directory {path} is outside the results root {root}')
    return path


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))
                if k not in _UNHASHED_KEYS}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def config_hash(cfg) -> str:
    """sha256 (first 16 hex digits) of the config's content, without where-to-write keys.

    Args:
        cfg: an ``mmengine.Config`` or a plain dict.

    Returns:
        A stable hex digest: the same config in another results directory hashes the same.
    """
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    text = json.dumps(_plain(data), sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


@lru_cache(maxsize=1)
def code_version() -> str:
    """``srtod <version>`` plus the git commit of the checkout (``+dirty`` if modified), if any."""
    import srtod
    version = f'srtod {srtod.__version__}'
    repo = Path(srtod.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(['git', '-C', str(repo), 'rev-parse', '--short=12', 'HEAD'],
                                capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(['git', '-C', str(repo), 'status', '--porcelain', '--', 'srtod'],
                               capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return version
    return f'{version} git {commit.stdout.strip()}' + ('+dirty' if dirty.stdout.strip() else '')


def packages() -> dict[str, str]:
    """Installed versions of the packages a result depends on (absent ones left out)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


_ONEDNN = re.compile(r'(?:oneDNN|MKL-DNN)\D*?v?(\d+\.\d+(?:\.\d+)?)')


def _cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text(encoding='utf-8').splitlines():
            if line.lower().startswith('model name'):
                return ' '.join(line.split(':', 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown CPU'


@lru_cache(maxsize=1)
def machine() -> dict:
    """The machine a result is computed on: CPU model, GPU model (None without CUDA), device,
    and the versions of torch, CUDA, cuDNN and oneDNN (None where absent)."""
    import torch

    cuda = torch.cuda.is_available()
    match = _ONEDNN.search(torch.__config__.show())
    return dict(
        device='cuda' if cuda else 'cpu', cpu=_cpu_model(),
        gpu=torch.cuda.get_device_name(torch.cuda.current_device()) if cuda else None,
        gpus=torch.cuda.device_count() if cuda else 0,
        torch=torch.__version__, cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        onednn=(match.group(1) if match and torch.backends.mkldnn.is_available() else None))


def machine_text(info: dict | None) -> str | None:
    """One line for a report: ``NVIDIA H200 (1 GPU); torch 2.4.1, CUDA 12.1, oneDNN 3.4.2``."""
    if not isinstance(info, dict) or not info:
        return None
    if info.get('gpu'):
        where = f'{info["gpu"]} ({info.get("gpus") or 1} GPU)'
    else:
        where = f'CPU {info.get("cpu") or "unknown"}'
    return (f'{where}; torch {info.get("torch") or "?"}, CUDA {info.get("cuda") or "none"}, '
            f'oneDNN {info.get("onednn") or "none"}')


def run_version(run_id: str | None) -> int | None:
    """The ``version`` of a run in configs/experiments.yaml (None for a run id it lacks)."""
    if not run_id:
        return None
    from srtod.registry import load_registry
    run = load_registry().runs.get(run_id)
    return None if run is None else int(run.version)


def provenance(cfg, run_id: str | None) -> dict:
    """What every result file records: ``config_hash`` (of the resolved config),
    ``run_version``, ``code_version``, ``machine`` (:func:`machine`) and ``packages``."""
    return dict(config_hash=config_hash(cfg), run_version=run_version(run_id),
                code_version=code_version(), machine=machine(), packages=packages())


FINGERPRINT_FILE = 'srtod_fingerprint.json'


def claim_work_dir(work_dir: str | Path, config_hash_: str, version: int | None, log,
                   restart_on_change: bool = True) -> Path:
    """Make ``work_dir`` the work_dir of this config and run version.

    A work_dir left by another config or run version (its ``srtod_fingerprint.json`` differs)
    holds checkpoints a resume must not pick up: with ``restart_on_change`` it is moved aside to
    ``train.stale-<hash>-v<version>`` (nothing is deleted) and the training starts afresh;
    under a distributed launch only rank 0 (``RANK``) looks;
    without, it is kept (a deliberate resume with a changed config, e.g. a longer schedule) and
    the change is logged. A work_dir without a fingerprint (older results) is kept as it is.

    Args:
        work_dir: the mmengine work_dir (``<run dir>/train``).
        config_hash_: :func:`config_hash` of the config to train.
        version: the run's version.
        log: callable (message, level) for the move.
        restart_on_change: move a work_dir of another config or version aside.

    Returns:
        The work_dir, created, with this config's fingerprint.
    """
    work_dir = Path(work_dir)
    if int(os.environ.get('RANK', '0')) != 0:   # a distributed launch: rank 0 does it
        return work_dir
    mine = dict(config_hash=config_hash_, run_version=version)
    marker = work_dir / FINGERPRINT_FILE
    if marker.is_file():
        try:
            theirs = json.loads(marker.read_text(encoding='utf-8'))
        except (OSError, json.JSONDecodeError):
            theirs = {}
        if theirs != mine and not restart_on_change:
            log(f'the work_dir was made by another config or run version ({theirs} there, '
                f'{mine} now); resuming from it as asked', 'warning')
        elif theirs != mine:
            stem = (f'{work_dir.name}.stale-{theirs.get("config_hash", "unknown")}'
                    f'-v{theirs.get("run_version")}')
            aside, k = work_dir.with_name(stem), 1
            while aside.exists():
                k += 1
                aside = work_dir.with_name(f'{stem}.{k}')
            work_dir.replace(aside)
            log(f'the work_dir was made by another config or run version ({theirs} here, '
                f'{mine} now): moved it to {aside.name}, training starts from scratch',
                'warning')
    work_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(mine, sort_keys=True), encoding='utf-8')
    return work_dir


#: (run id, tier, id(registry)) -> (registry, the plain seed-0 config of the run): the seed is
#: the only part of a resolved config that differs between seeds (``randomness.seed`` and
#: ``srtod_run.seed``, set by srtod.tiers.apply_tier; the work_dir is not hashed), so one
#: resolution serves every seed of a run. Resolving costs about 0.7 s of CPU, and the workflow
#: asks for the hash of every (run, seed) when it builds its DAG.
_SEED0_CONFIGS: dict = {}


def resolved_config_hash(run_id: str, tier: str, seed: int, registry=None) -> str:
    """:func:`config_hash` of the config ``srtod train RUN_ID --tier T --seed S`` trains (the
    workflow's rerun param and ``srtod collect``'s staleness check), run from the same folder.

    The run's config is resolved once per process (seed 0) and the seed put in its place
    for the others; tests/test_report_provenance.py checks the result equals the hash of the
    config resolved for that seed."""
    from srtod.registry import resolve_config
    key = (run_id, tier, id(registry))
    if key not in _SEED0_CONFIGS:
        cfg = resolve_config(run_id, tier, 0, registry=registry)
        _SEED0_CONFIGS[key] = (registry, cfg.to_dict())
    data = _SEED0_CONFIGS[key][1]
    seeded = dict(data, randomness=dict(data['randomness'], seed=int(seed)),
                  srtod_run=dict(data['srtod_run'], seed=int(seed)))
    return config_hash(seeded)
