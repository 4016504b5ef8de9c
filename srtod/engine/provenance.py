"""What a result was produced with: config hash, code version, package versions, run paths.

Also the one place that maps (results root, tier, run id, seed) to a run directory and checks
that a run id cannot lead out of the results root.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from srtod.errors import InputError

__all__ = ['RUN_ID_PATTERN', 'TIERS', 'run_directory', 'config_hash', 'code_version', 'packages']

RUN_ID_PATTERN = re.compile(
    r'^(droneswarms|visdrone|aitod|dota)/[a-z0-9_]+(\+srtod(-[a-z0-9_]+)?)?$')
TIERS = ('paper', 'smoke', 'tiny')
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
    if not RUN_ID_PATTERN.match(run_id or ''):
        raise InputError(
            f'malformed run id {run_id!r}; expected <dataset>/<detector>[+srtod[-<variant>]] '
            f'matching {RUN_ID_PATTERN.pattern}')
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
