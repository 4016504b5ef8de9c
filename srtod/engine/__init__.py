"""srtod.engine: safe checkpoint loading, train/test/fps of one run, training hooks.

Importing it makes mmengine's local checkpoint loader the safe one (``checkpoint.install``),
so Runner.resume, ``load_checkpoint`` and ``srtod test --checkpoint`` all load safely.
"""
from .checkpoint import (CheckpointError, UnsafeCheckpointError, install, safe_globals,
                         safe_load)
from .hooks import NaNInjectionHook, NonFiniteLossError, NonFiniteLossHook, TrainTimeHook

__all__ = [
    'CheckpointError', 'UnsafeCheckpointError', 'install', 'safe_globals', 'safe_load',
    'NaNInjectionHook', 'NonFiniteLossError', 'NonFiniteLossHook', 'TrainTimeHook',
]
