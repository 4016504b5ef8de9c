"""srtod.data: the synthetic default, converters to COCO, validation and dataset statistics.

Names are loaded on first access, so that ``srtod.data.coco`` (validation, used by ``srtod
eval``) comes without the converters' and the synthesiser's imports (cv2)."""
import importlib

_WHERE = {'collect_problems': 'coco', 'load_coco': 'coco', 'validate_coco': 'coco',
          'convert_coco': 'convert', 'convert_visdrone': 'convert', 'convert_dota': 'dota',
          'PROFILES': 'synth', 'make_synthetic': 'synth', 'render_image': 'synth'}

__all__ = ['PROFILES', 'collect_problems', 'convert_coco', 'convert_dota', 'convert_visdrone',
           'load_coco', 'make_synthetic', 'render_image', 'validate_coco']


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f'{__name__}.{_WHERE[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
