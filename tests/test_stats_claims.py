"""table_statistics and claims.md on synthetic runs.csv rows and per-image records."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from srtod.analysis import claims, stats
from srtod.errors import InputError
from srtod.registry import load_registry

TIER = 'tiny'
N_IMAGES = 200


class MeanRecords:
    """AP of a sample = mean of per-image scores."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, float)
        self.image_ids = np.arange(len(self.scores))

    def ap(self, image_ids=None, area='all'):
        ids = self.image_ids if image_ids is None else np.asarray(image_ids)
        return float(self.scores[ids].mean())


SEEDS = 3


@pytest.fixture()
def world(tmp_path):
    """Cascade R-CNN baseline 36, SR-TOD +2 (a real gain), SR-TOD-rh +0 (noise), RFLA failed;
    three seeds each."""
    rng = np.random.default_rng(0)
    scores = {}
    for seed in range(SEEDS):
        base = rng.normal(36, 6, N_IMAGES)
        scores['droneswarms/cascade_rcnn', seed] = base
        scores['droneswarms/cascade_rcnn+srtod', seed] = base + 2.0 + rng.normal(0, 1, N_IMAGES)
        scores['droneswarms/cascade_rcnn+srtod-rh', seed] = base + rng.normal(0, 1, N_IMAGES)
    rows = []
    for (run_id, seed), s in scores.items():
        path = stats.records_path(TIER, run_id, seed, tmp_path)
        path.parent.mkdir(parents=True)
        path.write_bytes(b'')
        rows.append(dict(run_id=run_id, seed=seed, status='ok', AP=s.mean(), failure=None,
                         fps=10.0, threshold_init=40 / 255 if '+srtod' in run_id else math.nan,
                         threshold_final=(40 / 255) * 0.9995 if '+srtod' in run_id else math.nan))
    rows.append(dict(run_id='droneswarms/rfla', seed=0, status='failed', AP=math.nan,
                     failure='loss is NaN (iteration 3)'))
    runs = pd.DataFrame(rows)

    def loader(path):
        run_id = '/'.join(path.parts[-4:-2])
        return MeanRecords(scores[run_id, int(path.parts[-2][4:])])

    return dict(runs=runs, root=tmp_path, loader=loader, registry=load_registry())


def test_table_statistics_rows_and_verdicts(world):
    table = stats.table_statistics(world['runs'], world['registry'], TIER, 'T1', n=300,
                                   results_root=world['root'], loader=world['loader'])
    assert list(table['run_id']) == [
        'droneswarms/retinanet+srtod', 'droneswarms/faster_rcnn+srtod',
        'droneswarms/cascade_rcnn+srtod', 'droneswarms/detectors+srtod', 'droneswarms/rfla+srtod']
    row = table.set_index('run_id').loc['droneswarms/cascade_rcnn+srtod']
    assert row['published_gain'] == pytest.approx(38.3 - 36.4)
    assert row['reproduced_gain'] == pytest.approx(2.0, abs=0.3) and row['seeds'] == SEEDS
    assert row['low'] < row['reproduced_gain'] < row['high']
    assert row['verdict'] == 'gain reproduced'
    rfla = table.set_index('run_id').loc['droneswarms/rfla+srtod']
    assert rfla['verdict'] == 'failed' and 'loss is NaN' in rfla['note']
    assert table.set_index('run_id').loc['droneswarms/retinanet+srtod', 'verdict'] == 'not run'


def test_one_seed_gives_too_few_seeds_with_its_interval(world):
    runs = world['runs'][world['runs']['seed'] == 0]
    table = stats.table_statistics(runs, world['registry'], TIER, 'T4', n=200,
                                   results_root=world['root'], loader=world['loader'])
    row = table.set_index('run_id').loc['droneswarms/cascade_rcnn+srtod']
    assert row['verdict'] == 'too few seeds' and row['seeds'] == 1
    assert 0 < row['low'] < row['high']   # the interval is still measured and shown
    text = claims.render_claims(TIER, runs, world['registry'], n=100,
                                results_root=world['root'], loader=world['loader'])
    dgfe = next(line for line in text.splitlines() if 'DGFE adds 1.8 AP' in line)
    assert '**too few seeds**' in dgfe


def test_table_statistics_rejects_unknown_table(world):
    from srtod.errors import InputError
    with pytest.raises(InputError, match='unknown table'):
        stats.table_statistics(world['runs'], world['registry'], TIER, 'T9')


def _summary_lines(text):
    """The summary table's rows: claim text -> cells."""
    lines = [line for line in text.split('## Details')[0].splitlines()
             if line.startswith('| ') and line[2].isdigit()]
    return {cells[2]: cells for cells in (line.strip('|').split(' | ') for line in lines)}


def _detail(text, i):
    return text.split(f'### Claim {i}\n', 1)[1].split('\n### ', 1)[0]


def test_claims_page_one_line_per_claim_with_details(world):
    text = claims.render_claims(TIER, world['runs'], world['registry'], n=200,
                                results_root=world['root'], loader=world['loader'])
    by_text = _summary_lines(text)
    assert len(by_text) == len(claims.CLAIMS)
    for cells in by_text.values():   # verdict, decisive figure, link: nothing long
        assert len(cells) == 6 and len(cells[4]) < 200
        assert cells[5].strip() == f'[details](#claim-{cells[0].strip()})'
        assert f'### Claim {cells[0].strip()}' in text
    casc = next(v for k, v in by_text.items() if k.startswith('Cascade R-CNN w/ SR-TOD improves'))
    assert casc[3] == '**gain reproduced**' and 'vs published +1.9 (3 seeds)' in casc[4]
    # the detail section holds the per-run evidence as a table
    detail = _detail(text, int(casc[0]))
    assert '| run | compared with | published gain | reproduced gain |' in detail
    assert '| `droneswarms/cascade_rcnn+srtod` | `droneswarms/cascade_rcnn` | +1.9 |' in detail
    rh = next(v for k, v in by_text.items() if k.startswith('The reconstruction head alone'))
    assert rh[3] == '**within noise**'
    dgfe = next(v for k, v in by_text.items() if k.startswith('DGFE adds 1.8 AP'))
    assert dgfe[3] in ('**gain reproduced**', '**smaller than published**',
                       '**larger than published**')
    # the threshold moved by 40/255 * 5e-4 = 0.02/255 < 0.1/255: not a learned threshold
    thr = next(v for k, v in by_text.items() if k.startswith('The threshold t is learnable'))
    assert thr[3] == '**not supported**' and 't moved by its loss in 0 of 2' in thr[4]
    assert '-0.0200' in _detail(text, int(thr[0]))
    rfla = next(v for k, v in by_text.items() if k.startswith('RFLA w/ SR-TOD improves RFLA by 2.1'))
    assert rfla[3] == '**failed**'
    assert by_text[next(k for k in by_text if k.startswith('On DOTA'))][3] == '**not measured**'
    assert '## Methods' in text and 'two-level paired bootstrap' in text


def test_threshold_table_change_in_grey_levels(world):
    table = claims.threshold_table(world['runs']).set_index('run_id')
    assert table.loc['droneswarms/cascade_rcnn+srtod', 'change_255'] == pytest.approx(-0.02)
    assert not table['moved'].any()


def _separation(auc_d, auc_ref):
    def bucket(auc):
        return dict(objects=5, positive_pixels=50, auc=auc, hit_rate=0.8, positive_mean=0.3)
    names = ('very_tiny', 'tiny', 'small', 'medium', 'all')
    return dict(status='ok', images=4,
                separation=dict(buckets={n: bucket(auc_d) for n in names},
                                background_above_threshold=0.1),
                separation_reference=dict(constant=dict(buckets={n: bucket(auc_ref)
                                                                 for n in names})),
                feature_contrast=dict(p2_before=1.5, p2_after=2.0, baseline_p2=1.4))


@pytest.mark.parametrize('auc_d,auc_ref,expected', [
    (0.9, 0.7, 'supported'),          # strong, and better than image contrast
    (0.9, 0.95, 'partly supported'),  # strong, but image contrast alone does better
    (0.7, 0.5, 'partly supported'),   # weak
    (0.55, 0.5, 'not supported'),
])
def test_separation_claim_verdicts(world, auc_d, auc_ref, expected):
    path = stats.records_path(TIER, 'droneswarms/cascade_rcnn+srtod', 0, world['root'])
    path.with_name('separation.json').write_text(json.dumps(_separation(auc_d, auc_ref)))
    ev = claims.Evidence(TIER, world['runs'], world['registry'], n=50,
                         results_root=world['root'], loader=world['loader'])
    found = claims.evaluate(claims.CLAIMS[0], ev)
    assert found.verdict == expected
    row = found.evidence.iloc[0]
    assert (row['AUC very_tiny'], row['very_tiny: best learning-free map']) == (
        f'{auc_d:.3f}', f'{auc_ref:.3f}')
    feat = claims.evaluate(next(c for c in claims.CLAIMS if c.kind == 'features'), ev)
    assert feat.verdict == 'supported' and feat.figure.endswith('in 1 of 1 runs')
    table = claims.separation_table(ev.separation())
    assert table.loc[0, 'tiny: AUC / hit rate (objects)'] == f'{auc_d:.3f} / 0.80 (5)'


def test_threshold_claim_needs_movement_beyond_weight_decay():
    # Same factor in every run of a dataset (weight decay alone): not supported, whatever the
    # size of the change; one run whose factor differs (t learned, e.g. 'ste'): supported.
    decay = pd.DataFrame([
        dict(run_id=f'droneswarms/cascade_rcnn+srtod-t{k}', seed=0, threshold_init=k / 255,
             threshold_final=k / 255 * 0.9975) for k in (20, 40, 60)]
        + [dict(run_id='droneswarms/cascade_rcnn+srtod-thr_fixed', seed=0, threshold_init=40 / 255,
                threshold_final=40 / 255)])
    found = claims._threshold_finding(decay)
    assert found.verdict == 'not supported' and 'x0.99750' in found.figure
    learned = pd.concat([decay, pd.DataFrame([dict(
        run_id='droneswarms/cascade_rcnn+srtod-ste', seed=0, threshold_init=40 / 255,
        threshold_final=31 / 255)])])
    found = claims._threshold_finding(learned)
    assert found.verdict == 'supported' and 'in 1 of 4 updated runs' in found.figure
    ste = found.evidence.set_index('run').loc['`droneswarms/cascade_rcnn+srtod-ste`']
    assert ste['moved by its loss'] == 'yes'
    fixed = found.evidence.set_index('run').loc['`droneswarms/cascade_rcnn+srtod-thr_fixed`']
    assert fixed["dataset's decay factor"] == 'never updated' 


MECH_RUN = 'droneswarms/cascade_rcnn+srtod'


def _mechanism_runs(root, per_seed, run_id=MECH_RUN):
    """Fabricated result files of ``run_id``, one seed per (rec PSNR, constant PSNR, AUC very
    tiny, constant AUC) of ``per_seed`` in metrics.json's ``mechanism`` (as `srtod test` writes
    it), collected into runs.csv rows as `srtod collect` does."""
    from srtod.analysis.collect import collect_runs
    for seed, (p, pc, a, ac) in enumerate(per_seed):
        d = root / TIER / run_id / f'seed{seed}'
        d.mkdir(parents=True)
        (d / 'train.json').write_text(json.dumps(dict(status='ok', run_id=run_id, seed=seed)))
        (d / 'metrics.json').write_text(json.dumps(dict(
            status='ok', metrics=dict(AP=30.0), mechanism=dict(
                images=10, rec_psnr=p, rec_psnr_constant=pc, rec_psnr_gain=p - pc,
                auc_very_tiny=a, auc_very_tiny_constant=ac, auc_very_tiny_gain=a - ac,
                auc_all=0.8, auc_all_constant=0.6, auc_all_gain=0.2))))
        # a separation.json (seed 0, `srtod figures`) with other figures is not read
        (d / 'separation.json').write_text(json.dumps(dict(status='ok', mechanism=dict(
            rec_psnr=-1.0, rec_psnr_constant=-1.0, auc_very_tiny=0.0,
            auc_very_tiny_constant=0.0))))
    return collect_runs(load_registry(), TIER, root, run_ids=[run_id])


def _mechanism(runs):
    claim = next(c for c in claims.CLAIMS if c.kind == 'mechanism')
    return claims.evaluate(claim, claims.Evidence(TIER, runs, load_registry(), n=10))


def test_collect_keeps_the_mechanism_of_every_seeds_metrics_json(tmp_path):
    runs = _mechanism_runs(tmp_path, [(24.0, 20.0, 0.9, 0.7), (25.0, 20.5, 0.85, 0.7)])
    assert list(runs['seed']) == [0, 1] and set(runs['status']) == {'ok'}
    assert list(runs['rec_psnr']) == [24.0, 25.0]
    assert list(runs['rec_psnr_constant']) == [20.0, 20.5]
    assert list(runs['auc_very_tiny']) == [0.9, 0.85]
    assert list(runs['auc_very_tiny_constant']) == [0.7, 0.7]
    assert list(runs['AP']) == [30.0, 30.0]
    # a baseline's metrics.json has no mechanism: its row's mechanism columns are empty
    from srtod.analysis.collect import MECHANISM_COLUMNS, run_record
    base = tmp_path / TIER / 'droneswarms/cascade_rcnn' / 'seed0'
    base.mkdir(parents=True)
    (base / 'train.json').write_text(json.dumps(dict(status='ok', seed=0)))
    (base / 'metrics.json').write_text(json.dumps(dict(status='ok', metrics=dict(AP=20.0))))
    row = run_record(base)
    assert row['AP'] == 20.0 and all(math.isnan(row[c]) for c in MECHANISM_COLUMNS)
    (base / 'metrics.json').write_text(json.dumps(dict(status='ok', mechanism=[1, 2])))
    with pytest.raises(InputError, match='mechanism') as err:
        run_record(base)
    assert str(base / 'metrics.json') in str(err.value)


@pytest.mark.parametrize('per_seed,expected', [
    ([(24.0, 20.0, 0.9, 0.7), (25.0, 20.0, 0.88, 0.7), (23.0, 20.0, 0.92, 0.7)], 'supported'),
    ([(24.0, 20.0, 0.9, 0.7), (25.0, 20.0, 0.88, 0.7)], 'too few seeds'),
    # the reconstruction learned more than the mean colour, but D separates worse than its map
    ([(24.0, 20.0, 0.6, 0.7), (25.0, 20.0, 0.65, 0.7), (23.0, 20.0, 0.75, 0.7)],
     'not supported'),
    # a head collapsed to the mean colour in one seed of three
    ([(24.0, 20.0, 0.9, 0.7), (19.5, 20.0, 0.88, 0.7), (23.0, 20.0, 0.92, 0.7)],
     'partly supported'),
])
def test_mechanism_claim_verdicts(tmp_path, per_seed, expected):
    found = _mechanism(_mechanism_runs(tmp_path, per_seed))
    assert found.verdict == expected
    row = found.evidence.set_index('run').loc[f'`{MECH_RUN}`']
    assert row['seeds'] == len(per_seed) and row['verdict'] == expected
    psnr_gain = np.median([p - pc for p, pc, _, _ in per_seed])
    auc_gain = np.median([a - ac for _, _, a, ac in per_seed])
    assert row['PSNR gain (median)'] == f'{psnr_gain:+.2f}'
    assert row['AUC gain (median)'] == f'{auc_gain:+.3f}'
    # medians over seeds, and the number of seeds
    assert row['rec PSNR (dB)'] == f'{np.median([p for p, _, _, _ in per_seed]):.2f}'
    assert row['mean colour PSNR'] == f'{np.median([pc for _, pc, _, _ in per_seed]):.2f}'
    assert row['AUC very tiny: D'] == f'{np.median([a for _, _, a, _ in per_seed]):.3f}'
    assert row['constant map'] == f'{np.median([ac for _, _, _, ac in per_seed]):.3f}'
    assert f'PSNR {psnr_gain:+.2f} dB, AUC very tiny {auc_gain:+.3f}' in found.figure
    assert f'on {len(per_seed)} seeds each' in found.figure


def test_mechanism_claim_without_measurement(world):
    # runs.csv rows of SR-TOD runs but no separation.json: nothing to judge
    found = _mechanism(world['runs'])
    assert found.verdict == 'not measured' and 'srtod test' in found.figure
    text = claims.render_claims(TIER, world['runs'], world['registry'], n=50,
                                results_root=world['root'], loader=world['loader'])
    line = next(v for k, v in _summary_lines(text).items() if k.startswith('The mechanism'))
    assert line[3] == '**not measured**'
