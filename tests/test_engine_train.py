"""srtod.engine.train: results, resume after SIGKILL, corrupt checkpoints, NaN failures."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import srtod  # noqa: F401
from srtod.engine.checkpoint import safe_load
from srtod.engine.hooks import ENV_INJECT_NAN, ENV_INJECT_NAN_RUN
from srtod.engine.train import train_run

RUN = 'droneswarms/faster_rcnn'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory, make_tiny_coco):
    return make_tiny_coco(tmp_path_factory.mktemp('coco'), images=4)


@pytest.fixture()
def tiny_cfg(data_root, tiny_faster_rcnn_config):
    """``tiny_cfg(run_dir, **kwargs)``: the tiny Faster R-CNN config, work_dir ``run_dir/train``."""
    return lambda run_dir, **kwargs: tiny_faster_rcnn_config(data_root, run_dir / 'train',
                                                             **kwargs)


@pytest.fixture()
def tiny_train(tiny_cfg):
    """``tiny_train(run_dir, **kwargs)``: train the tiny config into ``run_dir`` (train_run)."""
    return lambda run_dir, **kwargs: train_run(tiny_cfg(run_dir, **kwargs), run_dir, run_id=RUN,
                                               tier='tiny', seed=0)


def test_train_writes_checkpoint_and_train_json(tiny_train, tmp_path):
    run_dir = tmp_path / 'run'
    record = tiny_train(run_dir, max_iters=4)
    on_disk = json.loads((run_dir / 'train.json').read_text())
    assert on_disk == record
    assert record['status'] == 'ok' and record['iterations'] == 4
    assert record['run_id'] == RUN and record['tier'] == 'tiny' and record['seed'] == 0
    assert len(record['config_hash']) == 16 and record['code_version'].startswith('srtod ')
    assert {'torch', 'mmengine', 'mmdet'} <= set(record['packages'])
    assert record['wall_time_s'] > 0 and record['resumed_from'] is None
    assert record['threshold'] == {'init': None, 'final': None}  # plain Faster R-CNN
    ckpt = safe_load(run_dir / 'checkpoint.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 4 and 'backbone.conv1.weight' in ckpt['state_dict']
    assert (run_dir / 'train' / 'iter_4.pth').exists()
    assert not list(run_dir.glob('.*.tmp'))


def test_truncated_checkpoint_falls_back_to_previous(tiny_train, tmp_path, capsys):
    run_dir = tmp_path / 'run'
    tiny_train(run_dir, max_iters=4)
    work = run_dir / 'train'
    newest = work / 'iter_4.pth'
    newest.write_bytes(newest.read_bytes()[:1000])
    capsys.readouterr()
    record = tiny_train(run_dir, max_iters=6)
    err = capsys.readouterr().err
    assert str(newest) in err and 'truncated or corrupt' in err
    assert f'resuming from {work / "iter_2.pth"}' in err
    assert (work / 'iter_4.pth.corrupt').exists()
    assert record['status'] == 'ok' and record['iterations'] == 6
    assert record['resumed_from'] == str(work / 'iter_2.pth')
    # wall time sums the attempts: the first one's time up to iter_2 is carried in its meta
    carried = safe_load(work / 'iter_2.pth')['meta']['srtod_train_time_s']
    assert carried > 0
    assert carried < record['wall_time_s'] <= carried + record['attempt_wall_time_s']


def test_all_checkpoints_corrupt_restarts_from_scratch(tiny_train, tmp_path, capsys):
    run_dir = tmp_path / 'run'
    work = run_dir / 'train'
    work.mkdir(parents=True)
    (work / 'iter_2.pth').write_bytes(b'not a checkpoint')
    record = tiny_train(run_dir, max_iters=2)
    err = capsys.readouterr().err
    assert 'iter_2.pth' in err and 'restarts from scratch' in err
    assert record['status'] == 'ok' and record['iterations'] == 2
    assert record['resumed_from'] is None


def test_nan_loss_is_a_failed_result(tiny_train, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV_INJECT_NAN, '3')
    monkeypatch.setenv(ENV_INJECT_NAN_RUN, RUN)
    run_dir = tmp_path / 'run'
    record = tiny_train(run_dir, max_iters=6)
    assert record['status'] == 'failed'
    assert record['failure']['iteration'] == 3
    assert 'nan' in record['failure']['reason'].lower()
    assert json.loads((run_dir / 'train.json').read_text())['failure']['iteration'] == 3
    err = capsys.readouterr().err
    assert RUN in err and 'iteration 3' in err
    assert (run_dir / 'checkpoint.pth').exists()  # a declared output of the train rule


def test_nan_injection_only_for_the_named_run(monkeypatch):
    from srtod.engine.hooks import nan_injection_from_env
    monkeypatch.setenv(ENV_INJECT_NAN, '2')
    monkeypatch.setenv(ENV_INJECT_NAN_RUN, 'visdrone/atss')
    assert nan_injection_from_env(RUN) is None
    assert nan_injection_from_env('visdrone/atss') == dict(type='NaNInjectionHook', iteration=2)


def test_huge_learning_rate_diverges_and_fails(tiny_train, tmp_path):
    record = tiny_train(tmp_path / 'run', max_iters=8, lr=1e12)
    assert record['status'] == 'failed'
    assert 1 <= record['failure']['iteration'] <= 8


def test_sigkill_mid_run_resumes_to_the_same_iteration_count(tiny_cfg, tmp_path):
    max_iters = 10
    results = tmp_path / 'results'
    run_dir = results / 'tiny' / RUN / 'seed0'
    cfg = tiny_cfg(run_dir, max_iters=max_iters, checkpoint_interval=2)
    config_file = tmp_path / 'cfg.py'
    cfg.dump(str(config_file))
    cmd = [sys.executable, '-m', 'srtod.cli', 'train', RUN, '--tier', 'tiny', '--results',
           str(results), '--config', str(config_file), '--threads', '1']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    log1 = (tmp_path / 'first.log').open('w')
    proc = subprocess.Popen(cmd, stdout=log1, stderr=subprocess.STDOUT, env=env)
    last = run_dir / 'train' / 'last_checkpoint'
    deadline = time.time() + 120
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, 'training ended before its first checkpoint'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    log1.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / 'train.json').exists()
    saved = sorted(int(p.stem.split('_')[1]) for p in (run_dir / 'train').glob('iter_*.pth'))
    assert saved and saved[-1] < max_iters

    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert 'resuming from' in second.stderr
    record = json.loads((run_dir / 'train.json').read_text())
    assert record['status'] == 'ok' and record['iterations'] == max_iters
    assert record['resumed_from'] is not None
    carried = safe_load(record['resumed_from'])['meta']['srtod_train_time_s']
    assert 0 < carried < record['wall_time_s']  # the killed attempt's time is counted
    resumed_at = int(record['resumed_from'].rsplit('_', 1)[1].split('.')[0])
    assert 2 <= resumed_at < max_iters


def test_non_finite_loss_hook_names_terms_and_iteration():
    import math
    import types

    import torch

    from srtod.engine.hooks import NonFiniteLossError, NonFiniteLossHook
    hook = NonFiniteLossHook()
    runner = types.SimpleNamespace(iter=6)
    finite = {'loss': torch.tensor(1.5), 'loss_cls': torch.tensor(0.5), 'acc': torch.tensor(90.)}
    hook.after_train_iter(runner, 6, outputs=finite)  # no error
    bad = dict(finite, loss=torch.tensor(math.inf), loss_cls=torch.tensor(math.nan),
               acc=torch.tensor(math.nan))
    with pytest.raises(NonFiniteLossError) as info:
        hook.after_train_iter(runner, 6, outputs=bad)
    assert info.value.iteration == 7  # 1-based, as the training log counts
    assert 'loss=inf' in info.value.reason and 'loss_cls=nan' in info.value.reason
    assert 'acc' not in info.value.reason


def test_disk_full_while_saving_leaves_no_result_files(tiny_train, tmp_path, monkeypatch):
    import errno
    import io

    import torch

    import srtod.engine.train as train_module
    real_save = torch.save

    def full_disk_save(obj, f, *args, **kwargs):
        if not isinstance(f, io.BytesIO):  # checkpoint.pth; mmengine's saves go to BytesIO
            f.write(b'PK\x03\x04partial')
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(train_module.torch, 'save', full_disk_save)
    run_dir = tmp_path / 'run'
    with pytest.raises(OSError) as info:
        tiny_train(run_dir, max_iters=2)
    assert info.value.errno == errno.ENOSPC
    assert not (run_dir / 'checkpoint.pth').exists() and not (run_dir / 'train.json').exists()
    assert not list(run_dir.glob('.*.tmp'))


def test_resume_candidates_newest_readable_first(tmp_path):
    import torch

    from srtod.engine.train import select_resume_checkpoint
    messages = []
    log = lambda message, level='info': messages.append((level, message))  # noqa: E731
    assert select_resume_checkpoint(tmp_path / 'absent', log) is None
    torch.save({'meta': {'iter': 2}, 'state_dict': {}}, tmp_path / 'iter_2.pth')
    torch.save({'meta': {'iter': 10}, 'state_dict': {}}, tmp_path / 'iter_10.pth')
    torch.save({'weights': torch.zeros(1)}, tmp_path / 'iter_12.pth')  # loads, but not a ckpt
    (tmp_path / 'notes.pth').write_bytes(b'ignored: not iter_N/epoch_N')
    assert select_resume_checkpoint(tmp_path, log) == tmp_path / 'iter_10.pth'  # 10 > 2 numerically
    assert (tmp_path / 'iter_12.pth.corrupt').exists()
    assert messages[0][0] == 'error' and 'iter_12.pth' in messages[0][1]
    assert 'resuming from' in messages[-1][1] and 'iteration 10' in messages[-1][1]
