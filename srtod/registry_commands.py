"""``srtod runs``, ``srtod config`` and ``srtod plan``: what the registry holds, the config a run
trains with, and what a reproduction costs before anything runs."""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

from srtod.errors import InputError
from srtod.io import write_json
from srtod.registry import check_tier, load_registry, resolve_config
from srtod.vocab import DATASET_SPECS, RESULTS_ROOT, TIERS


def add_commands(subparsers) -> None:
    """Add ``runs``, ``config`` and ``plan`` to the ``srtod`` command."""
    p = subparsers.add_parser('runs', help='every table row: run id, published numbers, external flag')
    p.add_argument('--tables', nargs='+', default=None, help='only these tables (e.g. T1 S2)')
    p.add_argument('--format', choices=['table', 'json'], default='table')
    p.add_argument('--registry', default=None, help='experiments.yaml to read')
    p.set_defaults(func=cmd_runs)

    p = subparsers.add_parser('config', help='the fully resolved mmengine config of a run')
    p.add_argument('run_id')
    p.add_argument('--tier', required=True, choices=TIERS)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--format', choices=['py', 'json'], default='py',
                   help='py: mmengine pretty text; json: Config.to_dict()')
    p.add_argument('--registry', default=None)
    p.set_defaults(func=cmd_config)

    p = subparsers.add_parser(
        'plan', help='unique runs, images, iterations and compute (FLOPs x schedule) of a tier')
    p.add_argument('--tier', required=True, choices=TIERS)
    p.add_argument('--tables', nargs='+', default=None)
    p.add_argument('--gpu-tflops', type=float, default=35.6,
                   help='peak fp32 TFLOP/s of the GPU (35.6: RTX 3090, the paper\'s GPU)')
    p.add_argument('--utilization', type=float, default=0.3,
                   help='fraction of the peak a detector training reaches')
    p.add_argument('--no-flops', action='store_true', help='skip the FLOP count (fast)')
    p.add_argument('--measured', default=str(Path(RESULTS_ROOT) / 'check'), metavar='DIR',
                   help='where the check tier\'s train.json files are (seconds per iteration and '
                        'peak memory measured per run; default: %(default)s)')
    p.add_argument('--format', choices=['table', 'json'], default='table')
    p.add_argument('--registry', default=None)
    p.set_defaults(func=cmd_plan)


def _registry(args):
    return load_registry(args.registry) if args.registry else load_registry()


def _fmt(value) -> str:
    return '-' if value is None else f'{value:g}'


def cmd_runs(args: argparse.Namespace) -> int:
    registry = _registry(args)
    tables = args.tables or list(registry.tables)
    rows = [row for tid in tables for row in registry.get_table(tid).rows]
    if args.format == 'json':
        out = [dict(table=r.table, label=r.label, run_id=r.run_id, published=r.published,
                    external=r.external, note=r.note or None) for r in rows]
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    lines = [f'{"table":5} {"row":34} {"run id":42} published']
    for r in rows:
        pub = ' '.join(f'{k}={_fmt(v)}' for k, v in r.published.items())
        rid = '(external)' if r.external else r.run_id
        lines.append(f'{r.table:5} {r.label[:34]:34} {rid:42} {pub}')
    unique = registry.run_ids(tables)
    lines.append(f'{len(rows)} rows, {len(unique)} unique runs, '
                 f'{sum(r.external for r in rows)} external')
    print('\n'.join(lines))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    cfg = resolve_config(args.run_id, args.tier, seed=args.seed, registry=_registry(args))
    if args.format == 'json':
        json.dump(cfg.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(cfg.pretty_text)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    check_tier(args.tier)
    if args.gpu_tflops <= 0 or not 0 < args.utilization <= 1:
        raise InputError('--gpu-tflops must be > 0 and --utilization in (0, 1]')
    registry = _registry(args)
    plan = make_plan(registry, args.tier, tables=args.tables, flops=not args.no_flops,
                     gpu_tflops=args.gpu_tflops, utilization=args.utilization,
                     measured_root=args.measured)
    if args.format == 'json':
        json.dump(plan, sys.stdout, indent=2)
        print()
    else:
        print(plan_table(plan))
    return 0


# ---------------------------------------------------------------------------------------- plan
#: (train, test) images of the paper's splits, used when data/paper/<dataset> is not there yet
#: (srtod/vocab.py; None where they depend on the conversion: counted once converted).
PAPER_IMAGES = {name: spec.paper_images for name, spec in DATASET_SPECS.items()}
#: A typical source image (w, h) per dataset; the pipeline's Resize (keep ratio) applies to it.
TYPICAL_IMAGE = {name: spec.image_size for name, spec in DATASET_SPECS.items()}
PLAN_ASSUMPTIONS = (
    'FLOPs: forward pass of one image (paper: a typical image of the dataset after the '
    'pipeline\'s Resize; smoke/tiny: the synthetic image), counted by torch.utils.flop_counter '
    '(1 multiply-add = 2 FLOPs; convolutions and matrix products, not RoIAlign or NMS).',
    'Training = 3 x forward (backward ~ 2 x forward) per image; test = 1 forward per test image.',
    'GPU-hours = FLOPs / (peak TFLOP/s x utilization); data loading and evaluation are not '
    'counted.',
    'Measured (where the check tier ran the run: results/check/<run id>/seed<S>/train.json): '
    'seconds per training iteration after the first, at the paper config\'s batch per GPU and '
    'input size, and the peak memory (GPU: CUDA max_memory_allocated; CPU: the process\'s peak '
    'RSS); hours = s/iter x the tier\'s iterations, GPU-hours only when the check ran on a GPU, '
    'CPU-hours (kept apart) when it ran on CPU.',
)


def _count_images(tier: str, dataset: str) -> tuple:
    from srtod.tiers import CHECK_SPEC, TIER_SPECS

    root = Path('data') / tier / dataset
    counts = []
    for split in ('train', 'test'):
        path = root / f'{split}.json'
        if path.is_file():
            with open(path, encoding='utf-8') as f:
                counts.append(len(json.load(f).get('images', [])))
        elif tier in TIER_SPECS or tier == 'check':
            spec = CHECK_SPEC if tier == 'check' else TIER_SPECS[tier]
            counts.append(spec.train_images if split == 'train' else spec.test_images)
        else:
            counts.append(PAPER_IMAGES[dataset][0 if split == 'train' else 1])
    return tuple(counts)


def _input_hw(cfg, tier: str, dataset: str) -> tuple[int, int]:
    from srtod.tiers import TIER_SPECS

    # slim tiers: the synthetic images themselves; paper: a typical image of the dataset
    w, h = TIER_SPECS[tier].image_size if tier in TIER_SPECS else TYPICAL_IMAGE[dataset]
    sw, sh = cfg.image_scale if 'image_scale' in cfg else (w, h)
    factor = min(max(sw, sh) / max(w, h), min(sw, sh) / min(w, h))
    h, w = int(h * factor + 0.5), int(w * factor + 0.5)
    div = cfg.model.get('data_preprocessor', {}).get('pad_size_divisor', 32) or 1
    return math.ceil(h / div) * div, math.ceil(w / div) * div


def _structure_key(model_cfg: dict, hw) -> str:
    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ('threshold_init', 'init_cfg')}
        if isinstance(node, (list, tuple)):
            return [strip(v) for v in node]
        return node
    text = json.dumps([strip(model_cfg), list(hw)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def forward_flops(cfg, hw: tuple[int, int]) -> int:
    """FLOPs of one forward pass (``mode='tensor'``) of the config's model on an (h, w) image."""
    import torch
    from mmdet.structures import DetDataSample
    from torch.utils.flop_counter import FlopCounterMode
    from mmengine.registry import init_default_scope

    import srtod  # noqa: F401  (registers the SR-TOD and RFLA modules)
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    model = MODELS.build(cfg.model).eval()
    h, w = hw
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                         scale_factor=(1.0, 1.0), batch_input_shape=(h, w)))
    image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
    extra = {k: v for k, v in data.items() if k not in ('inputs', 'data_samples')}
    # torch's dispatch-level counter: no tracing, so every detector (SR-TOD's included) counts
    # 'tensor' mode is the network alone; some heads cannot run it on an untrained model (no
    # proposal survives), and then the whole 'predict' pass (with post-processing) is counted
    for mode in ('tensor', 'predict'):
        counter = FlopCounterMode(display=False)
        try:
            with torch.no_grad(), counter:
                model(data['inputs'], data['data_samples'], mode=mode, **extra)
        except (RuntimeError, ValueError):
            if mode == 'predict':
                raise
            continue
        return int(counter.get_total_flops())


def check_measurement(run_id: str, root: str | Path | None) -> dict | None:
    """What the check tier measured for a run: the first ``seed<S>/train.json`` under
    ``<root>/<run id>`` with a ``seconds_per_iter`` (srtod.engine.train), or None.

    Returns:
        dict: ``device`` (``cuda`` or ``cpu``), ``device_name``, ``seconds_per_iter``,
        ``peak_memory_mb``, ``memory_measure``, ``status`` and ``source`` (the file).
    """
    if root is None:
        return None
    folder = Path(root, run_id)
    for path in sorted(folder.glob('seed*/train.json')) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding='utf-8'))
        except (OSError, ValueError) as err:
            raise InputError(f'unreadable train.json of the check tier ({err}); expected the '
                             'JSON written by srtod train', path=path) from err
        if record.get('seconds_per_iter') is None or record.get('tier') != 'check':
            continue
        return dict(device=record.get('device'), device_name=record.get('device_name'),
                    seconds_per_iter=record['seconds_per_iter'],
                    peak_memory_mb=record.get('peak_memory_mb'),
                    memory_measure=record.get('memory_measure'),
                    status=record.get('status'), source=str(path))
    return None


def make_plan(registry, tier: str, tables=None, flops: bool = True, gpu_tflops: float = 35.6,
              utilization: float = 0.3, cache_path: str | Path | None = None,
              measured_root: str | Path | None = None) -> dict:
    """Unique runs of the tables with images, iterations and compute, and a total.

    FLOPs are cached per model structure and input size (``results/<tier>/plan_flops.json``), so
    runs that differ only in T_init are counted once. Where the check tier measured a run
    (``measured_root``, e.g. ``results/check``), its seconds per iteration and peak memory are
    given beside the estimate (``measured``), with hours = s/iter x this tier's iterations:
    ``gpu_hours`` when the check ran on a GPU, ``cpu_hours`` when on CPU, never mixed.
    """
    cache_path = Path(cache_path or Path('results') / tier / 'plan_flops.json')
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    runs, total_flops, total_hours, missing = [], 0.0, 0.0, []
    measured_hours = {'cuda': 0.0, 'cpu': 0.0}
    measured_runs = {'cuda': 0, 'cpu': 0}
    for run_id in registry.run_ids(tables):
        run = registry.get_run(run_id)
        cfg = resolve_config(run_id, tier, registry=registry)
        train_images, test_images = _count_images(tier, run.dataset)
        loop = cfg.train_cfg
        batch = cfg.train_dataloader['batch_size']
        if loop.get('type') == 'IterBasedTrainLoop':
            iters, epochs = loop['max_iters'], None
        else:
            epochs = loop['max_epochs']
            iters = None if train_images is None else epochs * math.ceil(train_images / batch)
        hw = _input_hw(cfg, tier, run.dataset)
        entry = dict(run_id=run_id, train_images=train_images, test_images=test_images,
                     batch_size=batch, epochs=epochs, iterations=iters, input_hw=list(hw),
                     gflops_per_image=None, train_pflops=None, gpu_hours=None, error=None,
                     measured=check_measurement(run_id, measured_root))
        measured = entry['measured']
        if measured is not None:
            device = 'cuda' if measured['device'] == 'cuda' else 'cpu'
            hours = None if iters is None else measured['seconds_per_iter'] * iters / 3600.0
            measured.update(gpu_hours=hours if device == 'cuda' else None,
                            cpu_hours=hours if device == 'cpu' else None)
            if hours is not None:
                measured_hours[device] += hours
                measured_runs[device] += 1
        if flops:
            key = _structure_key(cfg.model.to_dict(), hw)
            if key not in cache:
                try:
                    cache[key] = forward_flops(cfg, hw)
                    write_json(cache_path, cache)
                except Exception as err:  # reported in the plan, not cached
                    entry['error'] = f'{type(err).__name__}: {err}'[:200]
            fwd = cache.get(key)
            if fwd is not None:
                entry['gflops_per_image'] = fwd / 1e9
            if fwd is not None and iters is not None and test_images is not None:
                compute = 3.0 * fwd * batch * iters + fwd * test_images
                hours = compute / (gpu_tflops * 1e12 * utilization) / 3600.0
                entry.update(gflops_per_image=fwd / 1e9, train_pflops=compute / 1e15,
                             gpu_hours=hours)
                total_flops += compute
                total_hours += hours
            else:
                missing.append(run_id)
        runs.append(entry)
    return dict(tier=tier, tables=list(tables or registry.tables), runs=runs,
                total=dict(runs=len(runs), pflops=total_flops / 1e15, gpu_hours=total_hours,
                           runs_not_counted=missing,
                           measured_gpu_hours=measured_hours['cuda'],
                           measured_gpu_runs=measured_runs['cuda'],
                           measured_cpu_hours=measured_hours['cpu'],
                           measured_cpu_runs=measured_runs['cpu']),
                assumptions=list(PLAN_ASSUMPTIONS) + [
                    f'GPU: {gpu_tflops:g} TFLOP/s peak at {utilization:.0%} utilization; '
                    'one GPU per run, batch as in the config.'])


def plan_table(plan: dict) -> str:
    """The plan as aligned text."""
    lines = [f'plan for tier {plan["tier"]}, tables {" ".join(plan["tables"])}',
             'left of |: estimated from FLOPs; right of |: measured by the check tier (device, '
             's/iter, peak memory, hours = s/iter x iters: G on a GPU, C on CPU)',
             f'{"run id":42} {"train":>6} {"test":>6} {"iters":>7} {"input":>10} '
             f'{"GFLOPs/img":>10} {"PFLOPs":>9} {"GPU-h":>7} | '
             f'{"check":>5} {"s/iter":>7} {"peak MB":>8} {"hours":>9}']

    def num(v, f):
        return '-' if v is None else format(v, f)
    for r in plan['runs']:
        hw = 'x'.join(map(str, r['input_hw'][::-1]))
        m = r.get('measured')
        if m is None:
            meas = f'{"-":>5} {"-":>7} {"-":>8} {"-":>9}'
        else:
            dev = 'gpu' if m['device'] == 'cuda' else 'cpu'
            hours = m['gpu_hours'] if dev == 'gpu' else m['cpu_hours']
            meas = (f'{dev:>5} {m["seconds_per_iter"]:7.2f} {num(m["peak_memory_mb"], "8.0f")} '
                    f'{num(hours, "7.1f") + (" G" if dev == "gpu" else " C"):>9}')
        lines.append(f'{r["run_id"]:42} {num(r["train_images"], "6d")} {num(r["test_images"], "6d")} '
                     f'{num(r["iterations"], "7d")} {hw:>10} {num(r["gflops_per_image"], "10.1f")} '
                     f'{num(r["train_pflops"], "9.3f")} {num(r["gpu_hours"], "7.2f")} | '
                     f'{meas}'
                     + (f'  ({r["error"]})' if r['error'] else ''))
    t = plan['total']
    lines.append(f'total: {t["runs"]} runs, {t["pflops"]:.3f} PFLOPs, {t["gpu_hours"]:.1f} GPU-hours'
                 + (f'; not counted: {", ".join(t["runs_not_counted"])}' if t['runs_not_counted'] else ''))
    lines.append(f'measured by the check tier: {t["measured_gpu_hours"]:.1f} GPU-hours over '
                 f'{t["measured_gpu_runs"]} runs timed on a GPU (G); {t["measured_cpu_hours"]:.1f} '
                 f'CPU-hours over {t["measured_cpu_runs"]} runs timed on CPU (C), not GPU-hours')
    lines += ['assumptions:'] + [f'  - {a}' for a in plan['assumptions']]
    return '\n'.join(lines)
