"""Data preprocessor that also yields the reconstruction target I_o of SR-TOD.

I_o is what the authors' code reconstructs (docs/sources.md, "SR-TOD modules";
``Hiyuur/SR-TOD@1c4d93b:srtod_project/srtod_cascade_rcnn/srtod_datapreprocessor.py``): the image after the
pipeline (resized, flipped), with the channel order of the network input (RGB with
``bgr_to_rgb=True``, as every SR-TOD config), divided by 255 so it lies in [0, 1], **not**
mean/std normalised, and padded exactly like the batch (bottom/right, to the largest image of
the batch rounded up to ``pad_size_divisor``) with 0 (black). It is produced for training and
for inference, since DGFE needs the difference map in both.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmengine.model.utils import stack_batch
from mmengine.utils import is_seq_of
from torch import Tensor

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS

from srtod.errors import InputError

__all__ = ['SRTODDataPreprocessor']


@MODELS.register_module()
class SRTODDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` that also returns ``rec_targets`` (N, 3, H, W) in [0, 1].

    Takes the same arguments as :class:`mmdet.models.DetDataPreprocessor`. Batch augmentations
    that change the batch (e.g. ``BatchSyncRandomResize``) are refused, since the target would
    no longer match the input.

    Returns (from ``forward``):
        dict: ``inputs`` (normalised, padded), ``data_samples`` and ``rec_targets``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.batch_augments is not None:
            raise InputError('SRTODDataPreprocessor does not support batch_augments: the '
                             'reconstruction target must stay aligned with the input; expected '
                             'batch_augments=None')

    @staticmethod
    def _check_rgb(img: Tensor, what: str) -> None:
        if img.shape[0] != 3:
            raise InputError(f'SR-TOD reconstructs a 3-channel colour image; expected {what} with 3 '
                             f'channels (C, H, W), got shape {tuple(img.shape)}')

    def rec_targets(self, inputs) -> Tensor:
        """The reconstruction targets of the raw (uint8) inputs of one batch.

        Args:
            inputs: a list of (3, H_i, W_i) tensors or an (N, 3, H, W) tensor, 0..255.

        Returns:
            Tensor: (N, 3, H_pad, W_pad) float in [0, 1], zero in the padding.
        """
        if is_seq_of(inputs, torch.Tensor):
            targets = []
            for img in inputs:
                if img.dim() != 3:
                    raise InputError(f'expected each input image as a (3, H, W) tensor, got shape {tuple(img.shape)}')
                self._check_rgb(img, 'each input image')
                if self._channel_conversion:
                    img = img[[2, 1, 0], ...]
                targets.append(img.float() / 255.0)
            return stack_batch(targets, self.pad_size_divisor, 0)
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 4:
                raise InputError(f'expected the input batch as (N, 3, H, W), got shape {tuple(inputs.shape)}')
            self._check_rgb(inputs[0], 'the input batch')
            if self._channel_conversion:
                inputs = inputs[:, [2, 1, 0], ...]
            targets = inputs.float() / 255.0
            h, w = targets.shape[-2:]
            div = self.pad_size_divisor
            pad_h, pad_w = (-h) % div, (-w) % div
            return F.pad(targets, (0, pad_w, 0, pad_h), 'constant', 0.0)
        raise InputError(f'expected the inputs as a list of tensors or a tensor, got {type(inputs).__name__}')

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise and pad as ``DetDataPreprocessor``, and add ``rec_targets``.

        Args:
            data: the collated batch from the data loader.
            training: whether this is a training batch.

        Returns:
            dict: ``inputs``, ``data_samples`` and ``rec_targets``.
        """
        data = self.cast_data(data)
        targets = self.rec_targets(data['inputs'])
        out = super().forward(data=data, training=training)
        if tuple(targets.shape[-2:]) != tuple(out['inputs'].shape[-2:]):
            raise InputError(f'reconstruction targets of size {tuple(targets.shape[-2:])} do not match '
                             f'the batch {tuple(out["inputs"].shape[-2:])}')
        out['rec_targets'] = targets
        return out
