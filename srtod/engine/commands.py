"""``srtod train``, ``srtod test``, ``srtod fps``: what the workflow's rules call for one run.

Each resolves the run's config from the registry (``srtod.registry.resolve_config``), or from
``--config FILE`` when given, and works in ``<results>/<tier>/<run id>/seed<S>``. Exit status:
0 when a result file was written (a NaN/inf model failure included: it is a result), 2 for bad
input (unknown run id, unsafe or unreadable checkpoint), 1 for other infrastructure failures.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srtod.errors import InputError
from srtod.vocab import RESULTS_ROOT, TIERS

__all__ = ['add_commands']


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('run_id', metavar='RUN_ID',
                        help='run id, e.g. droneswarms/cascade_rcnn+srtod (see `srtod runs`)')
    parser.add_argument('--tier', required=True, choices=TIERS, help='tier of the run')
    parser.add_argument('--seed', type=int, default=0, help='seed (default 0)')
    parser.add_argument('--results', default=RESULTS_ROOT, metavar='DIR',
                        help=f'results root (default: {RESULTS_ROOT})')
    parser.add_argument('--threads', type=int, default=None, metavar='N',
                        help="torch CPU threads (default: torch's own choice)")
    parser.add_argument('--config', default=None, metavar='FILE',
                        help="an mmengine config file to use instead of the registry's config "
                             'of RUN_ID (results still go to the run directory of RUN_ID)')


def _prepare(args, gpus: int = 0):
    """Threads, run directory and config of a command; raises InputError on bad input, and
    GPUStackError when this machine's torch/CUDA/mmcv cannot run the job (``srtod doctor``)."""
    from srtod.doctor import ensure_gpu_stack
    ensure_gpu_stack(gpus=gpus, require_gpu=args.tier == 'paper')
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f'--threads must be >= 1, got {args.threads}')
        import torch
        torch.set_num_threads(args.threads)
    from srtod.registry import run_dir as registry_run_dir
    run_dir = registry_run_dir(args.tier, args.run_id, args.seed, root=args.results).resolve()
    work_dir = run_dir / 'train'
    if args.config is not None:
        from mmengine.config import Config
        path = Path(args.config)
        if not path.is_file():
            raise InputError('config file not found; expected an mmengine .py config',
                             path=path)
        cfg = Config.fromfile(str(path))
        cfg.work_dir = str(work_dir)
    else:
        from srtod.registry import resolve_config
        cfg = resolve_config(args.run_id, args.tier, seed=args.seed, work_dir=str(work_dir))
    return run_dir, cfg


def _train(args) -> int:
    from .distributed import run_gpus
    from .train import train_run
    if args.gpus is not None and args.gpus < 1:
        raise InputError(f'--gpus must be >= 1, got {args.gpus}')
    gpus = args.gpus if args.gpus is not None else run_gpus(args.run_id, args.tier)
    run_dir, cfg = _prepare(args, gpus=gpus)
    record = train_run(cfg, run_dir, run_id=args.run_id, tier=args.tier, seed=args.seed,
                       gpus=gpus, restart_on_change=True)
    if record['status'] == 'failed':
        failure = record['failure']
        print(f'srtod train: run {args.run_id} (tier {args.tier}, seed {args.seed}) failed at '
              f'iteration {failure["iteration"]}: {failure["reason"]}', file=sys.stderr)
    else:
        print(f'srtod train: {args.run_id} done, {record["iterations"]} iterations in '
              f'{record["wall_time_s"]:.1f} s -> {run_dir}')
    return 0


def _test(args) -> int:
    from .evaluate import test_run
    run_dir, cfg = _prepare(args)
    record = test_run(cfg, run_dir, run_id=args.run_id, tier=args.tier, seed=args.seed,
                      checkpoint=args.checkpoint)
    if record['status'] == 'ok':
        shown = ', '.join(f'{k} {v:.1f}' for k, v in record['metrics'].items())
        print(f'srtod test: {args.run_id}: {shown}')
        mech = record.get('mechanism')
        if mech is not None:
            from srtod.analysis.format import fmt
            print(f'srtod test: {args.run_id}: mechanism on {mech["images"]} test images in '
                  f'{record["mechanism_wall_time_s"]:.1f} s: reconstruction PSNR '
                  f'{fmt(mech["rec_psnr"], 2)} dB, mean colour {fmt(mech["rec_psnr_constant"], 2)}'
                  f' dB; AUC very tiny D {fmt(mech["auc_very_tiny"], 3)}, constant map '
                  f'{fmt(mech["auc_very_tiny_constant"], 3)}')
    else:
        print(f'srtod test: {args.run_id}: training failed, metrics.json marks it failed',
              file=sys.stderr)
    return 0


def _fps(args) -> int:
    from .evaluate import fps_run
    run_dir, cfg = _prepare(args)
    record = fps_run(cfg, run_dir, run_id=args.run_id, tier=args.tier, seed=args.seed,
                     images=args.images, warmup=args.warmup, checkpoint=args.checkpoint)
    if record['status'] == 'ok':
        print(f'srtod fps: {args.run_id}: {record["fps"]:.2f} images/s on {record["device"]}, '
              f'{record["threads"]} threads')
    return 0


def add_commands(subparsers) -> None:
    """Add ``train``, ``test`` and ``fps`` to the ``srtod`` command."""
    train = subparsers.add_parser(
        'train', help='train one run (resumes from its last checkpoint after an interruption)')
    _common(train)
    train.add_argument('--gpus', type=int, default=None, metavar='N',
                       help="processes, one per GPU (CPU processes where there is no GPU); "
                            "default: the registry's count for the run's dataset at the paper "
                            'tier, 1 at smoke and tiny')
    train.set_defaults(func=_train)

    test = subparsers.add_parser(
        'test', help='evaluate one trained run -> metrics.json (with the mechanism of an SR-TOD '
                     'run: reconstruction PSNR and difference-map AUC, srtod.analysis.mechanism)')
    _common(test)
    test.add_argument('--checkpoint', default=None, metavar='PATH',
                      help='weights to test (default: <run dir>/checkpoint.pth); loaded safely')
    test.set_defaults(func=_test)

    fps = subparsers.add_parser('fps', help='inference speed at batch 1 -> fps.json')
    _common(fps)
    fps.add_argument('--images', type=int, default=50, help='timed images (default 50)')
    fps.add_argument('--warmup', type=int, default=5, help='untimed images first (default 5)')
    fps.add_argument('--checkpoint', default=None, metavar='PATH',
                     help='weights (default: <run dir>/checkpoint.pth); loaded safely')
    fps.set_defaults(func=_fps)
