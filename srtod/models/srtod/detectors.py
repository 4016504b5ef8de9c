"""The SR-TOD detectors named by configs: two-stage (Faster R-CNN, Cascade R-CNN, DetectoRS,
Cascade R-CNN + RFLA) and single-stage (RetinaNet). Both are their mmdet parent plus
:class:`SRTODMixin`; with ``srtod=None`` they are the parent exactly.

Faster R-CNN and Cascade R-CNN differ in mmdet only by their RoI head (``CascadeRCNN`` is a
``TwoStageDetector`` with nothing added), so one class serves both; DetectoRS is a Cascade
R-CNN whose backbone is ``DetectoRS_ResNet`` (``output_img=True``) and whose neck is ``RFP``:
``extract_feat`` runs the whole recursion, so SR-TOD acts on the final P2, as the authors' code.
RetinaNet reconstructs from P3 (``level=0`` of an FPN starting at C3, ``stride=8``: three
up-samplings to the input resolution).
"""
from __future__ import annotations

from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
from mmdet.registry import MODELS

from .integration import SRTODMixin

__all__ = ['SRTODTwoStageDetector', 'SRTODSingleStageDetector']


@MODELS.register_module()
class SRTODTwoStageDetector(SRTODMixin, TwoStageDetector):
    """``TwoStageDetector`` (Faster / Cascade R-CNN, DetectoRS, RFLA) with SR-TOD.

    Args:
        *args, **kwargs: those of :class:`mmdet.models.TwoStageDetector`.
        srtod: the SR-TOD config (``docs/architecture.md``); None gives the parent detector.
    """

    def __init__(self, *args, srtod: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_srtod(srtod)


@MODELS.register_module()
class SRTODSingleStageDetector(SRTODMixin, SingleStageDetector):
    """``SingleStageDetector`` (RetinaNet) with SR-TOD.

    Args:
        *args, **kwargs: those of :class:`mmdet.models.SingleStageDetector`.
        srtod: the SR-TOD config; None gives the parent detector.
    """

    def __init__(self, *args, srtod: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_srtod(srtod)
