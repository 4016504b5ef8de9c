"""srtod-bench: SR-TOD ("Visible and Clear: Finding Tiny Objects in Difference Map", ECCV 2024,
https://arxiv.org/abs/2405.11276) as an mmdet 3.x plugin, with a reproduction harness.

Importing the package fills mmdet's and mmengine's registries with its modules, so configs
can name them after ``custom_imports = dict(imports=['srtod'])``.
"""
from . import engine  # noqa: F401  (safe checkpoint loading, hooks)
from . import evaluation  # noqa: F401
from . import models  # noqa: F401

__version__ = '0.1.0'
__all__ = ['__version__']
