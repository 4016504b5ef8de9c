"""srtod.evaluation: the AI-TOD metric (``AITODMetric``, registered in mmdet's METRICS on import),
its two backends and the per-image records."""
from .aitod_metric import AITODMetric
from .backends import (AREA_NAMES, AREA_RANGES, BACKENDS, MAX_DETS, METRIC_KEYS, Detections,
                       GroundTruth, evaluate)
from .records import PerImageRecords, load_records, save_records

__all__ = ['AITODMetric', 'AREA_NAMES', 'AREA_RANGES', 'BACKENDS', 'Detections', 'GroundTruth', 'MAX_DETS',
           'METRIC_KEYS', 'PerImageRecords', 'evaluate', 'load_records', 'save_records']
