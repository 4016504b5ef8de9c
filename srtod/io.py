"""Atomic file writes: a crash or a full disk mid-write leaves the old file (or none), never a
partial one. Every result, metrics and report file of srtod-bench is written through here."""
from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = 'w', **kwargs) -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception (ENOSPC included) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def _finite_or_null(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as strict JSON, atomically: a NaN or infinite number becomes null (strict
    parsers reject NaN), so a result file reads the same in every JSON library."""
    with atomic_open(path, 'w', encoding='utf-8') as f:
        json.dump(_finite_or_null(obj), f, indent=indent, sort_keys=False, allow_nan=False)
        f.write('\n')


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, 'wb') as f:
        f.write(data)
