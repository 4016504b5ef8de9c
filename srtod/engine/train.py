"""Training of one run: mmengine Runner, resume after interruption, contained model failures.

``train_run(cfg, run_dir, ...)`` trains in ``<run_dir>/train`` (the mmengine work_dir, kept
between attempts so a killed job resumes) and, when training ends, writes ``checkpoint.pth``
and ``train.json`` atomically (docs/architecture.md, "Results layout" and "Failures").
With ``gpus > 1`` it trains in that many processes under torchrun (``srtod.engine.distributed``)
and rank 0 alone writes the result files. train.json also records the cost of the training:
the peak memory (``peak_memory_mb``: CUDA ``max_memory_allocated`` on a GPU, the process's
``ru_maxrss`` on CPU, named by ``memory_measure``) and the seconds per iteration after the first
(``seconds_per_iter``, this attempt's own timing of the iterations), which ``srtod plan`` reads.
"""
from __future__ import annotations

import copy
import re
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import get_state_dict, weights_to_cpu

from srtod.io import atomic_open, write_json

from . import distributed
from .checkpoint import CheckpointError, UnsafeCheckpointError, safe_load
from .hooks import NonFiniteLossError, TrainTimeHook, nan_injection_from_env
from .provenance import claim_work_dir, provenance

__all__ = ['train_run', 'select_resume_checkpoint', 'TrainLog']

_CKPT_NAME = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


class TrainLog:
    """Messages about resuming and failures: printed to stderr at once (the rule's log) and
    repeated into the mmengine log of the run once its Runner exists.

    Args:
        label: the run's name in messages (run id, tier and seed).
    """

    def __init__(self, label: str):
        self.label = label
        self.messages: list[tuple[str, str]] = []

    def __call__(self, message: str, level: str = 'info') -> None:
        text = f'srtod train [{self.label}]: {message}'
        self.messages.append((level, text))
        print(text, file=sys.stderr, flush=True)

    def replay(self, logger) -> None:
        for level, text in self.messages:
            getattr(logger, 'error' if level == 'error' else 'warning' if level == 'warning'
                    else 'info')(text)


class _IterationClock(Hook):
    """The time of every training iteration after the first of an attempt (CUDA work waited
    for), and the peak memory; both kept in each checkpoint's meta and restored on resume, so
    a run resumed (even from its final checkpoint) keeps the measurements of earlier attempts."""

    priority = 'LOW'  # before the CheckpointHook (VERY_LOW): the last iteration is saved too
    META_KEY = 'srtod_iteration_cost'

    def __init__(self):
        self.ends: list[float] = []
        self.previous_steps: list[float] = []
        self.previous_peaks: dict = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())

    def steps(self) -> list[float]:
        """Iteration times of all attempts (the first iteration of each attempt left out)."""
        return self.previous_steps + [b - a for a, b in zip(self.ends, self.ends[1:])]

    def peaks(self, model) -> dict:
        """Peak memory of this attempt and the earlier ones (the largest of each)."""
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device('cpu')
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
        peaks = dict(device=device.type, device_name='cpu', peak_rss_mb=round(rss_mb, 1))
        if device.type == 'cuda':
            peaks.update(device_name=torch.cuda.get_device_name(device),
                         peak_memory_mb=round(torch.cuda.max_memory_allocated(device) / 2 ** 20,
                                              1), memory_measure='cuda_max_memory_allocated')
        else:
            peaks.update(peak_memory_mb=peaks['peak_rss_mb'], memory_measure='cpu_ru_maxrss')
        before = self.previous_peaks
        if before.get('memory_measure') == peaks['memory_measure']:
            for key in ('peak_rss_mb', 'peak_memory_mb'):
                peaks[key] = max(peaks[key], before.get(key) or 0.0)
        return peaks

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[self.META_KEY] = dict(
            steps=self.steps(), **self.peaks(_unwrap(runner.model)))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = dict(checkpoint.get('meta', {}).get(self.META_KEY) or {})
        self.previous_steps = [float(v) for v in saved.pop('steps', [])]
        self.previous_peaks = saved


def _cost(model, clock: _IterationClock) -> dict:
    """Device, peak memory and seconds per iteration after the first, for train.json."""
    steps = clock.steps()
    return dict(**clock.peaks(model), torch_threads=torch.get_num_threads(),
                seconds_per_iter=round(statistics.fmean(steps), 4) if steps else None,
                timed_iterations=len(steps))


def _candidates(work_dir: Path) -> list[Path]:
    numbered = []
    for path in work_dir.glob('*.pth'):
        match = _CKPT_NAME.match(path.name)
        if match:
            numbered.append((int(match.group(2)), path))
    return [p for _, p in sorted(numbered, key=lambda t: t[0], reverse=True)]


def _print_log(message: str, level: str = 'info') -> None:
    print(f'{level}: {message}', file=sys.stderr, flush=True)


def select_resume_checkpoint(work_dir: str | Path, log=_print_log) -> Path | None:
    """The newest checkpoint in ``work_dir`` that loads; unreadable ones are set aside and logged.

    A truncated or corrupt ``iter_N.pth``/``epoch_N.pth`` is renamed ``<name>.corrupt`` (so the
    next attempt does not try it again) and the next older one is tried; with none left, the
    run starts from scratch, and the log says so.

    Args:
        work_dir: the mmengine work_dir of the run.
        log: callable taking (message, level).

    Returns:
        The checkpoint to resume from, or None to start from scratch.

    Raises:
        UnsafeCheckpointError: a checkpoint in the work_dir would run code; it is not loaded and
            the run stops, since someone other than the trainer wrote it.
    """
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        return None
    candidates = _candidates(work_dir)
    had_any = bool(candidates)
    for path in candidates:
        try:
            checkpoint = safe_load(path, map_location='cpu')
            if not (isinstance(checkpoint, dict) and 'state_dict' in checkpoint
                    and 'meta' in checkpoint):
                raise CheckpointError('not an mmengine training checkpoint (expected the keys '
                                      'meta and state_dict)', path=path)
        except UnsafeCheckpointError:
            raise
        except CheckpointError as err:
            aside = path.with_name(path.name + '.corrupt')
            path.replace(aside)
            log(f'error: {err}; moved it to {aside.name} and trying the previous checkpoint',
                'error')
            continue
        meta = checkpoint['meta']
        level = 'warning' if path != candidates[0] else 'info'  # warn after a fallback
        log(f'resuming from {path} (iteration {meta.get("iter", "?")}, epoch '
            f'{meta.get("epoch", "?")})', level)
        return path
    if had_any:
        log('no readable checkpoint left in the work_dir: training restarts from scratch',
            'warning')
    return None


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _threshold(model) -> float | None:
    getter = getattr(model, 'srtod_threshold', None)
    if getter is None:
        return None
    value = getter()
    return None if value is None else float(value)


def _save_weights(path: Path, model, meta: dict) -> None:
    checkpoint = dict(meta=meta, state_dict=weights_to_cpu(get_state_dict(model)))
    with atomic_open(path, 'wb') as f:
        torch.save(checkpoint, f)


def _distributed_setup(cfg, work_dir: Path, spec: dict | None, log):
    """In a torchrun worker (``spec`` from the launcher): configure DDP and take the launcher's
    resume choice; otherwise choose the checkpoint to resume from here."""
    if spec is None:
        return select_resume_checkpoint(work_dir, log)
    distributed.configure(cfg)
    return None if spec['resume_from'] is None else Path(spec['resume_from'])


def _writes_results() -> bool:
    """Only one process writes the result files: rank 0 (the only one outside torchrun)."""
    return distributed.rank() == 0


def train_run(cfg, run_dir: str | Path, *, run_id: str | None = None, tier: str | None = None,
              seed: int = 0, gpus: int = 1, restart_on_change: bool = False,
              _worker: dict | None = None) -> dict:
    """Train one run (resuming if its work_dir holds a checkpoint) and write its result files.

    Args:
        cfg: the ``mmengine.Config`` to train (``srtod.registry.resolve_config``); not modified.
        run_dir: ``results/<tier>/<run id>/seed<S>``; the work_dir is its ``train/``.
        run_id: the run id, for messages and train.json.
        tier: the tier, for train.json.
        seed: the random seed (set as ``randomness.seed``).
        gpus: processes to train in (one per GPU; on a machine without GPUs, CPU processes).
        restart_on_change: a work_dir left by another config or run version is moved aside
            and training starts from scratch (``srtod train``, which the workflow reruns when
            either changes); otherwise it resumes whatever checkpoint the work_dir holds.
        _worker: set by ``srtod.engine.distributed.worker_main`` in a torchrun worker.

    Returns:
        The train.json record. ``status`` is ``ok``, or ``failed`` with ``failure: {reason,
        iteration}`` when the loss became NaN or infinite (a result, not an exception).

    Raises:
        UnsafeCheckpointError: a checkpoint in the work_dir would run code.
        Exception: infrastructure failures (disk full, bad data) propagate, and no result
            file is written.
    """
    run_dir = Path(run_dir)
    work_dir = run_dir / 'train'
    label = f'{run_id or run_dir.name} tier={tier} seed={seed}'
    if distributed.is_worker():
        label += f' rank={distributed.rank()}'
    log = TrainLog(label)

    prov = provenance(cfg, run_id)  # of the config as resolved, before the engine's additions
    if _worker is not None:
        prov['config_hash'] = _worker['config_hash']  # the launcher's, of the config before its dump
    claim_work_dir(work_dir, prov['config_hash'], prov['run_version'], log, restart_on_change)
    if gpus > 1 and _worker is None:
        return distributed.launch(cfg, run_dir, run_id=run_id, tier=tier, seed=seed, gpus=gpus,
                                  config_hash=prov['config_hash'], log=log,
                                  resume_from=select_resume_checkpoint(work_dir, log))
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    # mmengine keys its logger, message hub and visualizer instances by experiment name (default:
    # the start second), so two runners in one process must not share one.
    cfg.experiment_name = f'train-{uuid.uuid4().hex[:8]}'
    randomness = dict(cfg.get('randomness') or {})
    randomness['seed'] = int(seed)
    cfg.randomness = randomness
    hooks = list(cfg.get('custom_hooks') or [])
    for name in ('NonFiniteLossHook', 'TrainTimeHook'):
        if not any(h.get('type') == name for h in hooks):
            hooks.append(dict(type=name))
    injection = nan_injection_from_env(run_id)
    if injection is not None:
        log(f'fault injection: the loss is made NaN at iteration {injection["iteration"]}',
            'warning')
        hooks.append(injection)
    cfg.custom_hooks = hooks

    resume_from = _distributed_setup(cfg, work_dir, _worker, log)
    if resume_from is not None:
        cfg.load_from, cfg.resume = str(resume_from), True
    else:
        cfg.resume = False

    record = dict(run_id=run_id, tier=tier, seed=int(seed), status='ok', **prov,
                  resumed_from=None if resume_from is None else str(resume_from))
    record['world_size'] = distributed.world_size()  # processes (GPUs) of the training
    runner = Runner.from_cfg(cfg)
    log.replay(runner.logger)
    model = _unwrap(runner.model)
    threshold_init = _threshold(model)
    clock = _IterationClock()
    runner.register_hook(clock)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()

    start = time.perf_counter()
    failure = None
    try:
        runner.train()
    except NonFiniteLossError as err:
        failure = dict(reason=err.reason, iteration=err.iteration)
        message = (f'srtod train [{label}]: model failure at iteration {err.iteration}: '
                   f'{err.reason}; train.json records status "failed"')
        runner.logger.error(message)
        print(message, file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    timers = [h for h in runner.hooks if isinstance(h, TrainTimeHook)]
    total = timers[0].elapsed() if timers else wall

    iterations = failure['iteration'] if failure else int(runner.iter)
    record.update(iterations=iterations, max_iterations=int(runner.max_iters),
                  wall_time_s=round(total, 3), attempt_wall_time_s=round(wall, 3),
                  threshold=dict(init=threshold_init, final=_threshold(model)),
                  **_cost(model, clock))
    if failure:
        record.update(status='failed', failure=failure)
    meta = dict(run_id=run_id, tier=tier, seed=int(seed), iter=iterations,
                status=record['status'], config_hash=record['config_hash'])
    if _writes_results():
        _save_weights(run_dir / 'checkpoint.pth', model, meta)
        write_json(run_dir / 'train.json', record)
    return record
