"""srtod.data: the synthetic default, converters to COCO, validation and dataset statistics."""
from .coco import collect_problems, load_coco, validate_coco
from .convert import convert_coco, convert_visdrone
from .dota import convert_dota
from .synth import PROFILES, make_synthetic, render_image

__all__ = ['PROFILES', 'collect_problems', 'convert_coco', 'convert_dota', 'convert_visdrone',
           'load_coco', 'make_synthetic', 'render_image', 'validate_coco']
