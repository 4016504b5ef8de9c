"""srtod train --gpus 2 on the tiny tier: two CPU processes (gloo) under torchrun, as on a GPU
node with two GPUs. The run is VisDrone's reweighting-only variant, whose unused threshold
parameter stops DDP unless it looks for unused parameters."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import srtod  # noqa: F401
from srtod.engine.checkpoint import safe_load
from srtod.engine.distributed import _has_unused_parameters, run_gpus
from srtod.engine.provenance import config_hash
from srtod.registry import load_registry, resolve_config

REPO = Path(__file__).resolve().parents[1]
RUN = 'visdrone/cascade_rcnn+srtod-rw'

# Loaded by every Python process of the test through PYTHONPATH; acts only in torchrun workers
# (RANK set). Counts the train.json writes of each worker; with SRTOD_TEST_DIST_HOLD=K holds
# both workers after iteration K and its checkpoint, rank 0 writing its pid to a marker; with
# SRTOD_TEST_DIST_NAN=R@K makes the loss of rank R alone NaN from iteration K.
SITECUSTOMIZE = '''\
import os

_dir = os.environ.get('SRTOD_TEST_DIST_DIR')
if _dir and os.environ.get('RANK') is not None:
    import time

    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    import srtod.engine.train as _train_module

    _hold = int(os.environ.get('SRTOD_TEST_DIST_HOLD', '0'))
    _nan_rank, _, _nan_at = os.environ.get('SRTOD_TEST_DIST_NAN', '').partition('@')

    class _HoldHook(Hook):
        priority = 'LOWEST'  # after CheckpointHook has saved this iteration

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if _hold and runner.iter + 1 == _hold:
                if os.environ['RANK'] == '0':
                    marker = os.path.join(_dir, 'held')
                    with open(marker + '.tmp', 'w') as f:
                        f.write(str(os.getpid()))
                    os.replace(marker + '.tmp', marker)
                time.sleep(900)

    _train = Runner.train

    def _train_with_hold(self):
        self.register_hook(_HoldHook())
        if _nan_rank == os.environ['RANK']:
            from srtod.engine.hooks import NaNInjectionHook
            self.register_hook(NaNInjectionHook(int(_nan_at)))
        return _train(self)

    Runner.train = _train_with_hold
    _write_json = _train_module.write_json

    def _counted(path, *args, **kwargs):
        if str(path).endswith('train.json'):
            with open(os.path.join(_dir, 'writes.txt'), 'a') as f:
                f.write(os.environ['RANK'] + '\\n')
        return _write_json(path, *args, **kwargs)

    _train_module.write_json = _counted
'''


def _alive(pid: int) -> bool:
    try:
        state = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return False
    return '\nState:\tZ' not in state


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    from srtod.workflow import synth_options
    root = tmp_path_factory.mktemp('dist')
    subprocess.run([sys.executable, '-m', 'srtod.cli', 'synth', 'data/tiny/visdrone',
                    '--profile', 'visdrone', '--seed', '0', *synth_options('tiny').split()],
                   cwd=root, check=True, capture_output=True, timeout=300)
    return root


def test_gpu_count_from_the_registry_at_the_paper_tier_only():
    registry = load_registry()
    # configs/experiments.yaml: datasets.droneswarms.gpus = 2 (paper 4.1), 1 elsewhere
    assert run_gpus('droneswarms/cascade_rcnn+srtod', 'paper', registry) == 2
    assert run_gpus('visdrone/cascade_rcnn', 'paper', registry) == 1
    for tier in ('smoke', 'tiny'):
        assert run_gpus('droneswarms/cascade_rcnn+srtod', tier, registry) == 1
    counts = {'visdrone': 4}
    fake = SimpleNamespace(dataset_gpus=lambda name: counts.get(name, 1),
                           get_run=registry.get_run)
    assert run_gpus('visdrone/cascade_rcnn', 'paper', fake) == 4


def test_only_the_reweighting_variant_needs_the_unused_parameter_search():
    assert _has_unused_parameters(resolve_config(RUN, 'tiny'))
    assert not _has_unused_parameters(resolve_config('visdrone/cascade_rcnn+srtod', 'tiny'))
    assert not _has_unused_parameters(resolve_config('visdrone/cascade_rcnn+srtod-dm', 'tiny'))


def test_two_process_training_resumes_after_sigkill_and_writes_once(workdir, tmp_path):
    scaffold = tmp_path / 'scaffold'
    scaffold.mkdir()
    (scaffold / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    cfg = resolve_config(RUN, 'tiny')
    max_iters = int(cfg.train_cfg.max_iters)
    interval = int(cfg.default_hooks.checkpoint.interval)
    assert max_iters >= 2 * interval, 'the tiny tier needs a checkpoint before its last one'
    results = tmp_path / 'results'
    run_dir = results / 'tiny' / RUN / 'seed0'
    cmd = [sys.executable, '-m', 'srtod.cli', 'train', RUN, '--tier', 'tiny', '--gpus', '2',
           '--threads', '2', '--results', str(results)]
    env = dict(os.environ, SRTOD_TEST_DIST_DIR=str(scaffold),
               PYTHONPATH=os.pathsep.join(p for p in (str(scaffold), str(REPO),
                                                      os.environ.get('PYTHONPATH')) if p))

    # 1. Killed (SIGKILL to the `srtod train` process only) after the first checkpoint.
    log1 = (tmp_path / 'first.log').open('w')
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=log1, stderr=subprocess.STDOUT,
                            env=dict(env, SRTOD_TEST_DIST_HOLD=str(interval)))
    marker = scaffold / 'held'
    deadline = time.time() + 600
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    log1.close()
    first = (tmp_path / 'first.log').read_text()
    assert proc.poll() is None, f'training ended before its hold point:\n{first[-3000:]}'
    assert 'training in 2 processes under torchrun' in first
    worker = int(marker.read_text())
    assert worker != proc.pid and _alive(worker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The workers die with the launcher: nothing of this attempt runs on beside the rerun.
    deadline = time.time() + 60
    while _alive(worker) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive(worker), 'a worker outlived the killed launcher'
    assert not (run_dir / 'train.json').exists() and not (run_dir / 'checkpoint.pth').exists()
    assert sorted(p.name for p in (run_dir / 'train').glob('iter_*.pth')) == \
        [f'iter_{interval}.pth']
    assert not (scaffold / 'writes.txt').exists()

    # 2. The rerun resumes from that checkpoint and finishes; rank 0 alone writes the results.
    second = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-4000:]
    assert f'resuming from {run_dir / "train" / f"iter_{interval}.pth"}' in second.stderr
    assert (scaffold / 'writes.txt').read_text() == '0\n'
    record = json.loads((run_dir / 'train.json').read_text())
    assert record['status'] == 'ok' and record['run_id'] == RUN
    assert record['world_size'] == 2
    assert record['iterations'] == record['max_iterations'] == max_iters
    assert Path(record['resumed_from']).name == f'iter_{interval}.pth'
    # the same config hash as a one-process run of the same config
    assert record['config_hash'] == config_hash(resolve_config(RUN, 'tiny'))
    assert record['threshold']['final'] == pytest.approx(4 / 255, abs=1e-6)  # unused: unmoved
    weights = safe_load(run_dir / 'checkpoint.pth', map_location='cpu')
    assert weights['meta']['iter'] == max_iters
    assert not any(k.startswith('module.') for k in weights['state_dict'])


def test_nan_in_one_process_fails_the_run_in_all_at_the_same_iteration(workdir, tmp_path):
    # Each process computes its own loss; the losses are averaged over the processes before
    # the NaN check, so rank 0 (which writes the result) stops with rank 1 instead of waiting
    # for it in the next gradient exchange.
    scaffold = tmp_path / 'scaffold'
    scaffold.mkdir()
    (scaffold / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    results = tmp_path / 'results'
    run_dir = results / 'tiny' / RUN / 'seed0'
    env = dict(os.environ, SRTOD_TEST_DIST_DIR=str(scaffold), SRTOD_TEST_DIST_NAN='1@3',
               PYTHONPATH=os.pathsep.join(p for p in (str(scaffold), str(REPO),
                                                      os.environ.get('PYTHONPATH')) if p))
    proc = subprocess.run([sys.executable, '-m', 'srtod.cli', 'train', RUN, '--tier', 'tiny',
                           '--gpus', '2', '--threads', '2', '--results', str(results)],
                          cwd=workdir, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    record = json.loads((run_dir / 'train.json').read_text())
    assert record['status'] == 'failed' and record['failure']['iteration'] == 3
    assert 'nan' in record['failure']['reason'].lower() and record['world_size'] == 2
    assert (scaffold / 'writes.txt').read_text() == '0\n'
    for rank in (0, 1):
        assert f'rank={rank}]: model failure at iteration 3' in proc.stderr
