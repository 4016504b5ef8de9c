"""srtod.evaluation: the AI-TOD metric (``AITODMetric``, registered in mmdet's METRICS when
``srtod.evaluation.aitod_metric`` is imported, as ``import srtod`` does), its three backends and
the per-image records. ``AITODMetric`` is loaded on first access, so that ``srtod eval`` and the
statistics import neither mmengine nor mmdet."""
from .backends import (AREA_NAMES, AREA_RANGES, BACKENDS, MAX_DETS, METRIC_KEYS, Detections,
                       GroundTruth, evaluate, json_metrics)
from .records import PerImageRecords, load_records, save_records

__all__ = ['AITODMetric', 'AREA_NAMES', 'AREA_RANGES', 'BACKENDS', 'Detections', 'GroundTruth', 'MAX_DETS',
           'METRIC_KEYS', 'PerImageRecords', 'evaluate', 'json_metrics', 'load_records',
           'save_records']


def __getattr__(name):
    if name == 'AITODMetric':
        from .aitod_metric import AITODMetric
        return AITODMetric
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
