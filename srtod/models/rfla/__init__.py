"""RFLA (Xu et al., ECCV 2022): receptive-field priors, Gaussian distances, hierarchical assigner.

Importing this package registers ``RFGenerator``, ``BboxDistanceMetric`` and ``HieAssigner`` in
mmdet's ``TASK_UTILS``, under the names RFLA's and SR-TOD's configs use.
"""
from .distance import BboxDistanceMetric, box_to_gaussian, gaussian_distance, rf_similarity
from .hie_assigner import HieAssigner, rank_assign, shrink_boxes
from .rf_generator import RFGenerator, resnet_trf

__all__ = [
    'BboxDistanceMetric', 'HieAssigner', 'RFGenerator', 'box_to_gaussian', 'gaussian_distance',
    'rank_assign', 'resnet_trf', 'rf_similarity', 'shrink_boxes',
]
