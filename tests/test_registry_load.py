"""The experiment registry: counts, schema errors that name the key, duplicates, close matches."""
from pathlib import Path

import pytest

from srtod.errors import InputError
from srtod.registry import (DEFAULT_REGISTRY, load_registry, parse_run_id, run_dir)


@pytest.fixture(scope='module')
def registry():
    return load_registry()


@pytest.fixture(scope='module')
def text():
    return DEFAULT_REGISTRY.read_text(encoding='utf-8')


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / 'experiments.yaml'
    path.write_text(text, encoding='utf-8')
    return path


def test_counts(registry):
    # 66 rows in the paper's and supplement's tables, 6 in the control tables C1/C2
    assert len(registry.rows) == 72
    assert len([r for r in registry.rows if r.table[0] in 'TS']) == 66
    assert len(registry.runs) == 57
    assert len(registry.run_ids()) == 57  # every defined run is used by a row
    external = [r for r in registry.rows if r.external]
    assert [(r.table, r.label) for r in external] == [('S4', 'CZ Det')]
    per_table = {t: len(tab.rows) for t, tab in registry.tables.items()}
    assert per_table == {'T1': 14, 'T2': 8, 'T3': 8, 'T4': 3, 'T5': 3, 'T6': 3, 'T7': 3,
                         'S1': 3, 'S2': 5, 'S3': 5, 'S4': 4, 'S5': 3, 'S6': 4, 'C1': 3, 'C2': 3}
    by_dataset = {}
    for run in registry.runs.values():
        by_dataset[run.dataset] = by_dataset.get(run.dataset, 0) + 1
    assert by_dataset == {'droneswarms': 22, 'visdrone': 20, 'aitod': 12, 'dota': 3}


def test_shared_rows_point_to_one_run(registry):
    rows = registry.rows_for_run('droneswarms/cascade_rcnn+srtod')
    assert sorted(r.table for r in rows) == ['S2', 'T1', 'T4', 'T6', 'T7']
    # the same experiment is printed with the same numbers wherever it appears
    for row in rows:
        assert row.published['AP'] == 38.3 and row.published['APvt'] == 30.8
    assert sorted(r.table for r in registry.rows_for_run('visdrone/cascade_rcnn+srtod')) == \
        ['S1', 'S3', 'S6', 'T2', 'T5']
    assert registry.rows_for_run('visdrone/detectors')[1].label == 'Recursive-FPN'


def test_table4_rh_row_is_derived_from_text(registry):
    rh = registry.rows_for_run('droneswarms/cascade_rcnn+srtod-rh')[0]
    base = registry.tables['T4'].rows[0].published
    full = registry.tables['T4'].rows[2].published
    assert rh.published['AP50'] is None and 'not recoverable' in rh.note
    assert rh.published['AP'] == pytest.approx(base['AP'] + 0.1)
    assert full['AP'] - rh.published['AP'] == pytest.approx(1.8)
    assert full['APvt'] - rh.published['APvt'] == pytest.approx(2.1)
    assert rh.published['APt'] == pytest.approx(base['APt'] + 0.2)
    assert rh.published['APs'] == pytest.approx(base['APs'] + 0.2)


def test_runs_and_baselines(registry):
    for run in registry.runs.values():
        assert run.version >= 1
        assert run.config_path.is_file(), run.run_id
        if run.srtod:
            base = registry.get_run(run.baseline)
            assert not base.srtod and base.dataset == run.dataset
            assert base.detector == run.detector
    assert registry.get_run('aitod/detectors+srtod-pdm').variant == 'pdm'
    assert registry.get_run('droneswarms/cascade_rcnn+srtod').variant == ''
    assert registry.get_run('droneswarms/cascade_rcnn').variant is None
    # decisions the brief asks to record are there, next to their run or dataset
    assert any('NAS-FPN' in d for d in registry.get_run('visdrone/nasfpn').decisions)
    assert any('SAC' in d for d in registry.get_run('droneswarms/detectors').decisions)
    assert any('batch' in d.lower() for d in registry.datasets['droneswarms'])
    assert any('warm-up' in d for d in registry.datasets['visdrone'])
    assert registry.decisions('T4')[-1].startswith('droneswarms/cascade_rcnn+srtod-rh: ')


def test_fps_only_in_s5(registry):
    for table in registry.tables.values():
        assert ('FPS' in table.columns) == (table.table_id == 'S5')
    assert registry.tables['S5'].rows[2].published['FPS'] == 8.9


def test_unknown_ids_suggest_close_matches(registry):
    with pytest.raises(InputError, match=r"did you mean droneswarms/cascade_rcnn\+srtod-em"):
        registry.get_run('droneswarms/cascade_rcnn+srtod-emm')
    with pytest.raises(InputError, match='did you mean T1'):
        registry.get_table('T11')
    with pytest.raises(InputError, match='unknown detector'):
        parse_run_id('visdrone/yolo')
    with pytest.raises(InputError, match='unknown SR-TOD variant'):
        parse_run_id('visdrone/cascade_rcnn+srtod-foo')
    assert parse_run_id('visdrone/cascade_rcnn+srtod-t6') == ('visdrone', 'cascade_rcnn', 't6', None)
    assert run_dir('smoke', 'aitod/rfla+srtod', 1) == Path('results/smoke/aitod/rfla+srtod/seed1')


def test_unknown_key_names_key_and_line(tmp_path, text):
    bad = text.replace('    title: "Results on VisDrone2019"\n',
                       '    titel: "x"\n    title: "Results on VisDrone2019"\n', 1)
    path = _write(tmp_path, bad)
    line = bad.splitlines().index('    titel: "x"') + 1
    with pytest.raises(InputError) as err:
        load_registry(path)
    assert "unknown key 'titel'" in str(err.value) and 'did you mean title' in str(err.value)
    assert err.value.line == line and err.value.path == str(path)


def test_wrong_type_names_key(tmp_path, text):
    bad = text.replace('  droneswarms/faster_rcnn:\n    version: 1\n',
                       '  droneswarms/faster_rcnn:\n    version: one\n', 1)
    with pytest.raises(InputError, match='runs/droneswarms/faster_rcnn/version'):
        load_registry(_write(tmp_path, bad))


def test_duplicate_run_id(tmp_path, text):
    dup = '  droneswarms/faster_rcnn:\n    version: 1\n'
    bad = text.replace(dup, dup + dup, 1)
    with pytest.raises(InputError, match="duplicate key 'droneswarms/faster_rcnn'") as err:
        load_registry(_write(tmp_path, bad))
    assert err.value.line == bad.splitlines().index('  droneswarms/faster_rcnn:', 
                                                    bad.splitlines().index('  droneswarms/faster_rcnn:') + 1) + 1


def test_row_with_unknown_run(tmp_path, text):
    bad = text.replace('run: visdrone/cascade_rcnn+srtod-t6,', 'run: visdrone/cascade_rcnn+srtod-t66,')
    with pytest.raises(InputError, match=r"unknown run id .*did you mean visdrone/cascade_rcnn\+srtod-t6"):
        load_registry(_write(tmp_path, bad))


def test_row_on_other_dataset_and_missing_column(tmp_path, text):
    bad = text.replace('run: visdrone/faster_rcnn,', 'run: aitod/faster_rcnn,', 1)
    with pytest.raises(InputError, match='table T2 is on visdrone'):
        load_registry(_write(tmp_path, bad))
    bad = text.replace('{label: "HFD", run: droneswarms/cascade_rcnn+srtod-hfd, published: {AP: 38.4, ',
                       '{label: "HFD", run: droneswarms/cascade_rcnn+srtod-hfd, published: {', 1)
    with pytest.raises(InputError, match=r"missing \['AP'\]"):
        load_registry(_write(tmp_path, bad))


def test_srtod_run_needs_known_baseline(tmp_path, text):
    bad = text.replace('    baseline: dota/rfla\n', '    baseline: dota/rflaa\n', 1)
    with pytest.raises(InputError, match='did you mean dota/rfla'):
        load_registry(_write(tmp_path, bad))
