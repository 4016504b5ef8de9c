"""srtod.analysis.collect: result files of a tier -> runs.csv (ok, failed, incomplete runs)."""
import json
import math

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
    _write(ok / 'train.json', _train('droneswarms/cascade_rcnn+srtod', 0))
    _write(ok / 'metrics.json', {'status': 'ok', 'metrics': {'aitod/AP': 12.25, 'AP50': 30.0,
                                                               'APvt': 1.5}})
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
