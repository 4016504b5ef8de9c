"""SRTODDataPreprocessor: the reconstruction target is the padded RGB image / 255."""
import pytest
import torch

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

import srtod  # noqa: F401  (registers the modules)
from srtod.errors import InputError

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def _pre(**kw):
    cfg = dict(type='SRTODDataPreprocessor', mean=MEAN, std=STD, bgr_to_rgb=True, pad_size_divisor=32)
    cfg.update(kw)
    return MODELS.build(cfg)


def _sample(h, w):
    return DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))


@pytest.mark.parametrize('training', [True, False])
def test_targets_are_rgb_over_255_with_zero_padding(training):
    g = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 256, (3, 50, 70), generator=g, dtype=torch.uint8),
            torch.randint(0, 256, (3, 64, 90), generator=g, dtype=torch.uint8)]
    out = _pre()(dict(inputs=imgs, data_samples=[_sample(50, 70), _sample(64, 90)]), training)
    targets, inputs = out['rec_targets'], out['inputs']
    assert targets.shape == inputs.shape == (2, 3, 64, 96)
    assert targets.dtype == torch.float32
    for i, img in enumerate(imgs):
        h, w = img.shape[1:]
        rgb = img[[2, 1, 0]].float() / 255
        torch.testing.assert_close(targets[i, :, :h, :w], rgb, rtol=0, atol=0)
        assert float(targets[i, :, h:, :].abs().sum()) == 0 and float(targets[i, :, :, w:].abs().sum()) == 0
        # the detector input is the same image, mean/std normalised
        mean, std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]
        torch.testing.assert_close(inputs[i, :, :h, :w], (rgb * 255 - mean) / std, rtol=1e-5, atol=1e-5)
    assert out['data_samples'][0].batch_input_shape == (64, 96)


def test_targets_from_a_stacked_tensor_batch_and_without_channel_flip():
    imgs = torch.randint(0, 256, (2, 3, 40, 60), dtype=torch.uint8)
    out = _pre(bgr_to_rgb=False)(dict(inputs=imgs, data_samples=None), False)
    assert out['rec_targets'].shape == out['inputs'].shape == (2, 3, 64, 64)
    torch.testing.assert_close(out['rec_targets'][:, :, :40, :60], imgs.float() / 255, rtol=0, atol=0)
    assert float(out['rec_targets'][:, :, 40:].sum()) == 0


@pytest.mark.parametrize('channels', [1, 4])
def test_non_rgb_input_is_refused(channels):
    img = torch.randint(0, 256, (channels, 32, 32), dtype=torch.uint8)
    with pytest.raises(InputError, match='3 channels'):
        _pre()(dict(inputs=[img], data_samples=[_sample(32, 32)]), True)
    with pytest.raises(InputError, match='3 channels'):
        _pre()(dict(inputs=img[None], data_samples=None), False)


def test_batch_augments_are_refused():
    with pytest.raises(InputError, match='batch_augments'):
        _pre(batch_augments=[dict(type='BatchFixedSizePad', size=(64, 64))])
