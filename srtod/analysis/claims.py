"""``reports/<tier>/claims.md``: each claim of the paper, the evidence this run found, a verdict.

A claim is declared once in ``CLAIMS`` (source, words, and what measures it); the evidence comes
from ``results/<tier>/runs.csv`` (AP, FPS, threshold), each SR-TOD run's ``separation.json``
(``srtod figures``) and the paired bootstrap of :mod:`srtod.analysis.stats`.

The page has one line per claim (verdict, the decisive figure, a link) and, per claim, a
detail section with the evidence of each run as a table.

Verdicts. A gain claim takes the bootstrap verdict of its pair (stats module). A claim about
several pairs is ``supported`` when every measured pair shows a gain above noise (``gain
reproduced``, ``smaller than published`` or ``larger than published``), ``partly supported`` when
some do, ``not supported`` when none does.
A gain, gains or robustness claim measured on fewer than ``stats.MIN_SEEDS`` seeds reads
``too few seeds``. The anchor-scale claim groups, like a gains claim, the verdicts of SR-TOD
proper (each SR-TOD run minus its control, the baseline at the same RPN anchor scale) against
the published total gain: ``supported`` when SR-TOD at equal anchors is a gain above noise for
every measured detector.
The difference-map claims use the separation AUC (``SEPARATION_STRONG`` = 0.8 and above is a
strong separation, ``SEPARATION_WEAK`` = 0.6 to 0.8 a weak one, below 0.6 none); a strong
separation that does not beat the learning-free reference maps (image contrast) in every
bucket is only ``partly supported``. The threshold
claim is ``not supported`` when every run's t changed by its dataset's common factor, i.e. by
SGD's weight decay alone (sign() passes no gradient to t).
The mechanism claim takes, per SR-TOD run with a mechanism measurement (runs.csv, from the
metrics.json that ``srtod test`` writes for every seed), the gains over the mean-colour
reconstruction in every seed: the PSNR gain of the reconstruction and the AUC gain of D on very
tiny objects. A run reads ``too few seeds`` under ``stats.MIN_SEEDS``
seeds, ``supported`` when both gains are above zero in every seed, ``not supported`` when the
median of either is not above zero, else ``partly supported`` (a predicted map, which has no
reconstruction, is judged on the AUC gain alone). The claim is ``too few seeds`` when any
measured run is, ``supported`` when every run is, ``not supported`` when none is supported or
partly supported, else ``partly supported``; its figure is the median over runs of each run's
median gains.
A claim whose runs this tier did not train is ``not measured``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from srtod.analysis import stats
from srtod.analysis.format import fmt, frame_markdown
from srtod.analysis.html import write_html
from srtod.analysis.separation import load_separation, separation_table
from srtod.errors import InputError
from srtod.io import write_text

SEPARATION_STRONG, SEPARATION_WEAK = 0.8, 0.6
THRESHOLD_MOVE = 0.1 / 255
#: t_final / t_init departing from its dataset's weight-decay factor by more than this: t learned.
DECAY_TOLERANCE = 1e-4
ABOVE_NOISE = stats.ABOVE_NOISE
UNMEASURED = ('not run', 'failed', 'no records')


@dataclass(frozen=True)
class Claim:
    """One claim of the paper.

    Attributes:
        source: where the paper says it (abstract, P 4.2, S 1.5, ...).
        text: the claim, in the paper's terms.
        kind: ``gain`` (``pairs`` SR-TOD minus comparison), ``gains`` (several pairs),
            ``separation``, ``very_tiny``, ``threshold``, ``features``, ``robust``, ``fps``,
            ``anchors`` (the anchor-scale controls of the registry, ``srtod.analysis.control``),
            ``mechanism`` (srtod.analysis.mechanism, from runs.csv).
        pairs: (run id, comparison run id) pairs the claim is about.
    """

    source: str
    text: str
    kind: str
    pairs: tuple = field(default=())


def _p(*pairs):
    return tuple(pairs)


DS, VD, AT = 'droneswarms', 'visdrone', 'aitod'
CLAIMS = (
    Claim('abstract, P 1', 'The difference map shows high sensitivity to tiny objects (a strong '
          'correlation between the self-reconstruction difference map and tiny objects).',
          'separation'),
    Claim('P 1, Fig. 1', 'Very tiny objects almost wiped out in P2 are clearly shown in the '
          'difference map.', 'very_tiny'),
    Claim('P 3.2, P 3.3', 'The mechanism: the reconstruction head learns to redraw the image '
          '(more than its mean colour), and the difference map singles out very tiny objects '
          'because they are what it redraws worst (better than the map a mean-colour '
          'reconstruction gives).', 'mechanism'),
    Claim('P 4.2', 'RFLA w/ SR-TOD improves RFLA by 2.1 AP on DroneSwarms (+2.3 APvt, +2.3 APt).',
          'gain', _p((f'{DS}/rfla+srtod', f'{DS}/rfla'))),
    Claim('P 4.2', 'Cascade R-CNN w/ SR-TOD improves Cascade R-CNN by 1.9 AP on DroneSwarms.',
          'gain', _p((f'{DS}/cascade_rcnn+srtod', f'{DS}/cascade_rcnn'))),
    Claim('P 4.2', 'RetinaNet (one stage, P3) w/ SR-TOD improves RetinaNet by 1.4 AP.', 'gain',
          _p((f'{DS}/retinanet+srtod', f'{DS}/retinanet'))),
    Claim('P 4.2', 'Compared to the baselines, SR-TOD achieves consistent improvements on '
          'DroneSwarms (Table 1).', 'gains',
          _p(*[(f'{DS}/{d}+srtod', f'{DS}/{d}') for d in
               ('retinanet', 'faster_rcnn', 'cascade_rcnn', 'detectors', 'rfla')])),
    Claim('P 4.3', 'On VisDrone2019 RFLA w/ SR-TOD improves RFLA by 0.6 AP and Cascade R-CNN w/ '
          'SR-TOD improves Cascade R-CNN by 2.1 AP.', 'gains',
          _p((f'{VD}/rfla+srtod', f'{VD}/rfla'), (f'{VD}/cascade_rcnn+srtod', f'{VD}/cascade_rcnn'))),
    Claim('P 4.3', 'On AI-TOD all detectors improve significantly (DetectoRS by 9.4 AP).', 'gains',
          _p(*[(f'{AT}/{d}+srtod', f'{AT}/{d}') for d in
               ('faster_rcnn', 'cascade_rcnn', 'detectors', 'rfla')])),
    Claim('P 4.4, Table 4', 'DGFE adds 1.8 AP (and 2.1 APvt) over the reconstruction head alone.',
          'gain', _p((f'{DS}/cascade_rcnn+srtod', f'{DS}/cascade_rcnn+srtod-rh'))),
    Claim('P 4.4, Table 4', 'The reconstruction head alone gives a modest 0.1 AP improvement.',
          'gain', _p((f'{DS}/cascade_rcnn+srtod-rh', f'{DS}/cascade_rcnn'))),
    Claim('P 4.4, Table 6', 'Element-wise attention (EA) markedly surpasses Concat and '
          'element-wise multiplication (EM).', 'gains',
          _p((f'{DS}/cascade_rcnn+srtod', f'{DS}/cascade_rcnn+srtod-concat'),
             (f'{DS}/cascade_rcnn+srtod', f'{DS}/cascade_rcnn+srtod-em'))),
    Claim('P 4.4, Table 5', 'Threshold filtration beats no threshold, and the learnable threshold '
          'beats a fixed one (VisDrone2019).', 'gains',
          _p((f'{VD}/cascade_rcnn+srtod', f'{VD}/cascade_rcnn+srtod-thr_none'),
             (f'{VD}/cascade_rcnn+srtod', f'{VD}/cascade_rcnn+srtod-thr_fixed'))),
    Claim('P 3.3, P 4.4', 'The threshold t is learnable; the learnable threshold performs better '
          '"by finely adjusting the threshold".', 'threshold'),
    Claim('P 4.4, Table 7', 'The high-frequency difference map (HFD) gives 0.1 AP over the pixel '
          'difference map (PD).', 'gain',
          _p((f'{DS}/cascade_rcnn+srtod-hfd', f'{DS}/cascade_rcnn+srtod'))),
    Claim('P 4.5, Fig. 4', 'SR-TOD significantly enhances the feature representation of tiny '
          'objects in P2 compared with the baseline detector.', 'features'),
    Claim('S 1.2, S Table 1', 'The difference map alone beats reweighting alone by 0.5 AP; both '
          'together are best.', 'gains',
          _p((f'{VD}/cascade_rcnn+srtod-dm', f'{VD}/cascade_rcnn+srtod-rw'),
             (f'{VD}/cascade_rcnn+srtod', f'{VD}/cascade_rcnn+srtod-dm'))),
    Claim('S 1.3, S Table 2', 'SR-TOD is robust to the initial threshold T_init on DroneSwarms '
          '(20/255 .. 100/255 within 0.3 AP).', 'robust',
          _p(*[(f'{DS}/cascade_rcnn+srtod-t{k}', f'{DS}/cascade_rcnn+srtod')
               for k in (20, 60, 80, 100)])),
    Claim('S 1.3, S Table 3', 'With complex backgrounds (VisDrone2019) the model is more '
          'sensitive to T_init (2/255 .. 10/255 within 0.5 AP).', 'robust',
          _p(*[(f'{VD}/cascade_rcnn+srtod-t{k}', f'{VD}/cascade_rcnn+srtod')
               for k in (2, 6, 8, 10)])),
    Claim('S 1.4, S Table 4', 'On DOTA RFLA w/ SR-TOD improves RFLA (AP 44.0 -> 44.1, APt 5.6 '
          '-> 6.0).', 'gain', _p(('dota/rfla+srtod', 'dota/rfla'))),
    Claim('S 1.5, S Table 5', 'SR-TOD costs acceptable computation: DetectoRS 12.5 -> 8.9 FPS '
          '(x0.71).', 'fps', _p((f'{AT}/detectors+srtod', f'{AT}/detectors'))),
    Claim('S 1.5, S Table 5', 'The predicted difference map (PDM) is worse than the '
          'reconstructed one (24.0 -> 13.3 AP) and than the baseline (14.6 -> 13.3).', 'gains',
          _p((f'{AT}/detectors+srtod', f'{AT}/detectors+srtod-pdm'),
             (f'{AT}/detectors', f'{AT}/detectors+srtod-pdm'))),
    Claim('S 1.6, S Table 6', 'SR-TOD also improves Recursive-FPN (26.3 -> 27.2 AP).', 'gain',
          _p((f'{VD}/detectors+srtod', f'{VD}/detectors'))),
    Claim('P 4.3, Tables 2-3; controls C1, C2', 'The published VisDrone2019 and AI-TOD gains of '
          'the anchor-based detectors (baselines at RPN anchor scale 8, SR-TOD at 6 and 4) are '
          'not an anchor-scale effect: SR-TOD improves on its baseline at the same anchor '
          'scale.', 'anchors'),
)
PUBLISHED_FPS_RATIO = 8.9 / 12.5


@dataclass
class Finding:
    """What the runs say about one claim.

    Attributes:
        verdict: the claim's verdict (module docstring).
        figure: the decisive figure, one short phrase (the summary line shows it).
        evidence: per run (or pair) the numbers behind the verdict (the detail section).
        note: a sentence under the evidence table, if any.
    """

    verdict: str
    figure: str
    evidence: pd.DataFrame
    note: str = ''


class Evidence:
    """Looks up and caches what the claims need for one tier.

    Args:
        tier: the tier.
        runs: results/<tier>/runs.csv as a DataFrame.
        registry: ``srtod.registry.Registry``.
        n: bootstrap resamples.
        results_root: the folder replacing ``results`` (tests); ``loader``: records loader.
    """

    def __init__(self, tier, runs, registry, n=1000, results_root=None, loader=None):
        self.tier, self.runs, self.registry, self.n = tier, runs, registry, n
        self.results_root, self.loader = results_root, loader
        self._pairs: dict = {}
        self._separation = None

    def published_gain(self, run_id, other):
        a = stats.published_ap(self.registry, run_id)
        b = stats.published_ap(self.registry, other)
        return None if a is None or b is None else round(a - b, 6)

    def pair(self, run_id, other) -> dict:
        key = (run_id, other)
        if key not in self._pairs:
            self._pairs[key] = stats.pair_statistics(
                self.runs, self.tier, run_id, other, self.published_gain(run_id, other),
                n=self.n, results_root=self.results_root, loader=self.loader)
        return self._pairs[key]

    def separation(self) -> dict:
        """run id -> separation.json of seed 0, for every SR-TOD run of runs.csv that has one."""
        if self._separation is None:
            run_ids = sorted(set(self.runs['run_id'])) if len(self.runs) else []
            self._separation = load_separation(self.tier, run_ids, self.results_root)
        return self._separation


PAIR_COLUMNS = ['run', 'compared with', 'published gain', 'reproduced gain', '95% interval',
                'seeds', 'verdict']


def _pairs_frame(results) -> pd.DataFrame:
    rows = []
    for run_id, other, s in results:
        measured = s['verdict'] not in UNMEASURED
        std = s['reproduced_gain_std']
        gain = fmt(s['reproduced_gain'], 2, True) + (
            f' ± {fmt(std, 2)}' if measured and s['seeds'] > 1 else '')
        interval = (f'[{fmt(s["low"], 2)}, {fmt(s["high"], 2)}]' if measured
                    and math.isfinite(s['low']) else '–')
        rows.append([f'`{run_id}`', f'`{other}`', fmt(s['published_gain'], 1, True),
                     gain if measured else '–', interval, s['seeds'],
                     s['verdict'] + (f' ({s["note"]})' if s['note'] else '')])
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def _group_verdict(verdicts) -> str:
    measured = [v for v in verdicts if v not in UNMEASURED]
    if not measured:
        return 'not measured'
    if 'too few seeds' in measured:
        return 'too few seeds'
    up = sum(v in ABOVE_NOISE for v in measured)
    if up == len(measured):
        return 'supported'
    return 'partly supported' if up else 'not supported'


def _auc_verdict(aucs) -> str:
    aucs = [a for a in aucs if a is not None and math.isfinite(a)]
    if not aucs:
        return 'not measured'
    if min(aucs) >= SEPARATION_STRONG:
        return 'supported'
    return 'partly supported' if max(aucs) >= SEPARATION_WEAK else 'not supported'


def _gain_claim(claim: Claim, ev: Evidence) -> Finding:
    run_id, other = claim.pairs[0]
    s = ev.pair(run_id, other)
    verdict = 'not measured' if s['verdict'] in ('not run', 'no records') else s['verdict']
    if s['verdict'] in UNMEASURED:
        figure = s['note'] or s['verdict']
    else:
        figure = (f'{fmt(s["reproduced_gain"], 2, True)} AP [{fmt(s["low"], 2)}, '
                  f'{fmt(s["high"], 2)}] vs published {fmt(s["published_gain"], 1, True)} '
                  f'({s["seeds"]} seed{"s" if s["seeds"] != 1 else ""})')
    return Finding(verdict, figure, _pairs_frame([(run_id, other, s)]))


def _gains_claim(claim: Claim, ev: Evidence) -> Finding:
    results = [(a, b, ev.pair(a, b)) for a, b in claim.pairs]
    verdicts = [s['verdict'] for _, _, s in results]
    measured = [v for v in verdicts if v not in UNMEASURED]
    up = sum(v in ABOVE_NOISE for v in measured)
    few = sum(v == 'too few seeds' for v in measured)
    figure = (f'{up} of {len(measured)} measured pairs above noise' if measured
              else 'no pair measured')
    if few:
        figure += f' ({few} with too few seeds)'
    if len(measured) < len(verdicts):
        figure += f'; {len(verdicts) - len(measured)} of {len(verdicts)} not measured'
    return Finding(_group_verdict(verdicts), figure, _pairs_frame(results))


def _robust_claim(claim: Claim, ev: Evidence) -> Finding:
    results = [(a, b, ev.pair(a, b)) for a, b in claim.pairs]
    measured = [s for _, _, s in results if math.isfinite(s['low'])]
    frame = _pairs_frame(results)
    if not measured:
        return Finding('not measured', 'no pair measured', frame)
    inside = sum(s['low'] <= 0 <= s['high'] for s in measured)
    largest = max(abs(s['reproduced_gain']) for s in measured)
    figure = (f'{inside} of {len(measured)} intervals contain 0; largest |gain| '
              f'{fmt(largest, 2)} AP')
    if any(s['seeds'] < stats.MIN_SEEDS for s in measured):
        verdict = 'too few seeds'
    else:
        verdict = 'supported' if inside == len(measured) else 'not supported'
    return Finding(verdict, figure, frame)


def _separation_claim(claim: Claim, ev: Evidence) -> Finding:
    buckets = ('very_tiny', 'tiny') if claim.kind == 'separation' else ('very_tiny',)
    rows, aucs, beats = [], [], []
    for run_id, obj in ev.separation().items():
        b = obj['separation']['buckets']
        vals = [b[k]['auc'] for k in buckets]
        aucs += vals
        refs = obj.get('separation_reference') or {}
        ref = [max((r['buckets'][k]['auc'] for r in refs.values()
                    if r['buckets'][k]['auc'] is not None), default=None) for k in buckets]
        beats += [v > r for v, r in zip(vals, ref) if v is not None and r is not None]
        row = [f'`{run_id}`']
        for v, r in zip(vals, ref):
            row += [fmt(v, 3), fmt(r, 3)]
        rows.append(row + [fmt(b['very_tiny']['hit_rate'], 3)])
    columns = ['run']
    for k in buckets:
        columns += [f'AUC {k}', f'{k}: best learning-free map']
    frame = pd.DataFrame(rows, columns=columns + ['very tiny hit rate'])
    verdict = _auc_verdict(aucs)
    if verdict == 'supported' and beats and not all(beats):
        verdict = 'partly supported'   # separates, but no better than plain image contrast
    finite = [a for a in aucs if a is not None and math.isfinite(a)]
    if not finite:
        return Finding(verdict, 'no separation.json (run `srtod figures`)', frame)
    figure = (f'AUC of D {fmt(min(finite), 2)}-{fmt(max(finite), 2)} over {len(rows)} runs; '
              f'beats the best learning-free map in {sum(beats)} of {len(beats)}')
    return Finding(verdict, figure, frame)


def _features_claim(claim: Claim, ev: Evidence) -> Finding:
    rows, ok = [], []
    for run_id, obj in ev.separation().items():
        fc = obj.get('feature_contrast') or {}
        before, after, base = fc.get('p2_before'), fc.get('p2_after'), fc.get('baseline_p2')
        rows.append([f'`{run_id}`', fmt(base, 2), fmt(before, 2), fmt(after, 2)])
        if after is not None and base is not None:
            ok.append(after > base)
    frame = pd.DataFrame(rows, columns=['run', 'baseline P2', 'SR-TOD P2 before DGFE',
                                        'after DGFE'])
    verdict = ('not measured' if not ok else 'supported' if all(ok)
               else 'partly supported' if any(ok) else 'not supported')
    figure = (f'object/background contrast after DGFE above the baseline\'s in {sum(ok)} of '
              f'{len(ok)} runs' if ok else 'no separation.json with a baseline')
    return Finding(verdict, figure, frame,
                   'Object/background contrast: mean |P2| inside ground-truth boxes over '
                   'outside, averaged over the test images.')


def _fps_claim(claim: Claim, ev: Evidence) -> Finding:
    run_id, other = claim.pairs[0]
    fps = {r: _mean(ev.runs, r, 'fps') for r in (run_id, other)}
    frame = pd.DataFrame([[f'`{r}`', fmt(v, 2)] for r, v in fps.items()], columns=['run', 'FPS'])
    if any(v is None for v in fps.values()):
        return Finding('not measured', f'no FPS of {run_id} and {other} in this tier', frame)
    ratio = fps[run_id] / fps[other]
    verdict = ('supported' if abs(ratio - PUBLISHED_FPS_RATIO) <= 0.2 * PUBLISHED_FPS_RATIO
               else 'not supported')
    return Finding(verdict, f'x{ratio:.2f} (published x{PUBLISHED_FPS_RATIO:.2f})', frame,
                   'Supported when the reproduced ratio is within 20% of the published one.')


ANCHOR_COLUMNS = ['SR-TOD run', 'control', 'published total gain', 'total', 'anchors',
                  'SR-TOD proper', 'seeds', 'verdict (SR-TOD proper)']


def _interval_text(s) -> str:
    """``+1.23 [0.40, 2.10]``, or the verdict / note of a pair that was not measured."""
    if s['verdict'] in UNMEASURED or not math.isfinite(s['low']):
        return s['verdict']
    return (f'{fmt(s["reproduced_gain"], 2, True)} [{fmt(s["low"], 2)}, '
            f'{fmt(s["high"], 2)}]')


def _anchors_claim(claim: Claim, ev: Evidence) -> Finding:
    """The split of every control row (``srtod.analysis.control``); the verdict is that of
    the SR-TOD-proper parts (SR-TOD run minus its control), grouped like a ``gains`` claim."""
    from srtod.analysis import control
    rows, verdicts = [], []
    for row in control.control_rows(ev.registry):
        total, anchors, proper = control.split(ev.runs, ev.registry, ev.tier, row.run_id, 'AP',
                                               n=ev.n, results_root=ev.results_root,
                                               loader=ev.loader)
        verdicts.append(proper['verdict'])
        rows.append([f'`{control.srtod_run_of_control(row.run_id)}`', f'`{row.run_id}`',
                     fmt(total['published_gain'], 1, True), _interval_text(total),
                     _interval_text(anchors), _interval_text(proper), proper['seeds'],
                     proper['verdict'] + (f' ({proper["note"]})' if proper['note'] else '')])
    frame = pd.DataFrame(rows, columns=ANCHOR_COLUMNS)
    measured = [v for v in verdicts if v not in UNMEASURED]
    up = sum(v in ABOVE_NOISE for v in measured)
    few = sum(v == 'too few seeds' for v in measured)
    figure = (f'SR-TOD at equal anchors above noise for {up} of {len(measured)} measured '
              f'detectors' if measured else 'no control measured')
    if few:
        figure += f' ({few} with too few seeds)'
    if len(measured) < len(verdicts):
        figure += f'; {len(verdicts) - len(measured)} of {len(verdicts)} not run'
    return Finding(_group_verdict(verdicts), figure, frame,
                   'AP gains in points: total = SR-TOD run − baseline (scale 8), anchors = '
                   'control − baseline, SR-TOD proper = SR-TOD run − control (same anchor scale), '
                   'each with its 95% two-level bootstrap interval on the seeds all three runs '
                   'finished; the published total gain is the reference of the verdict. '
                   'APvt and the runs side by side: the C1 and C2 table reports.')


MECHANISM_EVIDENCE = ['run', 'seeds', 'rec PSNR (dB)', 'mean colour PSNR', 'PSNR gain (median)',
                      'AUC very tiny: D', 'constant map', 'AUC gain (median)', 'verdict']
#: The evidence columns are medians over the seeds of a run (the gains: of the per-seed gains).


def _mechanism_run_verdict(group) -> tuple[str, float, float]:
    """(verdict, median PSNR gain, median AUC very tiny gain) of one run's seeds."""
    psnr_gain = group['rec_psnr_gain'].dropna().to_numpy(float)
    auc_gain = group['auc_very_tiny_gain'].dropna().to_numpy(float)
    med = [float(np.median(g)) if len(g) else math.nan for g in (psnr_gain, auc_gain)]
    gains = [g for g in (psnr_gain, auc_gain) if len(g)]
    if not len(auc_gain):
        return 'not measured', *med
    if len(auc_gain) < stats.MIN_SEEDS:
        return 'too few seeds', *med
    if all((g > 0).all() for g in gains):
        return 'supported', *med
    if any(np.median(g) <= 0 for g in gains):
        return 'not supported', *med
    return 'partly supported', *med


def _mechanism_claim(claim: Claim, ev: Evidence) -> Finding:
    """Does the reconstruction learn more than the mean colour, and does D separate very tiny
    objects better than the constant reconstruction's map (module docstring, Verdicts)?"""
    from srtod.analysis.mechanism import seed_table
    table = seed_table(ev.runs)
    table = table[table['run_id'].str.contains('+srtod', regex=False)]
    rows, verdicts, psnr_med, auc_med, seeds = [], [], [], [], []
    for run_id, group in table.groupby('run_id', sort=True):
        verdict, dpsnr, dauc = _mechanism_run_verdict(group)
        verdicts.append(verdict)
        psnr_med.append(dpsnr)
        auc_med.append(dauc)
        if verdict != 'not measured':
            seeds.append(len(group))
        rows.append([f'`{run_id}`', len(group), fmt(group['rec_psnr'].median(), 2),
                     fmt(group['rec_psnr_constant'].median(), 2), fmt(dpsnr, 2, True),
                     fmt(group['auc_very_tiny'].median(), 3),
                     fmt(group['auc_very_tiny_constant'].median(), 3), fmt(dauc, 3, True),
                     verdict])
    frame = pd.DataFrame(rows, columns=MECHANISM_EVIDENCE)
    note = ('Per run: the median over seeds of the reconstruction\'s PSNR, of the PSNR of the '
            'per-image mean colour (the best constant image) and of the AUC of D and of the '
            'constant reconstruction\'s map on very tiny objects; the gains are the medians over '
            'seeds of the per-seed differences. Measured on the whole test split of every seed '
            'by `srtod test` (metrics.json), via runs.csv; a run with fewer than '
            f'{stats.MIN_SEEDS} seeds reads too few seeds.')
    measured = [v for v in verdicts if v != 'not measured']
    if not measured:
        return Finding('not measured', 'no mechanism measurement in runs.csv (run `srtod '
                       'test` for the SR-TOD runs, then `srtod collect`)', frame, note)
    up = sum(v == 'supported' for v in measured)
    if 'too few seeds' in measured:
        verdict = 'too few seeds'
    elif up == len(measured):
        verdict = 'supported'
    elif up or 'partly supported' in measured:
        verdict = 'partly supported'
    else:
        verdict = 'not supported'

    def median(values):
        values = [v for v in values if math.isfinite(v)]
        return float(np.median(values)) if values else math.nan

    low, high = min(seeds), max(seeds)
    figure = (f'median gain over the mean colour: PSNR {fmt(median(psnr_med), 2, True)} dB, '
              f'AUC very tiny {fmt(median(auc_med), 3, True)}; supported in {up} of '
              f'{len(measured)} runs, on {low if low == high else f"{low}-{high}"} '
              f'seed{"s" if high != 1 else ""} each')
    few = sum(v == 'too few seeds' for v in measured)
    if few:
        figure += f' ({few} with too few seeds)'
    return Finding(verdict, figure, frame, note)


def evaluate(claim: Claim, ev: Evidence) -> Finding:
    """The finding (verdict, decisive figure, per-run evidence) of one claim."""
    kinds = dict(gain=_gain_claim, gains=_gains_claim, robust=_robust_claim,
                 separation=_separation_claim, very_tiny=_separation_claim,
                 features=_features_claim, fps=_fps_claim, anchors=_anchors_claim,
                 mechanism=_mechanism_claim,
                 threshold=lambda c, e: _threshold_finding(e.runs))
    if claim.kind not in kinds:
        raise InputError(f'unknown claim kind {claim.kind!r}')
    return kinds[claim.kind](claim, ev)


def _mean(runs, run_id, column):
    rows = runs[(runs['run_id'] == run_id) & (runs['status'] == 'ok')] if len(runs) else runs
    vals = rows[column].dropna().to_numpy(float) if len(rows) and column in rows else []
    return float(np.mean(vals)) if len(vals) else None


def threshold_table(runs):
    """Per SR-TOD run: initial and final t (mean over seeds), change in grey levels (/255)."""
    cols = ['run_id', 'seeds', 'threshold_init', 'threshold_final', 'change_255', 'moved']
    if not len(runs) or 'threshold_final' not in runs:
        return pd.DataFrame(columns=cols)
    rows = runs[runs['threshold_init'].notna() & runs['threshold_final'].notna()]
    out = []
    for run_id, group in rows.groupby('run_id', sort=True):
        init, final = group['threshold_init'].mean(), group['threshold_final'].mean()
        change = float((group['threshold_final'] - group['threshold_init']).mean())
        out.append(dict(run_id=run_id, seeds=len(group), threshold_init=init,
                        threshold_final=final, change_255=change * 255,
                        moved=bool(np.any(np.abs(group['threshold_final']
                                                 - group['threshold_init']) >= THRESHOLD_MOVE))))
    return pd.DataFrame(out, columns=cols)


def _threshold_finding(runs) -> Finding:
    """Did t learn, or only decay? With the paper's sign() the loss gradient of t is zero, so
    SGD's weight decay alone moves it: by the same factor t_final / t_init in every run of one
    schedule (one dataset of a tier), whatever t_init. A run whose factor departs from its
    dataset's median by more than ``DECAY_TOLERANCE`` moved by its loss: only that supports
    the claim."""
    table = threshold_table(runs)
    columns = ['run', 't init × 255', 't final × 255', 'change (/255)', 't_final / t_init',
               "dataset's decay factor", 'moved by its loss']
    if not len(table):
        return Finding('not measured', 'no run recorded a threshold',
                       pd.DataFrame(columns=columns))
    table = table.assign(dataset=table['run_id'].str.split('/').str[0],
                         factor=table['threshold_final'] / table['threshold_init'])
    # t not updated at all (a fixed threshold, or one the variant never uses): no evidence
    updated = (table['factor'] - 1).abs() > 1e-7
    decay = table[updated].groupby('dataset')['factor'].median()
    table['decay_factor'] = table['dataset'].map(decay)
    table['learned'] = updated & ((table['factor'] - table['decay_factor']).abs()
                                  > DECAY_TOLERANCE)
    frame = pd.DataFrame([
        [f'`{r.run_id}`', f'{r.threshold_init * 255:.4f}', f'{r.threshold_final * 255:.4f}',
         f'{r.change_255:+.4f}', f'{r.factor:.5f}',
         f'{r.decay_factor:.5f}' if updated[i] else 'never updated',
         'yes' if r.learned else 'no'] for i, r in table.iterrows()], columns=columns)
    learned = int(table['learned'].sum())
    factors = ', '.join(f'{d} x{f:.5f}' for d, f in decay.items())
    figure = (f't moved by its loss in {learned} of {int(updated.sum())} updated runs '
              f'(weight-decay factor per dataset: {factors or "–"})')
    return Finding('supported' if learned else 'not supported', figure, frame,
                   f'{int((~updated).sum())} run(s) never updated t (fixed, or unused by the '
                   'variant).')


def anchor(i: int) -> str:
    """The detail section of claim ``i`` (1-based), as a link target."""
    return f'claim-{i}'


def render_claims(tier, runs, registry, n=1000, results_root=None, loader=None) -> str:
    """The text of claims.md: one line per claim, then one detail section per claim."""
    ev = Evidence(tier, runs, registry, n=n, results_root=results_root, loader=loader)
    findings = [evaluate(claim, ev) for claim in CLAIMS]
    lines = [f'# Claims of the paper, checked on the `{tier}` tier', '',
             'One line per claim: where the paper makes it, what it says, the verdict of these '
             'runs and the figure that decides it; "details" leads to the evidence of each '
             'run. Methods are described at the end.', '',
             '| # | source | claim | verdict | decisive figure | |', '|---|---|---|---|---|---|']
    for i, (claim, f) in enumerate(zip(CLAIMS, findings), 1):
        lines.append(f'| {i} | {claim.source} | {claim.text} | **{f.verdict}** | '
                     f'{f.figure.replace("|", "/")} | [details](#{anchor(i)}) |')
    lines += ['', '## Details', '']
    for i, (claim, f) in enumerate(zip(CLAIMS, findings), 1):
        lines += [f'### Claim {i}', '', f'{claim.source}: {claim.text}', '',
                  f'Verdict: **{f.verdict}**. {f.figure}.', '',
                  frame_markdown(f.evidence, 3, '_No run of this claim in this tier._'), '']
        if f.note:
            lines += [f.note, '']
    lines += ['## Difference-map separation per size bucket', '',
              frame_markdown(separation_table(ev.separation()), 3), '',
              '## Methods', '',
              '- **Gains and verdicts.** ' + stats.describe_method(n),
              '- **Separation.** ' + _separation_method(),
              '- **Threshold.** t at the start and end of training, from train.json '
              f'(`threshold.init`, `threshold.final`); "moved" means a change of at least '
              f'{THRESHOLD_MOVE * 255:.1f}/255 in some seed. In the paper t enters through '
              'sign(D - t), whose derivative is zero, so only weight decay can move it, and then '
              'by the same factor t_final / t_init in every run of one schedule; the claim counts '
              f'as supported only for a run whose factor departs from its dataset\'s median by '
              f'more than {DECAY_TOLERANCE:g} (t moved by its loss).',
              '- **Claim verdicts.** ' + ' '.join(__doc__.split('Verdicts. ', 1)[1].split())
              .replace('``', '`'),
              '']
    return '\n'.join(lines)


def _separation_method() -> str:
    from srtod.analysis import separation
    body = separation.__doc__.split('\n\n', 1)[1]
    return ' '.join(body.split()).replace('``', '`')


def write_claims(tier, runs_csv=None, out=None, n=1000, registry=None, results_root=None,
                 loader=None) -> Path:
    """Write ``reports/<tier>/claims.md`` (the body of ``srtod claims``)."""
    from srtod.analysis.collect import load_runs_csv

    if registry is None:
        from srtod.registry import load_registry
        registry = load_registry()
    root = Path(results_root) if results_root is not None else Path('results')
    runs = load_runs_csv(runs_csv or root / tier / 'runs.csv')
    out = Path(out or Path('reports') / tier / 'claims.md')
    write_text(out, render_claims(tier, runs, registry, n=n, results_root=results_root,
                                  loader=loader))
    write_html(out)   # html/claims.html, for snakemake --report
    return out


__all__ = ['Claim', 'CLAIMS', 'Finding', 'Evidence', 'evaluate', 'render_claims',
           'write_claims', 'threshold_table', 'separation_table', 'load_separation', 'anchor']
