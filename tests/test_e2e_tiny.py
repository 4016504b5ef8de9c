"""End to end: one real `snakemake` run of the tiny tier (Table 4: 3 runs) in a temporary folder.

Synthetic data -> validation -> training -> test -> collect -> reports, with the repository's
Snakefile and profile; results/ and reports/ of the repository are never touched.
"""
import json

import pandas as pd
import pytest

from test_workflow_dag import SNAKEMAKE, TRAIN, snakemake

RUNS = ('droneswarms/cascade_rcnn', 'droneswarms/cascade_rcnn+srtod-rh',
        'droneswarms/cascade_rcnn+srtod')


@pytest.mark.slow
@pytest.mark.skipif(not SNAKEMAKE.exists(), reason='snakemake not installed')
def test_tiny_tier_table4_end_to_end(tmp_path):
    proc = snakemake(tmp_path, '--cores', '2', '--config', 'tier=tiny', 'tables=[T4]',
                     timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    for run in RUNS:
        run_dir = tmp_path / 'results' / 'tiny' / run / 'seed0'
        train = json.loads((run_dir / 'train.json').read_text())
        assert train['run_id'] == run and train['tier'] == 'tiny' and train['iterations'] > 0
        assert (run_dir / 'checkpoint.pth').stat().st_size > 0
        assert (run_dir / 'train').is_dir()  # the mmengine work_dir stays (resume)
        assert (tmp_path / 'logs' / 'tiny' / run / 'seed0' / 'train.log').stat().st_size > 0

    runs = pd.read_csv(tmp_path / 'results' / 'tiny' / 'runs.csv')
    assert sorted(runs.run_id) == sorted(RUNS) and set(runs.seed) == {0}
    ok = runs[runs.status == 'ok']
    assert len(ok) + (runs.status == 'failed').sum() == 3
    assert ok.AP.between(0, 100).all() and ok.AP50.notna().all()
    full = runs.set_index('run_id').loc['droneswarms/cascade_rcnn+srtod']
    if full.status == 'ok':  # the threshold t starts at 40/255 and is recorded
        assert full.threshold_init == pytest.approx(40 / 255, abs=1e-4)

    reports = tmp_path / 'reports' / 'tiny'
    table = (reports / 'T4.md').read_text()
    for heading in ('## Published', '## Reproduced', '## Difference',
                    '## SR-TOD gain over its baseline', '## Statistics', '## Decisions'):
        assert heading in table
    assert '| RH + DGFE | `droneswarms/cascade_rcnn+srtod` | 38.3 |' in table
    assert (reports / 'figures' / 'T4_published_vs_reproduced.png').stat().st_size > 1000
    assert '[T4](T4.md)' in (reports / 'index.md').read_text()

    again = snakemake(tmp_path, '-n', '--config', 'tier=tiny', 'tables=[T4]')
    assert again.returncode == 0 and 'Nothing to be done' in again.stdout + again.stderr
    # Adding a table on another dataset re-makes the data gate, but trains only the new runs.
    more = snakemake(tmp_path, '-n', '-p', '--config', 'tier=tiny', 'tables=[T4,T5]')
    assert more.returncode == 0, more.stderr[-3000:]
    trained = {m.group(1) for m in TRAIN.finditer(more.stdout + more.stderr)}
    assert trained == {'visdrone/cascade_rcnn', 'visdrone/cascade_rcnn+srtod',
                       'visdrone/cascade_rcnn+srtod-thr_fixed',
                       'visdrone/cascade_rcnn+srtod-thr_none'}
