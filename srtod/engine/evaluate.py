"""Evaluation of one trained run: ``metrics.json`` (AI-TOD metric) and ``fps.json`` (speed).

Both read ``train.json`` first: a run that failed in training (NaN/inf loss) gets result files
with ``status: failed`` and no numbers, as docs/architecture.md ("Failures") fixes.

``metrics.json`` of an SR-TOD run also holds its mechanism (:mod:`srtod.analysis.mechanism`),
measured by the same process on the whole test split right after mmengine's test loop, so that
every seed of every SR-TOD run has it.
"""
from __future__ import annotations

import copy
import json
import platform
import time
import uuid
from pathlib import Path

import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from srtod.errors import InputError
from srtod.io import write_json

from .provenance import provenance

__all__ = ['test_run', 'fps_run', 'read_train_record']

def read_train_record(run_dir: str | Path) -> dict | None:
    """``train.json`` of a run, or None if the run has not been trained here.

    Raises:
        InputError: the file exists but is not a JSON object.
    """
    path = Path(run_dir) / 'train.json'
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding='utf-8'))
    except json.JSONDecodeError as err:
        raise InputError(f'not valid JSON ({err.msg}); expected the train.json srtod train '
                         'writes', path=path, line=err.lineno) from err
    if not isinstance(record, dict):
        raise InputError('expected a JSON object', path=path)
    return record


def _base_record(train: dict | None, run_id, tier, seed) -> dict:
    record = dict(train or {})
    record.update(run_id=run_id if run_id is not None else record.get('run_id'),
                  tier=tier if tier is not None else record.get('tier'), seed=int(seed))
    return record


def _checkpoint_path(run_dir: Path, checkpoint) -> Path:
    path = Path(checkpoint) if checkpoint else run_dir / 'checkpoint.pth'
    if not path.is_file():
        raise InputError('checkpoint not found; train the run first (srtod train) or pass '
                         '--checkpoint PATH', path=path)
    return path


def _set_records_path(evaluator, records_path: Path):
    if isinstance(evaluator, (list, tuple)):
        return [_set_records_path(e, records_path) for e in evaluator]
    evaluator = copy.deepcopy(evaluator)
    if str(evaluator.get('type', '')).split('.')[-1] == 'AITODMetric':
        evaluator['records_path'] = str(records_path)
    return evaluator


def _unwrapped(model):
    """The detector inside mmengine's (distributed) wrapper, if any."""
    return model.module if hasattr(model, 'module') else model


def _is_srtod(model) -> bool:
    """Whether a built detector carries SR-TOD (an SR-TOD detector with an ``srtod`` config)."""
    return bool(getattr(model, 'with_srtod', False)) and hasattr(model, 'srtod_maps')


def _mechanism(model, dataset) -> tuple[dict, float]:
    """The mechanism of the tested (unwrapped) model on its whole test split, and its seconds.

    The model and the test dataset are those the test loop just used (eval mode, same
    weights, same pipeline); one image at a time, as ``srtod figures`` sees them.
    """
    from srtod.analysis.mechanism import measure_mechanism
    start = time.perf_counter()
    with torch.no_grad():
        result = measure_mechanism(model.eval(), dataset)
    return result, time.perf_counter() - start


def test_run(cfg, run_dir: str | Path, *, run_id: str | None = None, tier: str | None = None,
             seed: int = 0, checkpoint: str | Path | None = None) -> dict:
    """Run mmengine's test loop on a trained run and write ``metrics.json`` atomically.

    Args:
        cfg: the run's ``mmengine.Config``; its ``test_evaluator`` is AITODMetric, which
            gets ``records_path=<run_dir>/records.npz``.
        run_dir: ``results/<tier>/<run id>/seed<S>``.
        run_id: the run id, recorded.
        tier: the tier, recorded.
        seed: the seed, recorded.
        checkpoint: the weights to test; default ``<run_dir>/checkpoint.pth``. Loaded through
            the safe loader (an unsafe pickle is refused with an error naming the file).

    Returns:
        The metrics.json record: train.json's fields, ``status``, ``metrics`` (keys without the
        evaluator prefix, e.g. ``AP``, ``APvt``), ``threshold``, ``checkpoint`` and
        ``test_wall_time_s`` (the test loop). For an SR-TOD model (``with_srtod``: run ids with
        ``+srtod``) also ``mechanism``, :meth:`srtod.analysis.mechanism.MechanismAccumulator.
        result` on every test image, and ``mechanism_wall_time_s``. The ``mechanism`` key is
        absent for a baseline run and for a run whose training failed (``status: failed``).
    """
    run_dir = Path(run_dir)
    train = read_train_record(run_dir)
    record = _base_record(train, run_id, tier, seed)
    # train.json's provenance stays; the test's own (its code and machine) goes beside it
    record['test_provenance'] = provenance(cfg, run_id)
    if train is not None and train.get('status') == 'failed' and checkpoint is None:
        record.update(status='failed', metrics=None)
        write_json(run_dir / 'metrics.json', record)
        return record
    ckpt = _checkpoint_path(run_dir, checkpoint)

    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(run_dir / 'train')
    cfg.experiment_name = f'test-{uuid.uuid4().hex[:8]}'  # see train_run
    cfg.load_from, cfg.resume = str(ckpt), False
    cfg.test_evaluator = _set_records_path(cfg.test_evaluator, run_dir / 'records.npz')
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    raw = runner.test()
    wall = time.perf_counter() - start

    metrics = {key.split('/', 1)[-1]: float(value) for key, value in raw.items()
               if isinstance(value, (int, float))}
    threshold = (train or {}).get('threshold')
    model = _unwrapped(runner.model)
    if threshold is None:
        getter = getattr(model, 'srtod_threshold', None)
        value = getter() if getter is not None else None
        threshold = dict(init=None, final=None if value is None else float(value))
    record.update(status='ok', metrics=metrics, threshold=threshold, checkpoint=str(ckpt),
                  test_wall_time_s=round(wall, 3))
    if _is_srtod(model):
        mechanism, seconds = _mechanism(model, runner.test_dataloader.dataset)
        record.update(mechanism=mechanism, mechanism_wall_time_s=round(seconds, 3))
    write_json(run_dir / 'metrics.json', record)
    return record


test_run.__test__ = False  # not a pytest test, although its name says so


def _device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return f'cuda ({torch.cuda.get_device_name(device)})'
    return f'cpu ({platform.processor() or platform.machine()})'


def fps_run(cfg, run_dir: str | Path, *, run_id: str | None = None, tier: str | None = None,
            seed: int = 0, images: int = 50, warmup: int = 5,
            checkpoint: str | Path | None = None) -> dict:
    """Inference speed at batch 1 on the test images, after ``warmup`` untimed images.

    Each timed image is one ``model.test_step`` call (data preprocessor, forward, post-
    processing), wall clock, synchronised on GPU; data loading is not timed. If the test set
    has fewer than ``warmup + images`` images it is cycled.

    Args:
        cfg: the run's ``mmengine.Config``.
        run_dir: ``results/<tier>/<run id>/seed<S>``.
        run_id: the run id, recorded.
        tier: the tier, recorded.
        seed: the seed, recorded.
        images: timed images.
        warmup: untimed images before them.
        checkpoint: weights; default ``<run_dir>/checkpoint.pth``.

    Returns:
        The fps.json record: ``fps``, ``images``, ``warmup``, ``device``, ``threads``,
        ``batch_size``, ``latency_ms`` (median), ``status``.
    """
    if images < 1 or warmup < 0:
        raise InputError(f'expected --images >= 1 and --warmup >= 0, got {images} and {warmup}')
    run_dir = Path(run_dir)
    train = read_train_record(run_dir)
    record = dict(run_id=run_id, tier=tier, seed=int(seed), images=int(images),
                  warmup=int(warmup), batch_size=1, threads=torch.get_num_threads(),
                  **provenance(cfg, run_id))
    if train is not None and train.get('status') == 'failed' and checkpoint is None:
        record.update(status='failed', fps=None, failure=train.get('failure'))
        write_json(run_dir / 'fps.json', record)
        return record
    ckpt = _checkpoint_path(run_dir, checkpoint)

    init_default_scope(cfg.get('default_scope', 'mmdet'))
    from mmdet.registry import MODELS
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    model = MODELS.build(copy.deepcopy(cfg.model))
    load_checkpoint(model, str(ckpt), map_location='cpu', logger='current')
    model = model.to(device).eval()
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    loader_cfg.update(batch_size=1, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg)
    if len(loader) == 0:
        raise InputError('the test set has no images; expected at least one')

    times: list[float] = []
    seen = 0
    with torch.no_grad():
        while len(times) < images:
            for data in loader:
                if device.type == 'cuda':
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                model.test_step(data)
                if device.type == 'cuda':
                    torch.cuda.synchronize(device)
                elapsed = time.perf_counter() - start
                seen += 1
                if seen > warmup:
                    times.append(elapsed)
                if len(times) >= images:
                    break
    times_sorted = sorted(times)
    record.update(status='ok', fps=len(times) / sum(times),
                  latency_ms=1000 * times_sorted[len(times_sorted) // 2],
                  device=_device_name(device), unique_images=len(loader.dataset),
                  checkpoint=str(ckpt))
    write_json(run_dir / 'fps.json', record)
    return record
