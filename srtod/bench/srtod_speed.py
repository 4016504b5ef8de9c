"""Inference cost of SR-TOD: Cascade R-CNN R50-FPN with and without SR-TOD at 1920x1080.

Prints, for one synthetic 1920x1080 image (DroneSwarms' size; padded to 1920x1088) on this
machine's CPU with all cores:

1. the time per image of the baseline, of SR-TOD as the direct computation (transposed convs,
   full reconstruction, full difference map, DGFE's resize, NCHW, unfused: "before") and with the
   exact speed-ups of ``srtod.models.srtod`` ("after"), and the ratios to the baseline;
2. the largest difference between "before" and "after" (enhanced P2 and detections), which
   must stay below 1e-4;
3. the time of the reconstruction head alone in each implementation, on the same P2.

Weights are random (no download); the timing does not depend on them. Run with
``python -m srtod.bench.srtod_speed [--repeats N] [--warmup N]``.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch
from mmengine.config import Config

import srtod  # noqa: F401  (registers the modules)

H, W = 1080, 1920
CONFIG = 'cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py'


def _mmdet_config(rel: str) -> Config:
    import mmdet
    return Config.fromfile(os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'configs', rel))


def build_models(impl_after: str = 'deconv'):
    """Baseline, SR-TOD "before" and SR-TOD "after", sharing the weights of the common parts.

    Returns:
        tuple: (baseline, before, after) detectors in eval mode.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()  # default scope mmdet, as in the configs
    model = _mmdet_config(CONFIG).model
    model.backbone.init_cfg = None
    model.rpn_head.anchor_generator.scales = [2]  # DroneSwarms (paper section 4.1; docs/sources.md)
    for head in model.roi_head.bbox_head:
        head.num_classes = 1
    torch.manual_seed(0)
    baseline = MODELS.build(copy.deepcopy(model))

    def srtod(**head):
        cfg = copy.deepcopy(model)
        cfg.type = 'SRTODTwoStageDetector'
        cfg.data_preprocessor.type = 'SRTODDataPreprocessor'
        cfg.srtod = dict(level=0,
                         rec_head=dict(type='ReconstructionHead', in_channels=256, stride=4, **head),
                         diff_map=dict(type='pixel'),
                         dgfe=dict(type='DGFE', channels=256, reduction=16, threshold_init=40 / 255),
                         loss_rec=dict(type='mmdet.MSELoss', loss_weight=1.0), predicted=False)
        return MODELS.build(cfg)

    before = srtod(upsample_impl='deconv', channels_last=False, fuse_relu=False)
    before.srtod_shortcuts = False
    after = srtod(upsample_impl=impl_after)  # the defaults: channels_last, fused conv + ReLU
    missing, _ = before.load_state_dict(baseline.state_dict(), strict=False)
    assert all(k.startswith(('rec_head.', 'dgfe.')) for k in missing)
    after.load_state_dict(before.state_dict())
    return baseline.eval(), before.eval(), after.eval()


def _data(seed: int = 0, size: tuple[int, int] = (H, W)):
    from mmdet.structures import DetDataSample
    H, W = size  # noqa: N806
    g = torch.Generator().manual_seed(seed)
    # a smooth background with small bright blobs, closer to a real frame than uniform noise
    low = torch.rand(3, H // 60, W // 60, generator=g) * 255
    img = torch.nn.functional.interpolate(low[None], size=(H, W), mode='bilinear', align_corners=False)[0]
    img += torch.randn(3, H, W, generator=g) * 4
    ys = torch.randint(0, H - 8, (40,), generator=g)
    xs = torch.randint(0, W - 8, (40,), generator=g)
    for y, x in zip(ys.tolist(), xs.tolist()):
        img[:, y:y + 6, x:x + 6] = 20.0
    sample = DetDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W), scale_factor=(1.0, 1.0)))
    return dict(inputs=[img.clamp(0, 255).to(torch.uint8)], data_samples=[sample])


def time_call(fn, repeats: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _enhanced_p2_and_map(model, data):
    """P2 after DGFE, and D at the pixels DGFE keeps, as the model's inference path computes them."""
    batch = model.data_preprocessor(copy.deepcopy(data), False)
    seen = {}
    hook = model.dgfe.register_forward_pre_hook(lambda m, args: seen.update(d=args[1].detach().clone()))
    try:
        with model._srtod_scope('predict', batch['rec_targets'], batch['data_samples']):
            p2 = model.extract_feat(batch['inputs'])[0]
    finally:
        hook.remove()
    d = seen['d']
    if d.shape[-2:] != p2.shape[-2:]:  # the direct path passes the full-resolution map
        d = d[..., ::model.srtod_stride, ::model.srtod_stride]
    return p2, d


def compare(before, after, data) -> dict:
    """Largest absolute differences between the two SR-TOD implementations."""
    with torch.no_grad():
        (p2_b, d_b), (p2_a, d_a) = _enhanced_p2_and_map(before, data), _enhanced_p2_and_map(after, data)
        det_b = before.test_step(copy.deepcopy(data))[0].pred_instances
        det_a = after.test_step(copy.deepcopy(data))[0].pred_instances
    out = dict(p2=float((p2_b - p2_a).abs().max()), p2_scale=float(p2_b.abs().max()),
               d=float((d_b - d_a).abs().max()), dets=(len(det_b), len(det_a)))
    if len(det_b) == len(det_a) and len(det_b):
        out['boxes'] = float((det_b.bboxes - det_a.bboxes).abs().max())
        out['scores'] = float((det_b.scores - det_a.scores).abs().max())
    return out


HEAD_VARIANTS = {
    'deconv, NCHW, conv then ReLU (before)': dict(upsample_impl='deconv', channels_last=False, fuse_relu=False),
    'deconv, channels_last': dict(upsample_impl='deconv', channels_last=True, fuse_relu=False),
    'deconv, channels_last, fused conv+ReLU (default)': dict(upsample_impl='deconv'),
    'phases (4 x 2x2 conv), NCHW': dict(upsample_impl='phases', channels_last=False, fuse_relu=False),
    'phases, channels_last, fused': dict(upsample_impl='phases'),
    'conv3x3 + pixel_shuffle, NCHW': dict(upsample_impl='conv_shuffle', channels_last=False, fuse_relu=False),
    'conv3x3 + pixel_shuffle, channels_last, fused': dict(upsample_impl='conv_shuffle'),
}


def head_times(p2: torch.Tensor, repeats: int) -> dict:
    """Time of the reconstruction head alone (full output / sampled output) per implementation."""
    from srtod.models.srtod import ReconstructionHead
    torch.manual_seed(0)
    ref = ReconstructionHead(256, 4, **HEAD_VARIANTS['deconv, NCHW, conv then ReLU (before)'])
    out = {}
    for name, kw in HEAD_VARIANTS.items():
        head = ReconstructionHead(256, 4, **kw)
        head.load_state_dict(ref.state_dict())
        with torch.no_grad():
            full = statistics.median(time_call(lambda: head(p2), repeats, 1))
            sampled = statistics.median(time_call(lambda: head.forward_sampled(p2, 4), repeats, 0))
        out[name] = (full, sampled)
    return out


def main(argv=None) -> None:
    """Print the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--impl', default='deconv', choices=['deconv', 'phases', 'conv_shuffle'],
                        help='up-sampling implementation of "after"')
    parser.add_argument('--skip-head', action='store_true', help='do not time the head implementations')
    parser.add_argument('--size', default=f'{W}x{H}', help='image WIDTHxHEIGHT (a smaller one for a quick check)')
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    load = os.getloadavg()[0]
    w, h = (int(v) for v in args.size.lower().split('x'))
    print(f'SR-TOD inference cost, Cascade R-CNN R50-FPN, one {w}x{h} image (padded to a multiple of 32), '
          f'CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'{args.warmup} warm-up + {args.repeats} timed runs each, interleaved (median)')
    baseline, before, after = build_models(args.impl)
    data = _data(size=(h, w))
    models = {'Cascade R-CNN': baseline, '+ SR-TOD, direct (before)': before,
              f'+ SR-TOD, exact speed-ups (after, {args.impl})': after}
    times = {name: [] for name in models}
    with torch.no_grad():
        # interleaved (baseline, before, after, baseline, ...) so that a change of the machine's
        # load during the run affects the three alike
        for rep in range(args.warmup + args.repeats):
            for name, model in models.items():
                t = time_call(lambda: model.test_step(copy.deepcopy(data)), 1, 0)[0]
                if rep >= args.warmup:
                    times[name].append(t)
    rows = [(name, statistics.median(ts), ts) for name, ts in times.items()]
    base = rows[0][1]
    print(f'{"model":58s} {"s/image":>8s} {"FPS":>7s} {"ratio":>6s}  runs')
    for name, med, times in rows:
        print(f'{name:58s} {med:8.2f} {1 / med:7.3f} {med / base:6.2f}  ' + ' '.join(f'{t:.2f}' for t in times))
    print(f'SR-TOD overhead ratio (time with / without): before {rows[1][1] / base:.2f}, after {rows[2][1] / base:.2f} '
          f'(paper, DetectoRS on GPU: 12.5/8.9 = {12.5 / 8.9:.2f})')
    diff = compare(before, after, data)
    print(f'exactness, after vs before: max |dD| = {diff["d"]:.2e}, max |dP2| = {diff["p2"]:.2e} '
          f'(P2 scale {diff["p2_scale"]:.2f}), '
          f'detections {diff["dets"][0]} vs {diff["dets"][1]}'
          + (f', max |dbox| = {diff["boxes"]:.2e}, max |dscore| = {diff["scores"]:.2e}' if 'boxes' in diff else ''))
    print(f'load average (1 min) at start {load:.1f}, at end {os.getloadavg()[0]:.1f}, on {os.cpu_count()} cores')
    if not args.skip_head:
        with torch.no_grad():
            p2 = baseline.extract_feat(baseline.data_preprocessor(copy.deepcopy(data), False)['inputs'])[0]
        p2 = p2[..., :p2.shape[-2] // 2, :p2.shape[-1] // 2].contiguous()  # a quarter, to keep the run short
        print(f'reconstruction head alone on a quarter of P2, {tuple(p2.shape)} (median of {args.repeats}):')
        for name, (full, sampled) in head_times(p2, args.repeats).items():
            print(f'  {name:50s} full I_r {full:6.2f} s   I_r[::4, ::4] only {sampled:6.2f} s')


if __name__ == '__main__':
    main()
