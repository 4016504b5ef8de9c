"""SR-TOD modules against direct computations of the paper's equations (eq. 1-6, section 4.4)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srtod.models.srtod import (DGFE, HighFrequencyDifferenceMap, PixelDifferenceMap, ReconstructionHead,
                                build_difference_map, highfreq_difference_map, pixel_difference_map)
from srtod.models.srtod.reconstruction_head import deconv_by_conv_shuffle, deconv_by_phases

T = 40 / 255


def _images(n=2, h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g), torch.rand(n, 3, h, w, generator=g)


# ---------------------------------------------------------------- difference maps (eq. 3, sec. 4.4)
def test_pixel_difference_map_is_channel_mean_of_absolute_difference():
    rec, tgt = _images()
    expected = (abs(rec[:, 0] - tgt[:, 0]) + abs(rec[:, 1] - tgt[:, 1]) + abs(rec[:, 2] - tgt[:, 2])) / 3
    d = pixel_difference_map(rec, tgt)
    assert d.shape == (2, 1, 32, 48)
    torch.testing.assert_close(d[:, 0], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(build_difference_map(None)(rec, tgt), d)


def _ideal_high_pass_numpy(img: np.ndarray, cutoff: float) -> np.ndarray:
    """Full complex FFT of one image, the low disc zeroed, back to real (written independently)."""
    h, w = img.shape[-2:]
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    keep = np.sqrt(fy ** 2 + fx ** 2) >= cutoff
    return np.real(np.fft.ifft2(np.fft.fft2(img) * keep))


@pytest.mark.parametrize('cutoff', [1 / 32, 0.1, 0.3])
def test_highfreq_difference_map_equals_difference_of_high_passed_images(cutoff):
    rec, tgt = _images(h=30, w=44)
    r, t = rec.double().numpy(), tgt.double().numpy()
    expected = np.abs(_ideal_high_pass_numpy(r, cutoff) - _ideal_high_pass_numpy(t, cutoff)).mean(axis=1)
    d = highfreq_difference_map(rec, tgt, cutoff)
    np.testing.assert_allclose(d[:, 0].numpy(), expected, atol=1e-5)
    module = build_difference_map(dict(type='highfreq', cutoff=cutoff))
    assert isinstance(module, HighFrequencyDifferenceMap) and not module.pointwise
    torch.testing.assert_close(module(rec, tgt), d)


def test_highfreq_map_removes_smooth_differences_and_keeps_a_dot():
    rec, tgt = _images(n=1, h=64, w=64)
    tgt = rec.clone()
    yy, xx = torch.meshgrid(torch.arange(64.), torch.arange(64.), indexing='ij')
    tgt += 0.2 * torch.cos(2 * math.pi * xx / 64)  # a slow ramp: 1/64 cycles per pixel
    d_smooth = highfreq_difference_map(rec, tgt, 1 / 32)
    assert d_smooth.abs().max() < 1e-5
    assert pixel_difference_map(rec, tgt).mean() > 0.1
    tgt2 = rec.clone()
    tgt2[..., 30:32, 30:32] += 0.5  # a 2x2 "tiny object"
    d_dot = highfreq_difference_map(rec, tgt2, 1 / 32)
    assert d_dot[..., 30:32, 30:32].min() > 0.4
    assert int(d_dot.argmax()) in {i * 64 + j for i in (30, 31) for j in (30, 31)}
    # cutoff 0 keeps every frequency: the HFD is then the pixel map
    torch.testing.assert_close(highfreq_difference_map(rec, tgt2, 0.0), pixel_difference_map(rec, tgt2),
                               rtol=0, atol=1e-5)


def test_difference_map_errors():
    with pytest.raises(ValueError, match='same shape'):
        pixel_difference_map(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match='one of'):
        build_difference_map(dict(type='wavelet'))
    assert isinstance(build_difference_map(dict(type='pixel')), PixelDifferenceMap)


# ---------------------------------------------------------------- DGFE (eq. 4-6) and its switches
def _reference_dgfe(dgfe: DGFE, feat, d):
    """Eq. 4-6 and the ablations, computed directly from DGFE's parameters."""
    n, c, h, w = feat.shape
    big_h, big_w = d.shape[-2:]
    if dgfe.filtration == 'none':
        db = d
    else:
        db = (torch.sign(d - dgfe.threshold.detach()) + 1) * 0.5
    rows = torch.arange(h) * big_h // h  # nearest: floor(i * H / h)
    cols = torch.arange(w) * big_w // w
    dr = db[:, :, rows][:, :, :, cols]
    if dgfe.enhancement == 'em':
        return feat * dr
    if dgfe.enhancement == 'concat':
        wt, b = dgfe.fuse.weight[:, :, 0, 0], dgfe.fuse.bias
        return torch.einsum('oc,nchw->nohw', wt, torch.cat([feat, dr], 1)) + b[None, :, None, None]
    if dgfe.parts == 'dm':
        return (1 + dr) * feat
    lin1, lin2 = dgfe.mlp[0], dgfe.mlp[2]

    def mlp(v):
        return torch.relu(v @ lin1.weight.T + lin1.bias) @ lin2.weight.T + lin2.bias

    avg = feat.sum(dim=(2, 3)) / (h * w)
    mx = feat.reshape(n, c, -1).max(dim=-1).values
    weight = torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]
    if dgfe.parts == 'rw':
        return weight * feat
    return (weight * (dr + 1)) * feat


@pytest.mark.parametrize('filtration', ['learnable', 'fixed', 'none', 'ste'])
@pytest.mark.parametrize('enhancement,parts', [('ea', 'rw+dm'), ('ea', 'rw'), ('ea', 'dm'),
                                               ('em', 'rw+dm'), ('concat', 'rw+dm')])
def test_dgfe_matches_equations(filtration, enhancement, parts):
    torch.manual_seed(0)
    dgfe = DGFE(32, reduction=16, threshold_init=T, filtration=filtration, enhancement=enhancement, parts=parts)
    feat = torch.randn(2, 32, 8, 12)
    d = torch.rand(2, 1, 32, 48) * 0.4
    d[0, 0, 0, 0] = float(torch.tensor(T))  # a tie, kept by the resize: D_b = 0.5 there
    out = dgfe(feat, d)
    assert out.shape == feat.shape
    torch.testing.assert_close(out, _reference_dgfe(dgfe, feat, d), rtol=1e-5, atol=1e-6)
    if filtration != 'none':
        assert float(dgfe.filter_map(d)[0, 0, 0, 0]) == 0.5
    # a map that is already at the feature size is used as it is (the resize is the identity)
    torch.testing.assert_close(dgfe(feat, d[..., ::4, ::4]), out)
    with torch.no_grad():  # the inference path (in-place second product) gives the same values
        feat_copy = feat.clone()
        torch.testing.assert_close(dgfe(feat, d), out)
        assert torch.equal(feat, feat_copy)


def test_dgfe_default_enhances_only_where_the_map_passes_the_threshold():
    dgfe = DGFE(16, reduction=4, threshold_init=0.5)
    feat = torch.rand(1, 16, 4, 4) + 0.1
    d = torch.zeros(1, 1, 16, 16)
    d[..., 4, 8] = 0.9  # sampled by the nearest resize at cell (1, 2)
    ratio = dgfe(feat, d) / (dgfe.reweighting(feat) * feat)
    expected = torch.ones(1, 16, 4, 4)
    expected[..., 1, 2] = 2
    torch.testing.assert_close(ratio, expected)


def test_dgfe_threshold_kinds_and_gradients():
    feat = torch.randn(2, 32, 8, 8)
    d = torch.rand(2, 1, 32, 32) * 0.3
    learnable = DGFE(32, threshold_init=T)
    assert isinstance(learnable.threshold, torch.nn.Parameter)
    learnable(feat, d).square().sum().backward()
    assert learnable.threshold.grad is not None and float(learnable.threshold.grad) == 0.0  # sign(): zero gradient

    ste = DGFE(32, threshold_init=T, filtration='ste')
    ste.load_state_dict(learnable.state_dict())
    d_req = d.clone().requires_grad_(True)
    out_ste = ste(feat, d_req)
    torch.testing.assert_close(out_ste, learnable(feat, d))  # same forward value as the paper
    out_ste.square().sum().backward()
    assert abs(float(ste.threshold.grad)) > 1e-3
    assert d_req.grad is None or float(d_req.grad.abs().sum()) == 0.0  # D gets nothing: RH learns from loss_rec only

    fixed = DGFE(32, threshold_init=T, filtration='fixed')
    assert 'threshold' in dict(fixed.named_buffers()) and 'threshold' not in dict(fixed.named_parameters())
    assert fixed.threshold_value() == pytest.approx(T)
    assert DGFE(32, threshold_init=T, filtration='none').threshold_value() is None


@pytest.mark.parametrize('bad', [-0.01, 1.5])
def test_dgfe_rejects_threshold_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        DGFE(32, threshold_init=bad)


def test_dgfe_rejects_bad_switches():
    with pytest.raises(ValueError, match='filtration'):
        DGFE(32, filtration='soft')
    with pytest.raises(ValueError, match="enhancement='ea' only"):
        DGFE(32, enhancement='em', parts='rw')
    with pytest.raises(ValueError, match='expects a feature map'):
        DGFE(32)(torch.rand(1, 16, 4, 4), torch.rand(1, 1, 16, 16))


# ---------------------------------------------------------------- reconstruction head (eq. 1-2)
@pytest.mark.parametrize('channels,stride', [(256, 4), (64, 4), (64, 8)])
def test_reconstruction_head_layers_and_shape(channels, stride):
    head = ReconstructionHead(in_channels=channels, stride=stride)
    n_up = int(math.log2(stride))
    assert len(head.blocks) == n_up
    c = channels
    for block in head.blocks:
        assert tuple(block.deconv.weight.shape) == (c, c // 2, 4, 4) and block.deconv.bias is not None
        assert tuple(block.conv1.weight.shape) == (c // 2, c // 2, 3, 3) and block.conv1.bias is None
        assert block.conv2.bias is None
        c //= 2
    assert tuple(head.out_conv.weight.shape) == (3, c, 3, 3)
    if channels == 256:
        assert [b.deconv.out_channels for b in head.blocks] == [128, 64]  # the authors' widths
    out = head(torch.randn(2, channels, 5, 6))
    assert out.shape == (2, 3, 5 * stride, 6 * stride)
    assert float(out.min()) > 0 and float(out.max()) < 1


def test_reconstruction_head_implementations_are_exact():
    torch.manual_seed(0)
    plain = dict(channels_last=False, fuse_relu=False)
    heads = {'reference': ReconstructionHead(in_channels=32, stride=4, upsample_impl='deconv', **plain),
             'default': ReconstructionHead(in_channels=32, stride=4),
             'phases': ReconstructionHead(in_channels=32, stride=4, upsample_impl='phases', **plain),
             'conv_shuffle': ReconstructionHead(in_channels=32, stride=4, upsample_impl='conv_shuffle', **plain),
             'phases_nhwc': ReconstructionHead(in_channels=32, stride=4, upsample_impl='phases', channels_last=True)}
    assert heads['default'].blocks[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    state = heads['reference'].state_dict()
    for head in heads.values():
        head.load_state_dict(state)
    x = torch.randn(2, 32, 7, 9)
    ref = heads['reference'](x)
    ref.square().sum().backward()
    ref_grad = heads['reference'].blocks[0].deconv.weight.grad.clone()
    with torch.no_grad():
        ref_eval = heads['reference'](x)
    torch.testing.assert_close(ref_eval, ref)
    for name, head in heads.items():
        head.zero_grad()
        out = head(x)  # training path (autograd, never fused)
        assert out.is_contiguous()
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-5, msg=name)
        out.square().sum().backward()
        torch.testing.assert_close(head.blocks[0].deconv.weight.grad, ref_grad, rtol=1e-4, atol=1e-4, msg=name)
        with torch.no_grad():  # inference path (fused conv + ReLU where enabled)
            torch.testing.assert_close(head(x), ref, rtol=0, atol=1e-5, msg=name)
            torch.testing.assert_close(head.forward_sampled(x, 4), ref[..., ::4, ::4], rtol=0, atol=1e-5, msg=name)


def test_deconv_re_expressions_match_conv_transpose():
    torch.manual_seed(1)
    deconv = torch.nn.ConvTranspose2d(6, 5, 4, stride=2, padding=1)
    x = torch.randn(3, 6, 4, 7)
    ref = deconv(x)
    torch.testing.assert_close(deconv_by_phases(x, deconv), ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(deconv_by_conv_shuffle(x, deconv), ref, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match='kernel 4, stride 2'):
        deconv_by_phases(x, torch.nn.ConvTranspose2d(6, 5, 2, stride=2))


def test_reconstruction_head_errors():
    with pytest.raises(ValueError, match='power of two'):
        ReconstructionHead(in_channels=64, stride=6)
    with pytest.raises(ValueError, match='divisible'):
        ReconstructionHead(in_channels=6, stride=8)
    with pytest.raises(ValueError, match='expects'):
        ReconstructionHead(in_channels=64)(torch.randn(1, 32, 4, 4))
    assert F.interpolate(torch.arange(16.).view(1, 1, 4, 4), size=(2, 2), mode='nearest').flatten().tolist() == \
        [0., 2., 8., 10.]  # the nearest resize keeps [::s, ::s], which the detector relies on
