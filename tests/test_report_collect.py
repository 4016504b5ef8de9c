"""srtod.analysis.collect: result files of a tier -> runs.csv (ok, failed, incomplete runs)."""
import dataclasses
import json
import math

import pandas as pd
import pytest

from srtod.analysis.collect import (RUN_COLUMNS, collect_runs, load_runs_csv, run_record,
                                    write_runs_csv)
from srtod.errors import InputError
from srtod.registry import load_registry


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding='utf-8')


def _train(run_id, seed, status='ok', **extra):
    rec = dict(run_id=run_id, tier='tiny', seed=seed, status=status, iterations=40,
               wall_time_s=12.5, threshold={'init': 40 / 255, 'final': 39.5 / 255},
               config_hash='abc', code_version='v0')
    rec.update(extra)
    return rec


@pytest.fixture(scope='module')
def registry():
    return load_registry()


def test_collect_ok_failed_incomplete(tmp_path, registry):
    base = tmp_path / 'tiny'
    ok = base / 'droneswarms/cascade_rcnn+srtod/seed0'
    _write(ok / 'train.json', _train('droneswarms/cascade_rcnn+srtod', 0, seconds_per_iter=0.75,
                                     peak_memory_mb=2048.5, memory_measure='cpu_ru_maxrss',
                                     torch_threads=2))
    _write(ok / 'metrics.json', {'status': 'ok', 'metrics': {'aitod/AP': 12.25, 'AP50': 30.0,
                                                               'APvt': 1.5},
                                 'test_wall_time_s': 4.25})
    _write(ok / 'fps.json', {'status': 'ok', 'fps': 7.5, 'device': 'cpu', 'images': 50})
    bad = base / 'droneswarms/cascade_rcnn+srtod/seed1'
    failure = {'reason': 'loss is nan', 'iteration': 17}
    _write(bad / 'train.json', _train('droneswarms/cascade_rcnn+srtod', 1, status='failed',
                                      failure=failure))
    _write(bad / 'metrics.json', {'status': 'failed', 'metrics': None, 'failure': failure})
    pending = base / 'droneswarms/cascade_rcnn/seed0'
    _write(pending / 'train.json', _train('droneswarms/cascade_rcnn', 0, threshold=None))
    (base / 'droneswarms/faster_rcnn/seed0').mkdir(parents=True)  # not trained: no row

    frame = collect_runs(registry, 'tiny', results_root=tmp_path)
    assert list(frame.columns) == list(RUN_COLUMNS)
    assert list(zip(frame.run_id, frame.seed)) == [
        ('droneswarms/cascade_rcnn', 0), ('droneswarms/cascade_rcnn+srtod', 0),
        ('droneswarms/cascade_rcnn+srtod', 1)]
    base_row, good, failed = (frame.iloc[i] for i in range(3))
    assert base_row.status == 'incomplete' and math.isnan(base_row.AP)
    assert good.status == 'ok' and good.AP == 12.25 and good.AP50 == 30.0 and good.APvt == 1.5
    assert good.fps == 7.5 and good.fps_device == 'cpu'
    assert (good.seconds_per_iter, good.peak_memory_mb, good.torch_threads) == (0.75, 2048.5, 2)
    assert good.memory_measure == 'cpu_ru_maxrss' and good.test_wall_time_s == 4.25
    # a train.json of older code (no cost figures) and an untested run: empty, not zero
    assert math.isnan(base_row.seconds_per_iter) and math.isnan(base_row.test_wall_time_s)
    assert good.threshold_init == pytest.approx(40 / 255)
    assert good.threshold_final == pytest.approx(39.5 / 255)
    assert good.baseline == 'droneswarms/cascade_rcnn' and good.dataset == 'droneswarms'
    assert failed.status == 'failed' and failed.failure_stage == 'train'
    assert failed.failure == 'loss is nan (iteration 17)' and math.isnan(failed.AP)

    out = tmp_path / 'tiny' / 'runs.csv'
    write_runs_csv(frame, out)
    back = load_runs_csv(out)
    assert list(back.status) == ['incomplete', 'ok', 'failed']
    assert back.AP.iloc[1] == 12.25 and back.failure.iloc[2] == 'loss is nan (iteration 17)'
    assert back.peak_memory_mb.iloc[1] == 2048.5 and back.memory_measure.iloc[1] == 'cpu_ru_maxrss'


def test_fps_failure_is_reported_with_metrics_kept(tmp_path, registry):
    run = tmp_path / 'seed0'
    _write(run / 'train.json', _train('aitod/detectors', 0))
    _write(run / 'metrics.json', {'status': 'ok', 'metrics': {'AP': 3.0}})
    _write(run / 'fps.json', {'status': 'failed', 'failure': {'reason': 'out of memory'}})
    rec = run_record(run, run=registry.runs['aitod/detectors'], tier='tiny')
    assert rec['status'] == 'failed' and rec['failure_stage'] == 'fps'
    assert rec['failure'] == 'out of memory' and rec['AP'] == 3.0


def test_bad_result_file_names_the_file(tmp_path):
    run = tmp_path / 'seed0'
    run.mkdir()
    (run / 'train.json').write_text('{"run_id": ', encoding='utf-8')
    with pytest.raises(InputError, match=r'train\.json:1: not valid JSON'):
        run_record(run)


def test_load_runs_csv_missing_file_says_what_to_run(tmp_path):
    with pytest.raises(InputError, match='srtod collect'):
        load_runs_csv(tmp_path / 'runs.csv')


MACHINE = dict(device='cuda', cpu='AMD EPYC 9654', gpu='NVIDIA H200', gpus=1, torch='2.4.1',
               cuda='12.1', cudnn=90100, onednn='3.4.2')


def test_provenance_columns_and_stale_rows(tmp_path):
    """Each row says which code and machine made it; rows whose recorded config hash or run
    version differ from the current ones (or were not recorded) are stale, with the reason."""
    base = tmp_path / 'tiny'
    runs = {'droneswarms/cascade_rcnn': dict(config_hash='aaa', run_version=1),     # current
            'droneswarms/cascade_rcnn+srtod': dict(config_hash='old', run_version=1),
            'droneswarms/cascade_rcnn+srtod-rh': dict(config_hash='ccc', run_version=1),
            'droneswarms/faster_rcnn': dict(config_hash=None, run_version=None)}
    for run_id, prov in runs.items():
        _write(base / run_id / 'seed0' / 'train.json',
               _train(run_id, 0, machine=MACHINE, code_version='srtod 0.1.0 git 1234', **prov))
        _write(base / run_id / 'seed0' / 'metrics.json', {
            'status': 'ok', 'metrics': {'AP': 1.0},
            'test_provenance': dict(code_version='srtod 0.1.0 git 5678',
                                    machine=dict(MACHINE, gpu=None, device='cpu'))})
    current = {'droneswarms/cascade_rcnn': 'aaa', 'droneswarms/cascade_rcnn+srtod': 'new',
               'droneswarms/cascade_rcnn+srtod-rh': 'ccc', 'droneswarms/faster_rcnn': 'fff'}
    registry = load_registry()   # its own copy: one run's version is bumped to 2
    rh = 'droneswarms/cascade_rcnn+srtod-rh'
    registry.runs[rh] = dataclasses.replace(registry.runs[rh], version=2)
    frame = collect_runs(registry, 'tiny', results_root=tmp_path,
                         current=lambda run_id, seed: current[run_id]).set_index('run_id')
    assert pd.isna(frame.loc['droneswarms/cascade_rcnn', 'stale'])
    assert frame.loc['droneswarms/cascade_rcnn+srtod', 'stale'] == 'config changed (old -> new)'
    assert frame.loc['droneswarms/cascade_rcnn+srtod-rh', 'stale'] == 'run version 1 -> 2'
    assert frame.loc['droneswarms/faster_rcnn', 'stale'] == (
        'config hash not recorded; run version not recorded')
    row = frame.loc['droneswarms/cascade_rcnn']
    assert row.machine == 'NVIDIA H200 (1 GPU); torch 2.4.1, CUDA 12.1, oneDNN 3.4.2'
    assert row.test_machine == 'CPU AMD EPYC 9654; torch 2.4.1, CUDA 12.1, oneDNN 3.4.2'
    assert row.code_version == 'srtod 0.1.0 git 1234'
    assert row.test_code_version == 'srtod 0.1.0 git 5678' and row.run_version == 1
    # without the current hashes nothing is marked
    plain = collect_runs(registry, 'tiny', results_root=tmp_path)
    assert plain['stale'].isna().all()
