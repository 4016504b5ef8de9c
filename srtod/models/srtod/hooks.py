"""Logging of DGFE's threshold t during training."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS

__all__ = ['SRTODThresholdHook']


@HOOKS.register_module()
class SRTODThresholdHook(Hook):
    """Put the current threshold t into the message hub as ``train/srtod/threshold``.

    mmengine's ``LogProcessor`` shows every ``train/*`` scalar, so ``srtod/threshold`` appears in
    the training log line and the visualizer's scalars at each logging interval. The hook
    updates the value after every iteration (one scalar), so whichever interval the
    ``LoggerHook`` uses, the logged value is the current one. The initial and final values are
    also stored as message-hub infos ``srtod/threshold_init`` and ``srtod/threshold_final``.
    Models without a threshold (no SR-TOD, RH only, ``filtration='none'``) log nothing.

    Registered in mmdet's HOOKS (a child of mmengine's), so ``dict(type='SRTODThresholdHook')``
    works under ``default_scope='mmdet'``.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL), so the value of this iteration is logged

    @staticmethod
    def _threshold(runner) -> float | None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        getter = getattr(model, 'srtod_threshold', None)
        return None if getter is None else getter()

    def before_train(self, runner) -> None:
        t = self._threshold(runner)
        if t is not None:
            runner.message_hub.update_info('srtod/threshold_init', t)
            runner.message_hub.update_scalar('train/srtod/threshold', t)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        t = self._threshold(runner)
        if t is not None:
            runner.message_hub.update_scalar('train/srtod/threshold', t)

    def after_train(self, runner) -> None:
        t = self._threshold(runner)
        if t is not None:
            runner.message_hub.update_info('srtod/threshold_final', t)
