"""``AITODMetric``: the AI-TOD protocol as an mmengine metric (the paper's evaluator, P§4.1)."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet.registry import METRICS
from srtod.errors import InputError
from srtod.evaluation import backends
from srtod.evaluation.backends import compute_records, metrics_from_records
from srtod.evaluation.records import save_records


@METRICS.register_module()
class AITODMetric(BaseMetric):
    """COCO box AP with the AI-TOD area ranges and up to 1500 detections per image.

    Keys (percent, unrounded, prefixed ``aitod/``): AP, AP50, AP75, APvt, APt, APs, APm, AR100,
    AR300, AR1500. Detections are fed to the backend as arrays (no JSON round trip); the
    ground-truth index is built once. Labels map to category ids as mmdet's CocoDataset maps them
    (categories of ``ann_file`` whose names are in ``dataset_meta['classes']``, in file order).

    Args:
        ann_file: the COCO json of the evaluated split.
        backend: ``'numpy'`` (default: srtod's port of COCOeval's matching and accumulation,
            linear in units and detections, the fastest; `make bench`), ``'faster-coco-eval'``
            or ``'pycocotools'`` (the reference); equal to pycocotools on every input the
            validation accepts (tests/test_metric_parity.py).
        records_path: if set, per-image records (``srtod.evaluation.records``) are written there.
        collect_device: as in mmengine's BaseMetric.
        prefix: as in mmengine's BaseMetric (default ``aitod``).
    """

    default_prefix = 'aitod'

    def __init__(self, ann_file: str, backend: str = 'numpy',
                 records_path: str | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if backend not in backends.BACKENDS:
            raise InputError(f'unknown AITODMetric backend {backend!r}; expected one of '
                             f'{list(backends.BACKENDS)}')
        if ann_file is None:
            raise InputError('AITODMetric needs ann_file, the COCO json of the evaluated split')
        self.backend = backend
        self.records_path = records_path
        self.gt = backends.GroundTruth(os.fspath(ann_file))

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's boxes (xyxy), scores and labels as numpy arrays."""
        for sample in data_samples:
            pred = sample['pred_instances']
            self.results.append({
                'img_id': int(sample['img_id']),
                'bboxes': pred['bboxes'].cpu().numpy().astype(np.float64).reshape(-1, 4),
                'scores': pred['scores'].cpu().numpy().astype(np.float64).reshape(-1),
                'labels': pred['labels'].cpu().numpy().astype(np.int64).reshape(-1),
            })

    def detections(self, results: list) -> tuple[backends.Detections, list[int], list[int]]:
        """Detections, evaluated image ids and category ids from the processed results."""
        classes = (self.dataset_meta or {}).get('classes')
        cat_ids = self.gt.category_ids(classes)
        if not cat_ids:
            raise InputError(f'no category of {self.gt.path} is one of the classes {classes}')
        lut = np.asarray(cat_ids, np.int64)
        n = [len(r['scores']) for r in results]
        xyxy = np.concatenate([r['bboxes'] for r in results]) if results else np.zeros((0, 4))
        labels = np.concatenate([r['labels'] for r in results]) if results else np.zeros(0, int)
        if labels.size and (labels.min() < 0 or labels.max() >= len(lut)):
            raise InputError(f'predicted label {int(labels.max())} but the metric knows '
                             f'{len(lut)} categories', path=self.gt.path)
        xywh = np.stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0],
                         xyxy[:, 3] - xyxy[:, 1]], 1) if len(xyxy) else xyxy
        dets = backends.Detections(
            image_id=np.repeat(np.asarray([r['img_id'] for r in results], np.int64), n),
            category_id=lut[labels], bbox=xywh,
            score=np.concatenate([r['scores'] for r in results]) if results else np.zeros(0))
        image_ids = sorted(set(r['img_id'] for r in results))
        return dets, image_ids, cat_ids

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Evaluate; write the per-image records if ``records_path`` is set."""
        dets, image_ids, cat_ids = self.detections(results)
        dets.validate(self.gt, path='the predictions of the model')
        if self.backend == 'numpy':  # the records are its intermediate result
            records = compute_records(self.gt, dets, image_ids, cat_ids)
            metrics = metrics_from_records(records)
        else:
            metrics = backends.evaluate(self.gt, dets, image_ids, cat_ids, backend=self.backend)
            records = (compute_records(self.gt, dets, image_ids, cat_ids) if self.records_path
                       else None)
        if self.records_path:
            save_records(self.records_path, records)
        MMLogger.get_current_instance().info(
            'AI-TOD ' + ' '.join(f'{k} {v:.2f}' for k, v in metrics.items()))
        return metrics
