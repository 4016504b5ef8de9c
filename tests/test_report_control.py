"""The anchor-scale controls (C1, C2): each SR-TOD gain split into anchors and SR-TOD proper, in
the table reports and in claims.md, on results written as srtod writes them (train.json,
metrics.json, records.npz)."""
import json

import numpy as np
import pytest

from srtod.analysis import claims, control, stats
from srtod.analysis.collect import collect_runs
from srtod.analysis.report import render_table
from srtod.errors import InputError
from srtod.evaluation.aitod_metric import compute_records
from srtod.evaluation.backends import Detections, GroundTruth, metrics_from_records
from srtod.evaluation.records import load_records, save_records
from srtod.registry import load_registry

TIER = 'tiny'
BASE, CTRL, SRTOD = ('visdrone/cascade_rcnn', 'visdrone/cascade_rcnn-s6',
                     'visdrone/cascade_rcnn+srtod')
N_IMAGES = 60
N_BOOT = 60
ANCHOR_CLAIM = next(i for i, c in enumerate(claims.CLAIMS, 1) if c.kind == 'anchors')


@pytest.fixture(scope='module')
def registry():
    return load_registry()


def _records(found, rng):
    """Records of a detector on N_IMAGES images with a 12x12 (tiny) and a 6x6 (very tiny) object
    each: it finds the first always, the second where ``found`` is True, plus a false positive."""
    images, anns, det = [], [], []
    for i in range(1, N_IMAGES + 1):
        images.append(dict(id=i, file_name=f'{i}.png', width=100, height=100))
        for k, (x, y, w) in enumerate(((10, 10, 12), (60, 60, 6))):
            anns.append(dict(id=len(anns) + 1, image_id=i, category_id=1, bbox=[x, y, w, w],
                             area=w * w, iscrowd=0))
            if k == 0 or found[i - 1]:
                det.append((i, [x, y, w, w], rng.uniform(0.5, 1.0)))
        det.append((i, [30, 30, 6, 6], rng.uniform(0.0, 1.0)))
    gt = GroundTruth(dict(images=images, annotations=anns, categories=[dict(id=1, name='car')]))
    dets = Detections(np.array([d[0] for d in det]), np.ones(len(det), int),
                      np.array([d[1] for d in det], float), np.array([d[2] for d in det]))
    return compute_records(gt, dets, gt.image_ids, [1])


def _write(root, run_id, seed, found, rng):
    path = stats.records_path(TIER, run_id, seed, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _records(found, rng)
    save_records(path, arrays)
    metrics = {k: v for k, v in metrics_from_records(arrays).items()}
    (path.parent / 'train.json').write_text(json.dumps(
        dict(run_id=run_id, seed=seed, tier=TIER, status='ok')))
    (path.parent / 'metrics.json').write_text(json.dumps(dict(status='ok', metrics=metrics)))


def make_results(root, registry, control_found, seeds=3):
    """Baseline finds the second object in 20% of the images, SR-TOD in 90%, the control in
    ``control_found``; runs.csv collected from the files."""
    rng = np.random.default_rng(0)
    for seed in range(seeds):
        for run_id, p in ((BASE, 0.2), (CTRL, control_found), (SRTOD, 0.9)):
            _write(root, run_id, seed, rng.uniform(size=N_IMAGES) < p, rng)
    return collect_runs(registry, TIER, root, run_ids=[BASE, CTRL, SRTOD])


def test_srtod_run_of_control():
    assert control.srtod_run_of_control('visdrone/cascade_rcnn-s6') == SRTOD
    assert control.srtod_run_of_control('aitod/detectors-s4') == 'aitod/detectors+srtod'
    with pytest.raises(InputError, match='not a control run id'):
        control.srtod_run_of_control(SRTOD)


def test_registry_controls_pair_with_their_srtod_runs(registry):
    found = {r.run_id: r.table for r in control.control_rows(registry)}
    assert found[CTRL] == 'C1' and found['aitod/faster_rcnn-s4'] == 'C2'
    assert control.trio(registry, CTRL) == (BASE, CTRL, SRTOD)
    assert control.control_of(registry, SRTOD) == CTRL
    assert control.control_of(registry, 'droneswarms/cascade_rcnn+srtod') is None


@pytest.fixture()
def split_world(tmp_path, registry):
    runs = make_results(tmp_path, registry, control_found=0.5)
    frame = control.split_statistics(runs, registry, TIER, ['C1'], n=N_BOOT,
                                     results_root=tmp_path)
    return dict(runs=runs, root=tmp_path, frame=frame)


def test_split_adds_up_and_intervals_come_from_the_bootstrap(split_world, registry):
    frame, runs, root = split_world['frame'], split_world['runs'], split_world['root']
    ours = frame[frame['control'] == CTRL].set_index(['key', 'part'])
    for key in ('AP', 'APvt'):
        total, anchors, proper = (ours.loc[(key, p)] for p, _ in control.PARTS)
        assert total['seeds'] == anchors['seeds'] == proper['seeds'] == 3
        assert total['reproduced_gain'] == pytest.approx(
            anchors['reproduced_gain'] + proper['reproduced_gain'], abs=1e-9)
        assert anchors['reproduced_gain'] > 1 and proper['reproduced_gain'] > 1
        # the interval of SR-TOD proper is the paired bootstrap of the records
        recs = {r: [load_records(stats.records_path(TIER, r, s, root)) for s in range(3)]
                for r in (CTRL, SRTOD)}
        boot = stats.paired_bootstrap(recs[CTRL], recs[SRTOD], n=N_BOOT,
                                      area=stats.AREA_OF_KEY[key])
        assert (proper['low'], proper['high']) == (boot['low'], boot['high'])
        assert boot['gain'] == pytest.approx(proper['reproduced_gain'], abs=1e-6)
        assert anchors['verdict'] == 'above noise'
        pub = (stats.published_ap(registry, SRTOD, key=key)
               - stats.published_ap(registry, BASE, key=key))
        assert total['published_gain'] == pytest.approx(pub)
        assert proper['verdict'] in stats.ABOVE_NOISE
    # the AP and APvt intervals differ: each is scored on its own area range
    assert ours.loc[('AP', 'total'), 'low'] != ours.loc[('APvt', 'total'), 'low']
    # rows of the other controls were not run
    other = frame[frame['control'] == 'visdrone/faster_rcnn-s6']
    assert set(other['verdict']) == {'not run'}


def test_point_split_uses_the_seeds_of_all_three_runs(split_world, registry):
    runs = split_world['runs']
    runs = runs[~((runs['run_id'] == CTRL) & (runs['seed'] == 2))]   # control: seeds 0, 1
    p = control.point_split(runs, registry, CTRL)
    assert p['seeds'] == 2
    assert p['total'] == pytest.approx(p['anchors'] + p['SR-TOD proper'])
    ap = runs[runs['seed'] < 2].groupby('run_id')['AP'].mean()
    assert p['total'] == pytest.approx(ap[SRTOD] - ap[BASE])


def test_pages_show_the_split(split_world, registry, tmp_path):
    runs, root, frame = split_world['runs'], split_world['root'], split_world['frame']
    out = tmp_path / 'reports'
    statistics = stats.table_statistics(runs, registry, TIER, 'C1', n=N_BOOT, results_root=root)
    c1 = render_table(registry, runs, TIER, 'C1', out, results_root=root, statistics=statistics,
                      split=frame[frame['table'] == 'C1'])
    assert '## Anchors and SR-TOD: the split of each gain' in c1
    # no "SR-TOD gain over its baseline" for a control run, which is not an SR-TOD run
    assert '## SR-TOD gain over its baseline' not in c1
    label = 'Cascade R-CNN (VisDrone2019), anchor scale 6'
    ours = frame.set_index(['control', 'key', 'part'])
    proper = ours.loc[(CTRL, 'APvt', 'SR-TOD proper')]
    line = next(ln for ln in c1.splitlines()
                if ln.startswith(f'| {label} | APvt | SR-TOD proper'))
    assert f'[{proper["low"]:.2f}, {proper["high"]:.2f}]' in line
    side = next(ln for ln in c1.splitlines()
                if ln.startswith(f'| {label} | `{BASE}` (8), `{CTRL}` (6), `{SRTOD}` (6)'))
    base_ap = runs[runs['run_id'] == BASE]['AP']
    assert f'{base_ap.mean():.1f} ± {base_ap.std():.1f}' in side
    t2_stats = stats.table_statistics(runs, registry, TIER, 'T2', n=N_BOOT, results_root=root)
    t2 = render_table(registry, runs, TIER, 'T2', out, results_root=root, statistics=t2_stats)
    note = next(ln for ln in t2.splitlines() if ln.startswith('- Cascade R-CNN w/ SR-TOD'))
    total = ours.loc[(CTRL, 'AP', 'total')]
    anchors = ours.loc[(CTRL, 'AP', 'anchors')]
    assert f'reproduced AP gain {total["reproduced_gain"]:+.2f}' in note
    assert f'of which anchors (scale 8 → 6) {anchors["reproduced_gain"]:+.2f}' in note
    assert note.endswith('the split and its intervals: [C1](C1.md).')
    assert '- Faster R-CNN w/ SR-TOD: not split' in t2


def _anchor_claim(text):
    line = next(ln for ln in text.splitlines() if ln.startswith(f'| {ANCHOR_CLAIM} |'))
    detail = text.split(f'### Claim {ANCHOR_CLAIM}\n', 1)[1].split('\n### ', 1)[0]
    return line, detail


@pytest.mark.parametrize('control_found,expected', [
    (0.2, 'supported'),       # the control is the baseline: the whole gain is SR-TOD's
    (0.9, 'not supported'),   # the control is as good as SR-TOD: the gain is the anchors'
])
def test_claim_verdict_follows_the_control(tmp_path, registry, control_found, expected):
    runs = make_results(tmp_path, registry, control_found)
    text = claims.render_claims(TIER, runs, registry, n=N_BOOT, results_root=tmp_path)
    line, detail = _anchor_claim(text)
    assert f'**{expected}**' in line
    assert 'above noise for ' + ('1' if expected == 'supported' else '0') + ' of 1 measured' \
        in line and '5 of 6 not run' in line
    row = next(ln for ln in detail.splitlines() if ln.startswith(f'| `{SRTOD}` | `{CTRL}` |'))
    proper = control.split(runs, registry, TIER, CTRL, 'AP', n=N_BOOT, results_root=tmp_path)[2]
    assert f'{proper["reproduced_gain"]:+.2f} [{proper["low"]:.2f}, {proper["high"]:.2f}]' in row
    assert '| `aitod/detectors+srtod` | `aitod/detectors-s4` | +9.4 |' in detail


def test_claim_too_few_seeds_and_not_run(tmp_path, registry):
    runs = make_results(tmp_path, registry, 0.2, seeds=2)
    line, _ = _anchor_claim(claims.render_claims(TIER, runs, registry, n=N_BOOT,
                                                 results_root=tmp_path))
    assert '**too few seeds**' in line
    none = runs[runs['run_id'] != CTRL]
    line, detail = _anchor_claim(claims.render_claims(TIER, none, registry, n=N_BOOT,
                                                      results_root=tmp_path))
    assert '**not measured**' in line and 'no control measured' in line
    assert f'not run ({CTRL} not run in this tier)' in detail
