"""Training hooks of the engine: stop on a non-finite loss, and a fault injector for tests.

A loss that becomes NaN or infinite is a model failure, a result the report shows: the hook
raises :class:`NonFiniteLossError` naming the iteration, and ``srtod train`` turns it into a
``train.json`` with ``status: failed``. mmdet's ``CheckInvalidLossHook`` checks only every
``interval`` iterations and fails with an assertion; this one checks every iteration.
"""
from __future__ import annotations

import math
import os
import time

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook', 'NaNInjectionHook', 'TrainTimeHook',
           'nan_injection_from_env']

# Test hook: make the loss NaN at this (1-based) iteration, optionally only for one run id.
ENV_INJECT_NAN = 'SRTOD_INJECT_NAN_AT'
ENV_INJECT_NAN_RUN = 'SRTOD_INJECT_NAN_RUN'


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite.

    Args:
        iteration: the 1-based training iteration whose loss was not finite (as the log counts).
        reason: which loss terms were not finite, with their values.
    """

    def __init__(self, iteration: int, reason: str):
        self.iteration = int(iteration)
        self.reason = reason
        super().__init__(f'iteration {self.iteration}: {reason}')


def _as_float(value) -> float | None:
    if isinstance(value, torch.Tensor):
        if value.numel() == 0:
            return None
        return float(value.detach().float().sum())
    if isinstance(value, (int, float)):
        return float(value)
    return None


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first iteration whose loss (or any loss term) is NaN or infinite.

    Args:
        keys: substrings selecting the checked entries of the train step's outputs; by default
            every entry whose name contains ``loss``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, keys: tuple[str, ...] = ('loss',)):
        self.keys = tuple(keys)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs:
            return
        bad = []
        for name, value in outputs.items():
            if not any(k in name for k in self.keys):
                continue
            number = _as_float(value)
            if number is not None and not math.isfinite(number):
                bad.append(f'{name}={number}')
        if bad:
            shown = ', '.join(bad[:3]) + (f' and {len(bad) - 3} more' if len(bad) > 3 else '')
            raise NonFiniteLossError(runner.iter + 1, 'loss is not finite: ' + shown)


@HOOKS.register_module()
class TrainTimeHook(Hook):
    """Training wall time summed over attempts: kept in each checkpoint's meta, restored on resume.

    Time spent after the last checkpoint of a killed attempt is lost work and is not counted.
    """

    priority = 'VERY_LOW'
    META_KEY = 'srtod_train_time_s'

    def __init__(self):
        self.previous = 0.0
        self.start: float | None = None

    def elapsed(self) -> float:
        """Seconds of training so far, earlier attempts included."""
        now = 0.0 if self.start is None else time.perf_counter() - self.start
        return self.previous + now

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self.previous = float(checkpoint.get('meta', {}).get(self.META_KEY, 0.0))

    def before_train(self, runner) -> None:
        self.start = time.perf_counter()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[self.META_KEY] = self.elapsed()


@HOOKS.register_module()
class NaNInjectionHook(Hook):
    """Fault injection for tests: fill the model's first parameter with NaN before an iteration.

    The NaN then flows through the forward pass into the loss, as a diverging run would.

    Args:
        iteration: the 1-based iteration before which the parameter is overwritten.
    """

    priority = 'VERY_LOW'

    def __init__(self, iteration: int):
        if int(iteration) < 1:
            raise ValueError(f'NaNInjectionHook: iteration must be >= 1, got {iteration}')
        self.iteration = int(iteration)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter + 1 != self.iteration:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        with torch.no_grad():
            for param in model.parameters():
                if param.is_floating_point() and param.requires_grad:
                    param.fill_(float('nan'))
                    return


def nan_injection_from_env(run_id: str | None) -> dict | None:
    """The :class:`NaNInjectionHook` config asked for by ``SRTOD_INJECT_NAN_AT`` (tests only).

    ``SRTOD_INJECT_NAN_AT=K`` makes iteration K's loss NaN; ``SRTOD_INJECT_NAN_RUN=RUN_ID``
    restricts it to that run.

    Returns:
        A hook config, or None when no injection is asked for this run.
    """
    at = os.environ.get(ENV_INJECT_NAN, '').strip()
    if not at:
        return None
    only = os.environ.get(ENV_INJECT_NAN_RUN, '').strip()
    if only and only != run_id:
        return None
    return dict(type='NaNInjectionHook', iteration=int(at))
