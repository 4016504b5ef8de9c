"""``srtod runs``, ``srtod config`` and ``srtod plan`` through the ``srtod`` command."""
import json

import pytest
from mmengine.config import Config

from srtod.cli import main
from srtod.registry import resolve_config


def test_runs_json(capsys):
    assert main(['runs', '--format', 'json']) == 0
    rows = json.loads(capsys.readouterr().out)
    # 66 rows of the paper's and supplement's tables, 6 of the control tables C1/C2
    assert len(rows) == 72
    assert len([r for r in rows if r['table'][0] in 'TS']) == 66
    assert len({r['run_id'] for r in rows if r['run_id']}) == 57
    cz = [r for r in rows if r['external']]
    assert len(cz) == 1 and cz[0]['run_id'] is None and cz[0]['published']['AP'] == 34.6
    first = rows[0]
    assert first == dict(table='T1', label='TridentNet', run_id='droneswarms/tridentnet',
                         published=dict(AP=7.1, AP50=14.8, AP75=6.0, APvt=0.1, APt=12.2, APs=56.6),
                         external=False, note=None)


def test_runs_table_of_some_tables(capsys):
    assert main(['runs', '--tables', 'T4', 'S4']) == 0
    out = capsys.readouterr().out
    assert 'AP50=-' in out  # the RH row's unknown AP50
    assert '(external)' in out
    assert out.strip().splitlines()[-1] == '7 rows, 6 unique runs, 1 external'


def test_config_json_round_trips(capsys):
    assert main(['config', 'droneswarms/cascade_rcnn+srtod', '--tier', 'tiny', '--seed', '3',
                 '--format', 'json']) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = resolve_config('droneswarms/cascade_rcnn+srtod', 'tiny', seed=3)
    assert printed == json.loads(json.dumps(expected.to_dict()))
    again = Config(printed)  # the JSON is a complete config again
    assert again.randomness.seed == 3
    assert again.model.srtod.dgfe.threshold_init == pytest.approx(40 / 255)
    assert again.work_dir == 'results/tiny/droneswarms/cascade_rcnn+srtod/seed3/train'
    assert json.loads(json.dumps(again.to_dict())) == printed


def test_config_py_format(capsys):
    assert main(['config', 'visdrone/cascade_rcnn+srtod-thr_fixed', '--tier', 'paper']) == 0
    text = capsys.readouterr().out
    assert "filtration='fixed'" in text and "type='SRTODTwoStageDetector'" in text


def test_unknown_run_and_tier(capsys):
    assert main(['config', 'visdrone/cascade_rcnn+srtod-t5', '--tier', 'smoke']) == 2
    err = capsys.readouterr().err
    assert 'unknown run id' in err and 'visdrone/cascade_rcnn+srtod-t6' in err
    with pytest.raises(SystemExit):
        main(['config', 'visdrone/cascade_rcnn', '--tier', 'smok'])
    assert main(['runs', '--tables', 'T8']) == 2
    assert 'unknown table' in capsys.readouterr().err


def test_plan_counts_flops(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(['plan', '--tier', 'tiny', '--tables', 'S4', '--format', 'json']) == 0
    plan = json.loads(capsys.readouterr().out)
    runs = {r['run_id']: r for r in plan['runs']}
    assert list(runs) == ['dota/cascade_rcnn', 'dota/rfla', 'dota/rfla+srtod']
    for r in runs.values():
        assert r['error'] is None
        assert r['iterations'] == 4 and r['train_images'] == 6 and r['input_hw'] == [96, 160]
        assert r['gflops_per_image'] > 0
    # SR-TOD adds the reconstruction head: more FLOPs than its baseline
    assert runs['dota/rfla+srtod']['gflops_per_image'] > runs['dota/rfla']['gflops_per_image']
    total = sum(r['gpu_hours'] for r in runs.values())
    assert plan['total']['gpu_hours'] == pytest.approx(total)
    assert any('utilization' in a for a in plan['assumptions'])
    cache = json.loads((tmp_path / 'results/tiny/plan_flops.json').read_text())
    assert len(cache) == 3


def test_plan_paper_without_flops(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(['plan', '--tier', 'paper', '--tables', 'T1', '--no-flops']) == 0
    out = capsys.readouterr().out
    line = [x for x in out.splitlines() if x.startswith('droneswarms/cascade_rcnn ')][0]
    # 20 epochs x ceil(6577 / 2) iterations, on 1920x1088 padded inputs
    assert '65780' in line and '1920x1088' in line
