"""SR-TOD: reconstruction head, difference map, DGFE, data preprocessor, detector integration."""
from .data_preprocessor import SRTODDataPreprocessor
from .detectors import SRTODSingleStageDetector, SRTODTwoStageDetector
from .dgfe import DGFE
from .difference_map import (HighFrequencyDifferenceMap, PixelDifferenceMap, build_difference_map,
                             high_pass, highfreq_difference_map, pixel_difference_map)
from .hooks import SRTODThresholdHook
from .integration import SRTODMixin
from .pdm import DifferenceMapPredictor, gt_box_mask
from .reconstruction_head import ReconstructionHead

__all__ = [
    'ReconstructionHead', 'DGFE', 'PixelDifferenceMap', 'HighFrequencyDifferenceMap',
    'build_difference_map', 'pixel_difference_map', 'highfreq_difference_map', 'high_pass',
    'SRTODDataPreprocessor', 'SRTODMixin', 'SRTODTwoStageDetector', 'SRTODSingleStageDetector',
    'DifferenceMapPredictor', 'gt_box_mask', 'SRTODThresholdHook',
]
