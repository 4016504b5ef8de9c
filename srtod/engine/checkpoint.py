"""Safe checkpoint loading for every path mmengine loads a local checkpoint through.

mmengine 0.10.7 calls ``torch.load(filename, map_location)`` without ``weights_only``. torch >= 2.6
then unpickles with ``weights_only=True`` and refuses mmengine's own checkpoints (numpy arrays
and ``HistoryBuffer`` objects in the message-hub state), so resume and test fail; torch < 2.6
unpickles with ``weights_only=False``, which runs whatever code a checkpoint's pickle names.

This module re-registers the local scheme of :class:`mmengine.runner.CheckpointLoader` (the
empty prefix, with ``force=True``) with :func:`safe_load`: ``weights_only=True`` always, passed
explicitly, plus an explicit allow-list of the types mmengine checkpoints hold. Runner.resume,
``load_checkpoint``/``_load_checkpoint`` and ``srtod test --checkpoint`` all go through it.
Remote checkpoints (``torchvision://resnet50`` of the paper tier, http(s), open-mmlab) are
downloaded by mmengine as before and loaded through the same function (:func:`safe_load_url`).

``builtins.getattr``: mmengine's ``HistoryBuffer.__getstate__`` adds the class-level
``_statistics_methods`` (``HistoryBuffer.min``, ``.max``, ``.current``, ``.mean``) to every
buffer's state, and pickle protocol 2 (torch.save's) writes a function with a dotted qualname
as ``getattr(HistoryBuffer, 'min')``. The real ``getattr`` would let a checkpoint read any
attribute of anything it built (property getters run code), so ``builtins.getattr`` is bound to
:func:`_statistics_getattr`, which only returns HistoryBuffer's own statistics functions. And
because ``HistoryBuffer.__setstate__`` writes those functions into the *class* (shared by all
buffers), the allow-listed ``HistoryBuffer`` is a checked stand-in that refuses any statistics
function other than the class's own before handing the object over as a plain HistoryBuffer.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from types import FunctionType

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import CheckpointLoader

from srtod.errors import InputError

__all__ = [
    'CheckpointError', 'UnsafeCheckpointError', 'safe_load', 'safe_globals',
    'load_from_local_safe', 'safe_load_url', 'install',
]

# Messages of torch's weights_only unpickler when a pickle asks for something not allow-listed.
_REFUSAL_MARKERS = (
    'Unsupported global', 'was not an allowed global', 'Trying to call reduce',
    'Can only build', 'Can only create new object', 'is blocked',
    'Only persistent_load of storage',
)


class CheckpointError(InputError):
    """A checkpoint file that cannot be read: missing, truncated or corrupt.

    Args:
        message: what was wrong and what was expected.
        path: the checkpoint file.
    """


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle asks for code outside the allow-list; it was not run.

    Args:
        message: which global or call was refused.
        path: the checkpoint file.
    """


def _numpy_dtype_classes() -> list[type]:
    """Every concrete numpy DType class (``numpy.dtypes.*DType``) of the installed numpy."""
    classes = set()
    for code in np.typecodes['All']:
        try:
            classes.add(type(np.dtype(code)))
        except TypeError:
            continue
    for kind in ('V8', 'S1', 'U1', 'M8[s]', 'm8[s]'):
        classes.add(type(np.dtype(kind)))
    return sorted((c for c in classes if c is not np.dtype), key=lambda c: c.__name__)


_DTYPE_CLASSES = {c.__name__: c for c in _numpy_dtype_classes()}
_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def _statistics_function(name):
    """HistoryBuffer's own statistics function ``name``, or None."""
    if not isinstance(name, str):
        return None
    if name not in _DEFAULT_STATISTICS and name not in HistoryBuffer._statistics_methods:
        return None
    function = vars(HistoryBuffer).get(name)
    return function if isinstance(function, FunctionType) else None


def _statistics_getattr(owner, name):
    """``builtins.getattr`` as checkpoints may call it: ``getattr(HistoryBuffer, '<statistic>')``.

    Raises:
        pickle.UnpicklingError: for any other owner or name (checked before anything is read).
    """
    # the pickle's GLOBAL HistoryBuffer resolves to the checked stand-in below
    owner_ok = owner is HistoryBuffer or owner is _CheckedHistoryBuffer
    function = _statistics_function(name) if owner_ok else None
    if function is None:
        raise pickle.UnpicklingError(
            f'refused builtins.getattr({getattr(owner, "__name__", type(owner).__name__)}, '
            f'{name!r}): a checkpoint may only look up HistoryBuffer statistics methods')
    return function


class _CheckedHistoryBuffer(HistoryBuffer):
    """Unpickles as ``HistoryBuffer`` after checking its statistics methods are the class's own."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError('HistoryBuffer state must be a dict')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict) or any(
                _statistics_function(k) is None or _statistics_function(k) is not v
                for k, v in methods.items()):
            raise pickle.UnpicklingError(
                'refused HistoryBuffer state: its statistics methods are not HistoryBuffer\'s own')
        self.__class__ = HistoryBuffer
        HistoryBuffer.__setstate__(self, state)


def _numpy_globals() -> list:
    """numpy's array and scalar reconstruction, under both its numpy 1 and numpy 2 module names."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    entries: list = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    for cls in _DTYPE_CLASSES.values():
        entries.append((cls, f'numpy.dtypes.{cls.__name__}'))
        entries.append((cls, f'{cls.__module__}.{cls.__qualname__}'))
    return entries


def safe_globals() -> list:
    """The allow-list: what torch's ``weights_only`` unpickler may build beyond tensors.

    Returns:
        Entries for ``torch.serialization.safe_globals``: objects, or ``(object, 'module.name')``
        where a pickle names the object differently from its ``__module__``/``__qualname__``.
    """
    entries = _numpy_globals()
    entries.append((_CheckedHistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'))
    entries.append((_statistics_getattr, 'builtins.getattr'))
    return entries


def _reason(err: Exception) -> str:
    """The informative line of an error (torch wraps the unpickler's own after a long preamble)."""
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _classify(err: Exception, path: str) -> CheckpointError:
    message = _reason(err)
    if isinstance(err, pickle.UnpicklingError) and any(m in str(err) for m in _REFUSAL_MARKERS):
        return UnsafeCheckpointError(
            'refused to load this checkpoint: its pickle asks for code that is not on the '
            f'allow-list of mmengine checkpoint types ({message}); nothing from it was run. '
            'Expected a checkpoint written by mmengine/srtod (tensors, numpy arrays, '
            'message-hub state).', path=path)
    if 'refused builtins.getattr' in str(err) or 'refused HistoryBuffer' in str(err):
        return UnsafeCheckpointError(f'refused to load this checkpoint: {message}', path=path)
    return CheckpointError(
        f'cannot read this checkpoint, it is truncated or corrupt ({type(err).__name__}: '
        f'{message}). Expected a complete torch.save file.', path=path)


def safe_load(path, map_location=None):
    """Load a checkpoint file with ``weights_only=True`` and the allow-list of :func:`safe_globals`.

    Args:
        path: a local checkpoint file.
        map_location: as for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict with ``state_dict``, ``meta``, ...).

    Raises:
        CheckpointError: the file is missing, truncated or corrupt.
        UnsafeCheckpointError: its pickle names a global or call outside the allow-list.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise CheckpointError('checkpoint file not found; expected an existing .pth file',
                              path=path)
    context = getattr(torch.serialization, 'safe_globals', None)
    try:
        if context is not None:  # torch >= 2.5
            with context(safe_globals()):
                return torch.load(path, map_location=map_location, weights_only=True)
        if hasattr(torch.serialization, 'add_safe_globals'):  # torch 2.4
            torch.serialization.add_safe_globals(
                [e for e in safe_globals() if not isinstance(e, tuple)])
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
            zipfile.BadZipFile, KeyError, IndexError, TypeError, AttributeError) as err:
        raise _classify(err, path) from err


def load_from_local_safe(filename, map_location=None):
    """mmengine's local checkpoint scheme, loading through :func:`safe_load`.

    Args:
        filename: a local checkpoint path (``~`` expanded).
        map_location: as for :func:`torch.load`.

    Returns:
        The loaded checkpoint.
    """
    return safe_load(filename, map_location=map_location)


def safe_load_url(url: str, model_dir: str | None = None, map_location=None, **_):
    """Download ``url`` into torch's hub cache (if not there yet), then :func:`safe_load` it.

    Stands in for the ``load_url`` mmengine's remote schemes call (http(s)://, torchvision://,
    open-mmlab://, mmcls://): torch's ``load_state_dict_from_url`` defaults to
    ``weights_only=False`` even on torch 2.13, so a downloaded or tampered cached file could
    otherwise run code.

    Args:
        url: the checkpoint URL.
        model_dir: cache folder; default ``<torch hub dir>/checkpoints``.
        map_location: as for :func:`torch.load`.

    Returns:
        The loaded checkpoint.
    """
    from urllib.parse import urlparse

    from torch.hub import download_url_to_file, get_dir
    model_dir = model_dir or os.path.join(get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = os.path.join(model_dir, os.path.basename(urlparse(url).path))
    if not os.path.exists(cached):
        download_url_to_file(url, cached, None, progress=True)
    return safe_load(cached, map_location=map_location)


def install() -> None:
    """Make mmengine load checkpoints safely (idempotent).

    The local scheme (empty prefix) is re-registered with :func:`load_from_local_safe`; the
    remote schemes keep mmengine's loaders (URL lookup, distributed download) but the
    ``load_url`` they call is :func:`safe_load_url`.
    """
    from mmengine.runner import checkpoint as mm_checkpoint
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
    mm_checkpoint.load_url = safe_load_url


install()
