"""srtod test / srtod fps: metrics.json, fps.json, failed runs, atomic writes, bad input."""
from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys

import pytest
import torch

import srtod  # noqa: F401
from srtod.engine.evaluate import fps_run, test_run
from srtod.engine.provenance import run_directory
from srtod.engine.train import train_run
from srtod.errors import InputError

RUN = 'droneswarms/faster_rcnn'


@pytest.fixture(scope='module')
def trained(tmp_path_factory, make_tiny_coco, tiny_faster_rcnn_config):
    root = tmp_path_factory.mktemp('eval')
    data = make_tiny_coco(root / 'coco', images=3)
    results = root / 'results'
    run_dir = run_directory(results, 'tiny', RUN, 0)
    cfg = tiny_faster_rcnn_config(data, run_dir / 'train', max_iters=2)
    train_run(cfg, run_dir, run_id=RUN, tier='tiny', seed=0)
    return cfg, run_dir, results


def test_test_run_writes_metrics_with_train_fields(trained):
    cfg, run_dir, _ = trained
    record = test_run(cfg, run_dir, run_id=RUN, tier='tiny', seed=0)
    on_disk = json.loads((run_dir / 'metrics.json').read_text())
    assert on_disk == record
    assert record['status'] == 'ok' and record['iterations'] == 2
    train = json.loads((run_dir / 'train.json').read_text())
    assert record['config_hash'] == train['config_hash']
    assert 'bbox_mAP' in record['metrics']  # the test config uses mmdet's CocoMetric
    assert all(-1.0 <= v <= 1.0 for v in record['metrics'].values())
    assert record['checkpoint'] == str(run_dir / 'checkpoint.pth')


def test_fps_run_times_batch_one(trained):
    cfg, run_dir, _ = trained
    torch.set_num_threads(1)
    record = fps_run(cfg, run_dir, run_id=RUN, tier='tiny', seed=0, images=4, warmup=1)
    assert json.loads((run_dir / 'fps.json').read_text()) == record
    assert record['status'] == 'ok' and record['batch_size'] == 1
    assert record['images'] == 4 and record['warmup'] == 1 and record['threads'] == 1
    assert record['unique_images'] == 3  # cycled over the 3 test images
    assert 0 < record['fps'] < 10_000 and record['latency_ms'] > 0
    assert record['device'].startswith('cpu')


def test_failed_training_gives_failed_metrics_and_fps(tmp_path):
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    failure = {'reason': 'loss is not finite: loss=nan', 'iteration': 3}
    (run_dir / 'train.json').write_text(json.dumps(
        {'run_id': RUN, 'status': 'failed', 'failure': failure, 'iterations': 3}))
    record = test_run({}, run_dir, run_id=RUN, tier='tiny', seed=0)
    assert record['status'] == 'failed' and record['metrics'] is None
    assert record['failure'] == failure
    fps = fps_run({}, run_dir, run_id=RUN, tier='tiny', seed=0)
    assert fps['status'] == 'failed' and fps['fps'] is None
    assert json.loads((run_dir / 'fps.json').read_text())['failure'] == failure


def test_metrics_write_under_enospc_keeps_old_file(tmp_path, monkeypatch):
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    (run_dir / 'train.json').write_text(json.dumps(
        {'status': 'failed', 'failure': {'reason': 'x', 'iteration': 1}}))
    old = '{"status": "ok", "metrics": {"AP": 12.5}}\n'
    (run_dir / 'metrics.json').write_text(old)

    real_fdopen = os.fdopen

    class _FullDisk:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, text):
            if self.written + len(text) > 20:  # the disk fills up after 20 characters
                self.f.write(text[: max(0, 20 - self.written)])
                raise OSError(errno.ENOSPC, 'No space left on device')
            self.written += len(text)
            return self.f.write(text)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    monkeypatch.setattr(os, 'fdopen', lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))
    with pytest.raises(OSError) as info:
        test_run({}, run_dir, run_id=RUN, tier='tiny', seed=0)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert (run_dir / 'metrics.json').read_text() == old
    assert sorted(p.name for p in run_dir.iterdir()) == ['metrics.json', 'train.json']


@pytest.mark.parametrize('run_id', ['../../etc/passwd', 'droneswarms/../../x', '/abs/path',
                                    'droneswarms/faster_rcnn/../../..', 'mars/faster_rcnn'])
def test_run_ids_cannot_escape_results(tmp_path, run_id):
    with pytest.raises(InputError):
        run_directory(tmp_path / 'results', 'tiny', run_id, 0)


def test_run_directory_layout(tmp_path):
    path = run_directory(tmp_path / 'results', 'smoke', 'visdrone/cascade_rcnn+srtod-t4', 2)
    assert path == (tmp_path / 'results' / 'smoke' / 'visdrone' / 'cascade_rcnn+srtod-t4'
                    / 'seed2').resolve()
    with pytest.raises(InputError, match='tier'):
        run_directory(tmp_path, 'huge', RUN, 0)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import builtins
        return builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def test_cli_test_refuses_malicious_checkpoint(trained, tmp_path):
    cfg, _, results = trained
    marker = tmp_path / 'pwned.txt'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _Payload(marker)}, evil)
    config_file = tmp_path / 'cfg.py'
    cfg.dump(str(config_file))
    proc = subprocess.run(
        [sys.executable, '-m', 'srtod.cli', 'test', RUN, '--tier', 'tiny', '--results',
         str(results), '--config', str(config_file), '--checkpoint', str(evil),
         '--threads', '1'],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert str(evil) in proc.stderr and 'refused' in proc.stderr
    assert not marker.exists()


def test_config_hash_ignores_where_a_run_writes(trained):
    from srtod.engine.provenance import config_hash
    cfg, _, _ = trained
    import copy
    other = copy.deepcopy(cfg)
    other.work_dir, other.experiment_name, other.resume = '/elsewhere', 'train-1234', True
    assert config_hash(other) == config_hash(cfg)
    changed = copy.deepcopy(cfg)
    changed.optim_wrapper.optimizer.lr = 0.5
    assert config_hash(changed) != config_hash(cfg)
    record = json.loads((trained[1] / 'train.json').read_text())
    assert record['config_hash'] == config_hash(cfg)


TINY_SRTOD, TINY_BASE = 'droneswarms/cascade_rcnn+srtod', 'droneswarms/cascade_rcnn'


@pytest.fixture(scope='module')
def tiny_tier_runs(tmp_path_factory):
    """A tiny-tier SR-TOD run and its baseline, seed 0, as `srtod train` leaves them (its
    checkpoint: the tier's model at its initialisation; the tiny tier trains from scratch), on
    the tier's synthetic DroneSwarms stand-in (2 test images, as the tier makes)."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    from srtod.registry import resolve_config
    from srtod.tiers import TIER_SPECS
    root = tmp_path_factory.mktemp('tiny_tier')
    spec = TIER_SPECS['tiny']
    data = root / 'data' / 'tiny' / 'droneswarms'
    from srtod.cli import main
    assert main(['synth', str(data), '--images', str(spec.images), '--width',
                 str(spec.image_size[0]), '--height', str(spec.image_size[1]),
                 '--test-fraction', str(spec.test_fraction), '--profile', 'droneswarms']) == 0
    init_default_scope('mmdet')
    for run_id in (TINY_SRTOD, TINY_BASE):
        run_dir = run_directory(root / 'results', 'tiny', run_id, 0)
        run_dir.mkdir(parents=True)
        torch.manual_seed(0)
        model = MODELS.build(resolve_config(run_id, 'tiny', data_root=data).model)
        model.init_weights()
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, run_dir / 'checkpoint.pth')
        (run_dir / 'train.json').write_text(json.dumps(dict(
            status='ok', run_id=run_id, tier='tiny', seed=0)))
    return root


def test_cli_test_measures_the_mechanism_of_an_srtod_run(tiny_tier_runs, monkeypatch):
    from srtod.analysis.mechanism import MECHANISM_KEYS
    from srtod.cli import main
    monkeypatch.chdir(tiny_tier_runs)     # data/tiny/droneswarms of the tier
    for run_id in (TINY_SRTOD, TINY_BASE):
        assert main(['test', run_id, '--tier', 'tiny', '--threads', '1', '--results',
                     'results']) == 0
    metrics = json.loads((run_directory(tiny_tier_runs / 'results', 'tiny', TINY_SRTOD, 0)
                          / 'metrics.json').read_text())
    assert metrics['status'] == 'ok' and 'AP' in metrics['metrics']
    mech = metrics['mechanism']
    test_json = json.loads((tiny_tier_runs / 'data/tiny/droneswarms/test.json').read_text())
    assert mech['images'] == len(test_json['images']) == 2      # the whole test split
    assert set(MECHANISM_KEYS) <= set(mech)
    for key in ('rec_psnr', 'rec_psnr_constant'):
        assert math.isfinite(mech[key]) and 0 < mech[key] < 100, (key, mech[key])
    assert mech['rec_psnr_gain'] == pytest.approx(mech['rec_psnr'] - mech['rec_psnr_constant'])
    assert 0 < mech['objects_all'] <= len(test_json['annotations'])
    assert 0.0 <= mech['auc_all'] <= 1.0 and 0.0 <= mech['auc_all_constant'] <= 1.0
    assert metrics['mechanism_wall_time_s'] > 0
    # a baseline carries no mechanism (the key is absent)
    base = json.loads((run_directory(tiny_tier_runs / 'results', 'tiny', TINY_BASE, 0)
                       / 'metrics.json').read_text())
    assert base['status'] == 'ok' and 'mechanism' not in base


def test_failed_srtod_run_has_no_mechanism(tmp_path):
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    (run_dir / 'train.json').write_text(json.dumps(dict(
        status='failed', failure=dict(reason='loss is NaN', iteration=1))))
    record = test_run(dict(), run_dir, run_id=TINY_SRTOD, tier='tiny', seed=0)
    assert record['status'] == 'failed' and 'mechanism' not in record
