"""``reports/<tier>/claims.md``: each claim of the paper, the evidence this run found, a verdict.

A claim is declared once in ``CLAIMS`` (source, words, and what measures it); the evidence comes
from ``results/<tier>/runs.csv`` (AP, FPS, threshold), each SR-TOD run's ``separation.json``
(``srtod figures``) and the paired bootstrap of :mod:`srtod.analysis.stats`.

Verdicts. A gain claim takes the bootstrap verdict of its pair (stats module). A claim about
several pairs is ``supported`` when every measured pair shows a gain above noise (``gain reproduced`` or
``smaller than published``), ``partly supported`` when some do, ``not supported`` when none does.
The difference-map claims use the separation AUC (``SEPARATION_STRONG`` = 0.8 and above is a
strong separation, ``SEPARATION_WEAK`` = 0.6 to 0.8 a weak one, below 0.6 none); a strong
separation that does not beat the learning-free reference maps (image contrast) in every
bucket is only ``partly supported``. The threshold
claim is ``not supported`` when every run's t changed by its dataset's common factor, i.e. by
SGD's weight decay alone (sign() passes no gradient to t).
A claim whose runs this tier did not train is ``not measured``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srtod.analysis import stats
from srtod.analysis.separation import load_separation, separation_table
from srtod.errors import InputError
from srtod.io import write_text

SEPARATION_STRONG, SEPARATION_WEAK = 0.8, 0.6
THRESHOLD_MOVE = 0.1 / 255
#: t_final / t_init departing from its dataset's weight-decay factor by more than this: t learned.
DECAY_TOLERANCE = 1e-4
ABOVE_NOISE = ('gain reproduced', 'smaller than published')


@dataclass(frozen=True)
class Claim:
    """One claim of the paper.

    Attributes:
        source: where the paper says it (abstract, P 4.2, S 1.5, ...).
        text: the claim, in the paper's terms.
        kind: ``gain`` (``pairs`` SR-TOD minus comparison), ``gains`` (several pairs),
            ``separation``, ``very_tiny``, ``threshold``, ``features``, ``robust``, ``fps``.
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
)
PUBLISHED_FPS_RATIO = 8.9 / 12.5


def _fmt(x, digits=2, sign=False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return 'n/a'
    return f'{x:+.{digits}f}' if sign else f'{x:.{digits}f}'


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
        run_ids = sorted(set(self.runs['run_id'])) if len(self.runs) else []
        return load_separation(self.tier, run_ids, self.results_root)


def _pair_text(run_id, other, s) -> str:
    if s['verdict'] in ('not run', 'failed', 'no records'):
        return f'{run_id} vs {other}: {s["note"] or s["verdict"]}'
    std = '' if s['seeds'] < 2 else f' +- {_fmt(s["reproduced_gain_std"])}'
    return (f'{run_id} vs {other}: {_fmt(s["reproduced_gain"], sign=True)}{std} AP '
            f'(published {_fmt(s["published_gain"], 1, True)}), 95% CI '
            f'[{_fmt(s["low"])}, {_fmt(s["high"])}], {s["seeds"]} seed(s): {s["verdict"]}')


def _group_verdict(verdicts) -> str:
    measured = [v for v in verdicts if v not in ('not run', 'failed', 'no records')]
    if not measured:
        return 'not measured'
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


def evaluate(claim: Claim, ev: Evidence) -> tuple[str, str]:
    """(evidence text, verdict) of one claim."""
    if claim.kind == 'gain':
        run_id, other = claim.pairs[0]
        s = ev.pair(run_id, other)
        verdict = s['verdict'] if s['verdict'] not in ('not run', 'no records') else 'not measured'
        return _pair_text(run_id, other, s), verdict
    if claim.kind in ('gains', 'robust'):
        results = [(a, b, ev.pair(a, b)) for a, b in claim.pairs]
        text = '; '.join(_pair_text(a, b, s) for a, b, s in results)
        if claim.kind == 'gains':
            verdicts = [s['verdict'] for _, _, s in results]
            done = sum(v not in ('not run', 'failed', 'no records') for v in verdicts)
            if done < len(verdicts):
                text += f' ({done} of {len(verdicts)} comparisons measured in this tier)'
            return text, _group_verdict(verdicts)
        measured = [s for _, _, s in results if math.isfinite(s['low'])]
        if not measured:
            return text, 'not measured'
        inside = all(s['low'] <= 0 <= s['high'] for s in measured)
        return text, 'supported' if inside else 'not supported'
    if claim.kind in ('separation', 'very_tiny'):
        sep = ev.separation()
        buckets = ('very_tiny', 'tiny') if claim.kind == 'separation' else ('very_tiny',)
        parts, aucs, beats = [], [], []
        for run_id, obj in sep.items():
            b = obj['separation']['buckets']
            vals = [b[k]['auc'] for k in buckets]
            aucs += vals
            refs = obj.get('separation_reference') or {}
            ref = [max((r['buckets'][k]['auc'] for r in refs.values()
                        if r['buckets'][k]['auc'] is not None), default=None) for k in buckets]
            beats += [v > r for v, r in zip(vals, ref) if v is not None and r is not None]
            hits = b['very_tiny']['hit_rate']
            parts.append(f'{run_id}: AUC ' + ', '.join(
                f'{k} {_fmt(v, 3)} (best learning-free map {_fmt(r, 3)})'
                for k, v, r in zip(buckets, vals, ref)) + f'; very tiny hit rate {_fmt(hits, 3)}')
        verdict = _auc_verdict(aucs)
        if verdict == 'supported' and beats and not all(beats):
            verdict = 'partly supported'   # separates, but no better than plain image contrast
        return '; '.join(parts) or 'no separation.json (run `srtod figures`)', verdict
    if claim.kind == 'threshold':
        return _threshold_evidence(ev.runs)
    if claim.kind == 'features':
        parts, ok = [], []
        for run_id, obj in ev.separation().items():
            fc = obj.get('feature_contrast') or {}
            before, after, base = fc.get('p2_before'), fc.get('p2_after'), fc.get('baseline_p2')
            parts.append(f'{run_id}: object/background mean|P2| baseline {_fmt(base)}, before '
                         f'DGFE {_fmt(before)}, after DGFE {_fmt(after)}')
            if after is not None and base is not None:
                ok.append(after > base)
        verdict = ('not measured' if not ok else 'supported' if all(ok)
                   else 'partly supported' if any(ok) else 'not supported')
        return '; '.join(parts) or 'no separation.json', verdict
    if claim.kind == 'fps':
        run_id, other = claim.pairs[0]
        fps = {r: _mean(ev.runs, r, 'fps') for r in (run_id, other)}
        if any(v is None for v in fps.values()):
            return f'no FPS of {run_id} and {other} in this tier', 'not measured'
        ratio = fps[run_id] / fps[other]
        verdict = 'supported' if abs(ratio - PUBLISHED_FPS_RATIO) <= 0.2 * PUBLISHED_FPS_RATIO \
            else 'not supported'
        return (f'{other} {fps[other]:.2f} FPS -> {run_id} {fps[run_id]:.2f} FPS (x{ratio:.2f}, '
                f'published x{PUBLISHED_FPS_RATIO:.2f}; supported = within 20%)'), verdict
    raise InputError(f'unknown claim kind {claim.kind!r}')


def _mean(runs, run_id, column):
    rows = runs[(runs['run_id'] == run_id) & (runs['status'] == 'ok')] if len(runs) else runs
    vals = rows[column].dropna().to_numpy(float) if len(rows) and column in rows else []
    return float(np.mean(vals)) if len(vals) else None


def threshold_table(runs):
    """Per SR-TOD run: initial and final t (mean over seeds), change in grey levels (/255)."""
    import pandas as pd

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


def _threshold_evidence(runs) -> tuple[str, str]:
    """Did t learn, or only decay? With the paper's sign() the loss gradient of t is zero, so
    SGD's weight decay alone moves it: by the same factor t_final / t_init in every run of one
    schedule (one dataset of a tier), whatever t_init. A run whose factor departs from its
    dataset's median by more than ``DECAY_TOLERANCE`` moved by its loss: only that supports
    the claim."""
    table = threshold_table(runs)
    if not len(table):
        return 'no run recorded a threshold', 'not measured'
    table = table.assign(dataset=table['run_id'].str.split('/').str[0],
                         factor=table['threshold_final'] / table['threshold_init'])
    # t not updated at all (a fixed threshold, or one the variant never uses): no evidence
    updated = table[(table['factor'] - 1).abs() > 1e-7].copy()
    updated['decay_factor'] = updated.groupby('dataset')['factor'].transform('median')
    learned = updated[(updated['factor'] - updated['decay_factor']).abs() > DECAY_TOLERANCE]
    largest = table.loc[table['change_255'].abs().idxmax()]
    factors = ', '.join(f'{d} x{f:.5f}' for d, f in updated.groupby('dataset')['factor'].median().items())
    text = (f'{len(table)} run(s) with a threshold, {len(table) - len(updated)} never updated '
            f'(fixed, or unused by the variant); t moved by >= 0.1/255 in {int(table["moved"].sum())} '
            f'(largest {largest["change_255"]:+.4f}/255, {largest["run_id"]}); t_final / t_init per '
            f'dataset: {factors}; runs whose factor departs from their dataset\'s (t moved by its loss, '
            f'not by weight decay alone): {len(learned)}')
    if len(learned):
        text += ' (' + ', '.join(learned['run_id']) + ')'
    return text, 'supported' if len(learned) else 'not supported'


def _markdown(frame, floatfmt='.3f') -> str:
    if not len(frame):
        return '(none)\n'
    head = '| ' + ' | '.join(map(str, frame.columns)) + ' |'
    sep = '|' + '---|' * len(frame.columns)
    lines = [head, sep]
    for _, row in frame.iterrows():
        cells = []
        for v in row:
            if isinstance(v, (float, np.floating)):
                cells.append('n/a' if not math.isfinite(v) else format(v, floatfmt))
            else:
                cells.append('n/a' if v is None else str(v))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def render_claims(tier, runs, registry, n=1000, results_root=None, loader=None) -> str:
    """The text of claims.md."""
    import pandas as pd

    ev = Evidence(tier, runs, registry, n=n, results_root=results_root, loader=loader)
    lines = [f'# Claims of the paper, checked on the `{tier}` tier', '',
             'One claim per line: where the paper makes it, what it says, the evidence this '
             'reproduction found, and a verdict. Methods are described at the end.', '',
             '| # | source | claim | evidence | verdict |', '|---|---|---|---|---|']
    for i, claim in enumerate(CLAIMS, 1):
        text, verdict = evaluate(claim, ev)
        lines.append(f'| {i} | {claim.source} | {claim.text} | {_cell(text)} | **{verdict}** |')
    sep = ev.separation()
    lines += ['', '## Difference-map separation per size bucket', '',
              _markdown(separation_table(sep)), '## Threshold t (initial and final)', '',
              _markdown(threshold_table(runs), '.5f'), '## Methods', '',
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


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace('|', '\\|').replace('\n', ' ')


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
    return out


__all__ = ['Claim', 'CLAIMS', 'Evidence', 'evaluate', 'render_claims', 'write_claims',
           'threshold_table', 'separation_table', 'load_separation']
