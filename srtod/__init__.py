"""srtod-bench: SR-TOD ("Visible and Clear: Finding Tiny Objects in Difference Map", ECCV 2024,
https://arxiv.org/abs/2405.11276) as an mmdet 3.x plugin, with a reproduction harness.

Importing the package fills mmdet's and mmengine's registries with its modules, so configs
can name them after ``custom_imports = dict(imports=['srtod'])``. The one exception is a process
that runs a light command of the ``srtod`` CLI (``srtod eval``, or ``python -m srtod.cli eval``):
it needs no registry, so it does not import torch, mmengine or mmdet.
"""
import os as _os
import sys as _sys

__version__ = '0.1.0'
__all__ = ['LIGHT_COMMANDS', '__version__']

#: ``srtod`` commands that need no registry, and the one module ``srtod.cli`` imports for each
#: (the other command modules may import torch and mmdet at start).
LIGHT_COMMANDS = {'eval': 'srtod.evaluation.commands'}


def _runs_light_command() -> bool:
    argv = _sys.argv
    if len(argv) < 2 or argv[1] not in LIGHT_COMMANDS:
        return False
    if argv[0] == '-m':  # python [options] -m srtod.cli ...: the module name is in orig_argv
        orig = list(getattr(_sys, 'orig_argv', []))
        return '-m' in orig and orig[orig.index('-m') + 1:][:1] == ['srtod.cli']
    return _os.path.basename(argv[0]) == 'srtod'


if not _runs_light_command():
    from . import engine  # noqa: F401  (safe checkpoint loading, hooks)
    from . import models  # noqa: F401
    from .evaluation import aitod_metric  # noqa: F401  (registers AITODMetric)
