"""End to end: one real `snakemake` run of the tiny tier (Table 4: 3 runs) in a temporary folder.

Synthetic data -> validation -> training -> test -> figures -> collect -> reports -> claims,
with the repository's Snakefile and profile; results/ and reports/ of the repository are never
touched. Then `snakemake --report` on the finished tier, opened in headless Chromium.
"""
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from test_workflow_dag import SNAKEMAKE, TRAIN, snakemake

RUNS = ('droneswarms/cascade_rcnn', 'droneswarms/cascade_rcnn+srtod-rh',
        'droneswarms/cascade_rcnn+srtod')
CONFIG = ('--config', 'tier=tiny', 'tables=[T4]')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SNAKEMAKE.exists(), reason='snakemake not installed')]


@pytest.fixture(scope='module')
def tiny_tier(tmp_path_factory):
    """The workdir of a finished tiny-tier run of Table 4."""
    work = tmp_path_factory.mktemp('e2e')
    proc = snakemake(work, '--cores', '2', *CONFIG, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work


def test_tiny_tier_table4_end_to_end(tiny_tier):
    tmp_path = tiny_tier
    for run in RUNS:
        run_dir = tmp_path / 'results' / 'tiny' / run / 'seed0'
        train = json.loads((run_dir / 'train.json').read_text())
        assert train['run_id'] == run and train['tier'] == 'tiny' and train['iterations'] > 0
        assert train['status'] == 'ok', (run, train.get('failure'))
        assert train['run_version'] == 1 and train['machine']['torch']
        assert (run_dir / 'checkpoint.pth').stat().st_size > 0
        assert (run_dir / 'train').is_dir()  # the mmengine work_dir stays (resume)
        assert (tmp_path / 'logs' / 'tiny' / run / 'seed0' / 'train.log').stat().st_size > 0
        metrics = json.loads((run_dir / 'metrics.json').read_text())
        assert metrics['status'] == 'ok' and metrics['test_provenance']['machine']['torch']
        # srtod test measures the mechanism of each SR-TOD run; a baseline has none
        assert ('mechanism' in metrics) == ('+srtod' in run), run

    runs = pd.read_csv(tmp_path / 'results' / 'tiny' / 'runs.csv')
    assert sorted(runs.run_id) == sorted(RUNS) and set(runs.seed) == {0}
    # every training and test finished. Whether 4 iterations from scratch give an AP above 0 is
    # luck (0.0025 for the baseline, 0.0 for SR-TOD with L_rec weight 10, synth_seed 0), so the
    # test asks what the pipeline guarantees: every model detects something on every test image
    # and the evaluation recorded each detection (records.npz, which the statistics resample)
    assert (runs.status == 'ok').all(), runs[['run_id', 'status', 'failure']]
    ap = runs.set_index('run_id').AP
    assert ap.between(0, 100).all(), ap
    test_images = len(json.loads((tmp_path / 'data' / 'tiny' / 'droneswarms' / 'test.json')
                                 .read_text())['images'])
    for run in RUNS:
        records = np.load(tmp_path / 'results' / 'tiny' / run / 'seed0' / 'records.npz')
        assert len(records['image_ids']) == test_images, run
        assert len(records['det_score']) > 0 and np.isfinite(records['det_score']).all(), run
    assert runs.stale.isna().all() and runs.machine.notna().all()
    full = runs.set_index('run_id').loc['droneswarms/cascade_rcnn+srtod']
    assert full.threshold_init == pytest.approx(40 / 255, abs=1e-4)  # t starts at 40/255
    # the mechanism of every SR-TOD seed comes from its metrics.json; separation.json (seed 0,
    # srtod figures) holds the same figures
    mechanism = runs.set_index('run_id')[['rec_psnr', 'rec_psnr_constant']]
    for run in RUNS:
        assert mechanism.loc[run].notna().all() == ('+srtod' in run), run
    full_dir = tmp_path / 'results' / 'tiny' / 'droneswarms/cascade_rcnn+srtod' / 'seed0'
    assert (json.loads((full_dir / 'separation.json').read_text())['mechanism']
            == json.loads((full_dir / 'metrics.json').read_text())['mechanism'])
    # the collected table beside the reports
    copied = pd.read_csv(tmp_path / 'reports' / 'tiny' / 'runs.csv')
    assert {'run_id', 'seed', 'status', 'AP', 'AP50', 'APvt', 'rec_psnr', 'rec_psnr_constant',
            'auc_very_tiny', 'auc_very_tiny_constant'} <= set(copied.columns)
    assert copied.equals(runs)

    reports = tmp_path / 'reports' / 'tiny'
    table = (reports / 'T4.md').read_text()
    for heading in ('## Published', '## Reproduced', '## Difference',
                    '## SR-TOD gain over its baseline', '## Statistics', '## Figures',
                    '## Provenance', '## Decisions'):
        assert heading in table
    assert '| RH + DGFE | `droneswarms/cascade_rcnn+srtod` | 38.3 |' in table
    assert 'too few seeds' in table   # one seed: no verdict on the published gains
    provenance = table.split('## Provenance', 1)[1].split('## Decisions', 1)[0]
    for run in RUNS:   # the code, machine and config of each number, tested on the same
        row = next(line for line in provenance.splitlines() if line.startswith(f'| `{run}` |'))
        assert 'oneDNN' in row and '| same |' in row and row.endswith('| 1 | no |'), row
    index = (reports / 'index.md').read_text()
    assert '[T4](T4.md)' in index and '| 3/3 | 0 |' in index   # rows run, stale rows
    # every image a page shows exists: the table's panels and forest plot, supplement Fig. 1
    for page in ('index.md', 'T4.md'):
        shown = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', (reports / page).read_text())
        assert shown, page
        for target in shown:
            assert (reports / target).read_bytes()[:4] == b'\x89PNG', (page, target)
    assert 'figures/T4_difference_maps.png' in table and 'figures/T4_gains.png' in table
    assert 'figures/difference_maps_datasets.png' in index
    claims = (reports / 'claims.md').read_text()
    assert '[details](#claim-1)' in claims and '### Claim 1' in claims

    again = snakemake(tmp_path, '-n', *CONFIG)
    assert again.returncode == 0 and 'Nothing to be done' in again.stdout + again.stderr
    # Adding a table on another dataset re-makes the data gate, but trains only the new runs.
    more = snakemake(tmp_path, '-n', '-p', '--config', 'tier=tiny', 'tables=[T4,T5]')
    assert more.returncode == 0, more.stderr[-3000:]
    trained = {m.group(1) for m in TRAIN.finditer(more.stdout + more.stderr)}
    assert trained == {'visdrone/cascade_rcnn', 'visdrone/cascade_rcnn+srtod',
                       'visdrone/cascade_rcnn+srtod-thr_fixed',
                       'visdrone/cascade_rcnn+srtod-thr_none'}


def test_every_job_is_benchmarked_and_the_index_states_the_wall_time(tiny_tier, capsys):
    from srtod.bench import workflow_time

    bench = tiny_tier / 'benchmarks' / 'tiny'
    expected = {'srtod_synth/droneswarms.tsv', 'srtod_validate/droneswarms.tsv',
                'srtod_data_ready/all.tsv', 'srtod_figures_datasets/all.tsv',
                'srtod_collect/all.tsv', 'srtod_report/all.tsv', 'srtod_claims/all.tsv'}
    expected |= {f'{rule}/{run}/seed0.tsv' for rule in ('mmdet_train', 'aitod_eval')
                 for run in RUNS}
    expected |= {f'srtod_figures/{run}.tsv' for run in RUNS[1:]}   # the SR-TOD runs
    assert {p.relative_to(bench).as_posix() for p in bench.rglob('*.tsv')} == expected
    train = pd.read_csv(bench / 'mmdet_train' / RUNS[0] / 'seed0.tsv', sep='\t')
    assert train.s.iloc[0] > 0 and train.max_rss.iloc[0] > 0   # Snakemake 9's columns

    record = json.loads((tiny_tier / 'logs' / 'tiny' / 'workflow.json').read_text())
    assert record['status'] == 'ok' and record['cores'] == 2 and record['seeds'] == 1
    assert record['jobs_by_rule']['mmdet_train'] == 3 and record['jobs'] == 16
    assert 0 < record['wall_s'] and record['children_cpu_s'] > record['snakemake_cpu_s'] > 0
    index = (tiny_tier / 'reports' / 'tiny' / 'index.md').read_text()
    line = next(x for x in index.splitlines() if x.startswith('Wall time:'))
    assert f'made by a workflow invocation that started at {record["started"]} on 2 cores ' \
           'with 16 jobs' in line and 'it trained all 3 runs (run x seed) shown' in line, line
    minutes = float(re.search(r'after ([\d.]+) min', line).group(1))
    assert 0 < minutes <= record['wall_s'] / 60 + 0.05

    assert workflow_time.main(['--tier', 'tiny', '--root', str(tiny_tier), '--repeats', '1']) == 0
    out = capsys.readouterr().out
    assert re.search(r'^mmdet_train +train +3 ', out, re.M), out
    assert re.search(r'^all jobs +15 ', out, re.M), out   # every job but `all`
    assert f'wall time {record["wall_s"]:.0f} s' in out


# Appended to a copy of report.html: once the report has loaded, decode every image result and
# every image inside the HTML pages in Chromium and write what loaded into the DOM.
CHECKER = """
<script>
window.addEventListener('load', async () => {
  const load = src => new Promise(done => {
    const img = new Image();
    img.onload = () => done(img.naturalWidth > 0 && img.naturalHeight > 0);
    img.onerror = () => done(false);
    img.src = src;
  });
  const out = {results: {}};
  for (const [path, r] of Object.entries(results)) {
    const entry = {mime: r.mime_type, caption: (r.caption || '').length, images: []};
    if (r.mime_type.startsWith('image/')) {
      entry.images.push(await load(r.data_uri));
    } else if (r.mime_type === 'text/html') {
      const text = new TextDecoder().decode(
        Uint8Array.from(atob(r.data_uri.split(',')[1]), c => c.charCodeAt(0)));
      const doc = new DOMParser().parseFromString(text, 'text/html');
      for (const img of doc.querySelectorAll('img')) entry.images.push(await load(img.src));
      entry.tables = doc.querySelectorAll('table').length;
    }
    out.results[path] = entry;
  }
  const app = document.getElementById('app');   // React renders it asynchronously
  for (let i = 0; i < 100 && !app.children.length; i++) await new Promise(r => setTimeout(r, 100));
  out.app = app.children.length;
  out.text = app.innerText.slice(0, 2000);
  const pre = document.createElement('pre');
  pre.id = 'srtod-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _open_in_chromium(report, tmp_path) -> dict:
    page = tmp_path / 'report-check.html'
    head, tail = report.read_text(encoding='utf-8').rsplit('</body>', 1)  # the page's own
    page.write_text(head + CHECKER + '</body>' + tail, encoding='utf-8')
    proc = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
                           '--virtual-time-budget=30000', '--dump-dom', page.as_uri()],
                          capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="srtod-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(found.group(1).replace('&quot;', '"').replace('&amp;', '&'))


@pytest.mark.skipif(CHROMIUM is None, reason='chromium not installed (apt-get install chromium)')
def test_html_report_shows_every_table_figure_and_claim(tiny_tier, tmp_path):
    report = tmp_path / 'report.html'
    proc = snakemake(tiny_tier, '--report', str(report), *CONFIG)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check = _open_in_chromium(report, tmp_path)
    assert check['app'] > 0   # the report's own page rendered, with these categories
    for category in ('Tables', 'Claims', 'Figures of the tables', 'Difference maps', 'Runs'):
        assert f'\n{category}\n' in check['text'], check['text'][:500]
    results = {path.split('/tiny/', 1)[-1]: r for path, r in check['results'].items()}
    pages = {'html/index.html', 'html/T4.html', 'html/claims.html'}
    figures = {'figures/T4_published_vs_reproduced.png', 'figures/T4_difference_maps.png',
               'figures/T4_features.png', 'figures/T4_gains.png',
               'figures/difference_maps_datasets.png'}
    figures |= {f'figures/{run}/{name}' for run in RUNS[1:]
                for name in ('fig1_difference_map.png', 'fig3_pixel_vs_highfreq.png',
                             'fig4_dgfe_features.png')}
    assert pages | figures | {'runs.csv'} <= set(results), sorted(results)
    for path in figures:
        r = results[path]
        assert r['images'] == [True] and r['caption'] > 40, (path, r)
    for path in pages:
        r = results[path]
        assert r['tables'] > 0 and all(r['images']), (path, r)
    assert len(results['html/T4.html']['images']) == 4   # chart, two panels, forest plot
    assert len(results['html/index.html']['images']) == 1   # supplement Fig. 1
