"""srtod.analysis.report: published vs reproduced tables, SR-TOD gains, failures, charts, index."""
import math
import re

import numpy as np
import pandas as pd
import pytest

from srtod.analysis.collect import RUN_COLUMNS
from srtod.analysis.report import (render_index, summarize_runs, table_data, write_reports)
from srtod.registry import load_registry

BASE, RH, FULL = ('droneswarms/cascade_rcnn', 'droneswarms/cascade_rcnn+srtod-rh',
                  'droneswarms/cascade_rcnn+srtod')


@pytest.fixture(scope='module')
def registry():
    return load_registry()


def _row(run_id, seed, status='ok', ap=math.nan, apvt=math.nan, failure=None, **extra):
    rec = {c: math.nan for c in RUN_COLUMNS}
    rec.update(run_id=run_id, tier='tiny', seed=seed, status=status, AP=ap, APvt=apvt,
               failure=failure, failure_stage='train' if failure else None,
               threshold_init=40 / 255 if '+srtod' in run_id else math.nan,
               threshold_final=40 / 255 if '+srtod' in run_id else math.nan,
               code_version='v0')
    rec.update(extra)
    return rec


@pytest.fixture()
def runs():
    return pd.DataFrame([
        _row(BASE, 0, ap=10.0, apvt=2.0), _row(BASE, 1, ap=12.0, apvt=2.0),
        _row(RH, 0, ap=11.0, apvt=1.0),
        _row(RH, 1, status='failed', failure='loss is nan (iteration 17)'),
        _row(FULL, 0, ap=13.0, apvt=5.0), _row(FULL, 1, ap=16.0, apvt=6.0),
        _row(FULL, 2, ap=99.0, apvt=99.0),  # seed 2 is outside seeds=2: ignored
    ], columns=list(RUN_COLUMNS))


def _table_rows(text, heading=None):
    """Cells of the markdown table under ``## heading`` (the first table: None), by row label."""
    block = text if heading is None else text.split(f'## {heading}', 1)[1]
    block = block.split('\n## ', 1)[0]
    lines = [ln for ln in block.splitlines() if ln.startswith('| ')][1:]
    return {cells[0]: cells for cells in
            ([c.strip() for c in ln.strip('|').split(' | ')] for ln in lines)}


def test_summary_means_std_and_failures(runs):
    s = summarize_runs(runs, seeds=2)
    assert s[BASE].status == 'ok' and s[BASE].mean('AP') == 11.0
    assert s[BASE].std('AP') == pytest.approx(math.sqrt(2))
    assert s[RH].status == 'failed' and s[RH].seeds_ok == [0]
    assert s[RH].failures == ['seed 1, train: loss is nan (iteration 17)']
    assert s[FULL].mean('AP') == 14.5  # seed 2 (99.0) left out


def test_table_arrays_follow_the_registry(registry, runs):
    data = table_data(registry, summarize_runs(runs, seeds=2), 'T4')
    assert data.labels == ['Cascade R-CNN (no RH, no DGFE)', 'RH', 'RH + DGFE']
    assert data.columns == ['AP', 'AP50', 'APvt', 'APt', 'APs']
    assert data.published[2, 0] == 38.3 and math.isnan(data.published[1, 1])  # AP50 null
    assert list(data.reproduced[:, 0]) == [11.0, 11.0, 14.5]


def test_table_report_numbers(tmp_path, registry, runs):
    write_reports(registry, runs, 'tiny', ['T4'], tmp_path, seeds=2, results_root=tmp_path)
    text = (tmp_path / 'T4.md').read_text(encoding='utf-8')
    pub = _table_rows(text, 'Published')
    assert pub['RH + DGFE'][1:4] == [f'`{FULL}`', '38.3', '87.4']
    assert pub['RH'][3] == '–'  # AP50 not published
    rep = _table_rows(text, 'Reproduced')
    assert rep['RH + DGFE'][1:4] == ['ok', '2', '14.5 ± 2.1']
    assert rep['RH + DGFE'][-1] == '40.00 → 40.00'  # threshold x 255, init -> final
    assert rep['RH'][1] == 'failed: seed 1, train: loss is nan (iteration 17)'
    assert rep['RH'][3] == '11.0'  # one finished seed: no spread
    diff = _table_rows(text, 'Difference')
    assert diff['RH + DGFE'][1] == '-23.8' and diff['Cascade R-CNN (no RH, no DGFE)'][1] == '-25.4'
    gains = _table_rows(text, 'SR-TOD gain')
    # published 38.3 - 36.4; reproduced paired by seed: (13-10, 16-12) -> 3.5 +- 0.7
    assert gains['RH + DGFE'][1:4] == ['Cascade R-CNN (no RH, no DGFE)', '+1.9', '+3.5 ± 0.7']
    assert gains['RH'][2:4] == ['+0.1', '+1.0']
    assert gains['RH + DGFE'][6:8] == ['+2.0', '+3.5 ± 0.7']  # APvt 30.8 - 28.8; (3, 4)
    assert '## Decisions' in text and 'garbled' in text  # the table's own decision
    assert 'Row "RH": Derived from section 4.4' in text  # how a row was read
    assert '## Statistics' in text and 'no records' in text
    png = tmp_path / 'figures' / 'T4_published_vs_reproduced.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_index_counts_signs_and_rank_agreement(registry, runs):
    statistics = {'T4': pd.DataFrame(dict(run_id=[RH, FULL],
                                          verdict=['within noise', 'gain reproduced'])),
                  'T6': pd.DataFrame(dict(run_id=[FULL], verdict=['too few seeds']))}
    text = render_index(registry, runs, 'tiny', ['T4', 'T6'], seeds=2, statistics=statistics)
    rows = _table_rows(text)
    assert '| table | title | dataset | rows run | stale rows | SR-TOD gains above noise | ' \
           'rank agreement |' in text
    # RH: one seed failed, so 2 of 3 rows ran; one of two judged gains is above noise;
    # Spearman of published (36.4, 36.5, 38.3) and reproduced (11, 11, 14.5) AP
    assert rows['[T4](T4.md)'][3:] == ['2/3', '0', '1/2', 'ρ = 0.87 (n = 3)']
    assert rows['[T6](T6.md)'][3:] == ['1/3', '0', '– (1 with too few seeds)', '– (n = 1)']
    assert '3 ok' not in text and '1 failed' in text and '2 not run' in text
    assert f'- `{RH}`: seed 1, train: loss is nan (iteration 17)' in text
    assert 'rows reproduced' not in text
    versions = _table_rows(text, 'Code versions')
    assert versions['v0'][1:] == ['not recorded', '3', 'T4 (3), T6 (1)']


def test_check_tier_prints_no_rank_agreement(registry, runs):
    # the same numbers that give rho = 0.87 at the tiny tier (test above): at the check tier
    # they come from random weights after 2 iterations, and no rho is printed
    statistics = {'T4': pd.DataFrame(dict(run_id=[RH, FULL], verdict=['too few seeds'] * 2))}
    text = render_index(registry, runs, 'check', ['T4'], seeds=2, statistics=statistics)
    assert _table_rows(text)['[T4](T4.md)'][6] == (
        '– (n = 3; `check` tier: random weights, the order of rows means nothing)')
    assert 'ρ =' not in text


def test_index_cost_per_run(registry, runs):
    runs = runs.copy()
    full = runs['run_id'] == FULL
    runs.loc[full, 'seconds_per_iter'] = [2.0, 4.0, 99.0]     # seed 2 is outside seeds=2
    runs.loc[full, 'peak_memory_mb'] = [1024.0, 3072.0, 99e3]
    runs['memory_measure'] = runs['memory_measure'].astype(object)
    runs.loc[full, 'memory_measure'] = 'cpu_ru_maxrss'
    runs.loc[full, 'torch_threads'] = 2
    runs.loc[full, 'iterations'] = 200
    runs.loc[full, 'wall_time_s'] = [10.0, 20.0, 99.0]
    runs.loc[full, 'test_wall_time_s'] = [1.0, 2.0, 99.0]
    text = render_index(registry, runs, 'tiny', ['T4'], seeds=2,
                        statistics={'T4': pd.DataFrame(dict(run_id=[], verdict=[]))})
    cost = _table_rows(text, 'Cost per run')
    # mean s/iter and wall times over the two seeds, the larger peak memory in GB
    assert cost[f'`{FULL}`'][1:] == ['2', '200', '2', '3.0', '3.0', 'CPU peak RSS', '15.0', '1.5']
    # a run whose train.json predates the cost figures: its cells are missing, not zero
    assert cost[f'`{BASE}`'][3:] == ['–', '–', '–', '–', '–', '–']
    assert set(cost) == {f'`{BASE}`', f'`{RH}`', f'`{FULL}`'}


def test_stale_rows_are_marked(tmp_path, registry, runs):
    runs = runs.copy()
    runs['stale'] = None
    runs.loc[runs['run_id'] == BASE, 'stale'] = 'config changed (aaa -> bbb)'
    write_reports(registry, runs, 'tiny', ['T4'], tmp_path, seeds=2, results_root=tmp_path)
    text = (tmp_path / 'T4.md').read_text(encoding='utf-8')
    assert '**Stale rows: 1.**' in text
    rep = _table_rows(text, 'Reproduced')
    assert rep['Cascade R-CNN (no RH, no DGFE)'][1] == (
        'ok, stale (seed 0: config changed (aaa -> bbb); seed 1: config changed (aaa -> bbb))')
    prov = _table_rows(text, 'Provenance')
    assert prov[f'`{BASE}`'][2:] == ['v0', 'not recorded', 'not recorded', 'not recorded',
                                      'not recorded', 'config changed (aaa -> bbb)']
    index = (tmp_path / 'index.md').read_text(encoding='utf-8')
    assert _table_rows(index)['[T4](T4.md)'][3:5] == ['2/3', '1']   # a stale row ran
    assert f'- `{BASE}`: seed 0: config changed (aaa -> bbb)' in index


def _panel(path, with_baseline=True):
    rng = np.random.default_rng(0)
    panel = dict(label='droneswarms', image=rng.random((32, 32, 3)), diff_map=rng.random((32, 32)),
                 boxes=np.array([[4.0, 4.0, 10.0, 10.0]]), reconstruction=rng.random((32, 32, 3)),
                 binary_map=(rng.random((32, 32)) > 0.5).astype(np.float32),
                 threshold=np.float64(40 / 255), p2_before=rng.random((32, 32)),
                 p2_after=rng.random((32, 32)), format=np.int64(2))
    if with_baseline:
        panel['p2_baseline'] = rng.random((32, 32))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **panel)


def test_every_image_a_page_shows_exists(tmp_path, registry, runs):
    """Table reports show the Fig. 1 and Fig. 4 panels and the forest plot of their SR-TOD rows
    (a row without a panel gets a note in the figure); the index shows supplement Fig. 1 only
    when it exists."""
    _panel(tmp_path / 'tiny' / FULL / 'seed0' / 'figure_panel.npz')
    out = tmp_path / 'reports'
    write_reports(registry, runs, 'tiny', ['T4', 'T6'], out, seeds=2, results_root=tmp_path)
    t4 = (out / 'T4.md').read_text(encoding='utf-8')
    for name in ('T4_published_vs_reproduced', 'T4_difference_maps', 'T4_features',
                 'T4_gains'):
        assert f'](figures/{name}.png)' in t4, name
    assert 'difference_maps_datasets' not in (out / 'index.md').read_text(encoding='utf-8')
    (out / 'figures' / 'difference_maps_datasets.png').write_bytes(
        (out / 'figures' / 'T4_gains.png').read_bytes())
    write_reports(registry, runs, 'tiny', ['T4', 'T6'], out, seeds=2, results_root=tmp_path)
    pages = [out / 'index.md', out / 'T4.md', out / 'T6.md']
    shown = [(page, m.group(1)) for page in pages
             for m in re.finditer(r'!\[[^\]]*\]\(([^)]+)\)', page.read_text(encoding='utf-8'))]
    assert len(shown) == 1 + 4 + 4
    for page, target in shown:
        png = page.parent / target
        assert png.is_file() and png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', (page, target)
    # compact: the panels of T4's two SR-TOD rows fit on one screen
    from PIL import Image
    for name in ('T4_difference_maps', 'T4_features'):
        width, height = Image.open(out / 'figures' / f'{name}.png').size
        assert width <= 1100 and height <= 900, (name, width, height)


def test_fps_column_is_a_ratio(tmp_path, registry):
    runs = pd.DataFrame([
        _row('aitod/detectors', 0, ap=5.0, fps=10.0, fps_device='cpu'),
        _row('aitod/detectors+srtod', 0, ap=7.0, fps=8.0, fps_device='cpu'),
    ], columns=list(RUN_COLUMNS))
    write_reports(registry, runs, 'tiny', ['S5'], tmp_path, results_root=tmp_path)
    text = (tmp_path / 'S5.md').read_text(encoding='utf-8')
    gains = _table_rows(text, 'SR-TOD gain')
    row = gains['DetectoRS w/ SR-TOD']
    assert row[-2:] == ['×0.71', '×0.80']  # published 8.9 / 12.5, reproduced 8 / 10
    assert 'measured on cpu' in text


def test_panels_of_an_older_srtod_figures_are_not_shown(tmp_path):
    from srtod.analysis.report import load_panel
    path = tmp_path / 'tiny' / FULL / 'seed0' / 'figure_panel.npz'
    _panel(path)
    assert load_panel('tiny', FULL, tmp_path)['format'] == 2
    np.savez_compressed(path, image=np.zeros((4, 4, 3)), diff_map=np.zeros((4, 4)),
                        boxes=np.zeros((0, 4)))   # written before the table panels existed
    assert load_panel('tiny', FULL, tmp_path) is None
    np.savez_compressed(path, failed=np.array(True))
    assert load_panel('tiny', FULL, tmp_path) is None


def test_mechanism_table_from_metrics_json(tmp_path, registry):
    """metrics.json of each seed (srtod test) -> runs.csv (collect) -> the Mechanism table of
    T4: medians over seeds, gains the medians of the per-seed gains."""
    import json

    from srtod.analysis.collect import collect_runs
    figures = {FULL: [(24.0, 20.0, 0.90, 0.70, 0.80, 0.60), (26.0, 21.0, 0.80, 0.70, 0.84, 0.62),
                      (30.0, 20.0, 0.85, 0.75, 0.90, 0.70)],
               RH: [(22.0, 20.0, 0.65, 0.70, 0.70, 0.60)]}
    for run_id in (BASE, RH, FULL):
        for seed, values in enumerate(figures.get(run_id, [None])):
            d = tmp_path / 'results' / 'tiny' / run_id / f'seed{seed}'
            d.mkdir(parents=True)
            (d / 'train.json').write_text(json.dumps(dict(status='ok', seed=seed)))
            metrics = dict(status='ok', metrics=dict(AP=20.0))
            if values is not None:
                keys = ('rec_psnr', 'rec_psnr_constant', 'auc_very_tiny',
                        'auc_very_tiny_constant', 'auc_all', 'auc_all_constant')
                metrics['mechanism'] = dict(zip(keys, values))
            (d / 'metrics.json').write_text(json.dumps(metrics))
    runs = collect_runs(registry, 'tiny', tmp_path / 'results', run_ids=[BASE, RH, FULL])
    write_reports(registry, runs, 'tiny', ['T4'], tmp_path / 'reports',
                  results_root=tmp_path / 'results')
    text = (tmp_path / 'reports' / 'T4.md').read_text(encoding='utf-8')
    mech = _table_rows(text, 'Mechanism')
    assert set(mech) == {'RH', 'RH + DGFE'}     # the SR-TOD rows only, not the baseline
    # PSNR gains per seed 4, 5, 10 -> median +5.00; AUC gains 0.20, 0.10, 0.10 -> +0.100
    assert mech['RH + DGFE'][1:] == [f'`{FULL}`', '3', '26.00', '20.00', '+5.00', '0.850',
                                     '0.700', '+0.100', '0.840', '0.620']
    assert mech['RH'][1:] == [f'`{RH}`', '1', '22.00', '20.00', '+2.00', '0.650', '0.700',
                              '-0.050', '0.700', '0.600']
