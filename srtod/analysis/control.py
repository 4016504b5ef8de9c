"""The anchor-scale controls (tables C1, C2): each published SR-TOD gain split into two parts.

On VisDrone2019 and AI-TOD the published baselines of the anchor-based detectors (Faster R-CNN,
Cascade R-CNN, DetectoRS) ran at mmdet's RPN anchor scale 8, their SR-TOD runs at 6 and 4, as
the authors' configs do (configs/experiments.yaml, the decisions of both datasets). A control run
``<dataset>/<detector>-s<k>`` is the baseline at the SR-TOD run's scale k, nothing else changed;
the SR-TOD run ``<dataset>/<detector>+srtod`` is that control plus SR-TOD. So, per AP column:

- total = SR-TOD run - baseline (what Tables 2 and 3 publish as SR-TOD's gain),
- anchors = control - baseline (the anchor scale alone),
- SR-TOD proper = SR-TOD run - control (SR-TOD at equal anchors),

and total = anchors + SR-TOD proper on the seeds all three runs finished. Each part is the paired
two-level bootstrap of :func:`srtod.analysis.stats.pair_statistics` on those seeds. Total and
SR-TOD proper take the verdict of :func:`stats.verdict` against the published total gain (for
SR-TOD proper: ``gain reproduced`` means SR-TOD alone accounts for the whole published gain,
``smaller than published`` that it accounts for a part only, ``larger than published`` that
it alone exceeds it); the anchors part, of which the
paper publishes nothing, takes :func:`stats.difference_verdict`.
"""
from __future__ import annotations

import math

import pandas as pd

from srtod.analysis import stats
from srtod.errors import InputError

#: The RPN anchor scale of the published baselines: mmdet's default, as the authors' base models
#: (Hiyuur/SR-TOD@1c4d93b:configs/_base_/models/cascade-rcnn_r50_fpn.py, ``scales=[8]``).
BASELINE_ANCHOR_SCALE = 8
#: The AP columns a split reports by default.
SPLIT_KEYS = ('AP', 'APvt')
#: The three parts of a split, in order: (name, what minus what).
PARTS = (('total', 'SR-TOD − baseline'), ('anchors', 'control − baseline'),
         ('SR-TOD proper', 'SR-TOD − control'))
SPLIT_COLUMNS = ['table', 'row', 'control', 'baseline', 'srtod', 'anchor_scale', 'key', 'part',
                 'published_gain', 'reproduced_gain', 'reproduced_gain_std', 'seeds', 'low',
                 'high', 'verdict', 'note']


def srtod_run_of_control(control_id: str) -> str:
    """The SR-TOD run of a control: ``<dataset>/<detector>-s<k>`` -> ``<dataset>/<detector>+srtod``.

    Raises:
        InputError: ``control_id`` is not a control run id (no ``-s<k>``).
    """
    from srtod.registry import parse_run_id
    from srtod.vocab import srtod_run_of_control as derive

    parse_run_id(control_id)  # a malformed id or unknown detector: the registry's error
    srtod_run = derive(control_id)
    if srtod_run is None:
        raise InputError(f'{control_id!r} is not a control run id; expected '
                         '<dataset>/<detector>-s<k>')
    return srtod_run


def control_rows(registry, table: str | None = None) -> list:
    """The registry rows whose run is a control (``Run.anchor_scale`` set), of ``table`` or all."""
    out = []
    for row in registry.rows:
        run = registry.runs.get(row.run_id) if row.run_id else None
        if run is not None and run.anchor_scale is not None and table in (None, row.table):
            out.append(row)
    return out


def control_of(registry, srtod_id: str) -> str | None:
    """The control run whose SR-TOD run is ``srtod_id``, or None."""
    for run_id, run in registry.runs.items():
        if run.anchor_scale is not None and srtod_run_of_control(run_id) == srtod_id:
            return run_id
    return None


def trio(registry, control_id: str) -> tuple[str, str, str]:
    """(baseline, control, SR-TOD run) of a control; an InputError when the registry lacks one."""
    run = registry.runs.get(control_id)
    srtod = srtod_run_of_control(control_id)
    if run is None or not run.baseline:
        raise InputError(f'control run {control_id!r}: expected a run with a baseline in '
                         f'{registry.path}')
    if srtod not in registry.runs:
        raise InputError(f'control run {control_id!r}: its SR-TOD run {srtod!r} is not defined '
                         f'in {registry.path}')
    return run.baseline, control_id, srtod


def common_seeds(runs: pd.DataFrame, run_ids, key: str = 'AP') -> list[int]:
    """The seeds every run of ``run_ids`` finished with a ``key``."""
    sets = [set(stats._usable(runs, r, key)['seed'].astype(int)) for r in run_ids]
    return sorted(set.intersection(*sets)) if sets else []


def _on_seeds(runs: pd.DataFrame, run_ids, seeds) -> pd.DataFrame:
    """runs.csv restricted to the three runs on ``seeds`` (all rows of them when none is shared,
    so that pair_statistics can say which run is missing or failed)."""
    rows = runs[runs['run_id'].isin(run_ids)]
    return rows[rows['seed'].astype(int).isin(seeds)] if seeds else rows


def split(runs: pd.DataFrame, registry, tier: str, control_id: str, key: str = 'AP',
          n: int = 1000, seed: int = 0, results_root=None, loader=None) -> list[dict]:
    """The three parts of one SR-TOD run's ``key`` gain (module docstring).

    Returns:
        Three dicts (total, anchors, SR-TOD proper), each ``stats.pair_statistics``'s dict plus
        ``part``; published_gain is the published total gain (SR-TOD AP minus baseline AP as
        published, from any table; None when either is unpublished), the reference of the
        verdicts of total and SR-TOD proper; None on the anchors part.
    """
    base, control, srtod = trio(registry, control_id)
    pub_srtod = stats.published_ap(registry, srtod, key=key)
    pub_base = stats.published_ap(registry, base, key=key)
    published = (None if pub_srtod is None or pub_base is None
                 else round(pub_srtod - pub_base, 6))
    seeds = common_seeds(runs, (base, control, srtod), key)
    sub = _on_seeds(runs, (base, control, srtod), seeds)
    kw = dict(n=n, seed=seed, results_root=results_root, loader=loader, key=key)
    total = stats.pair_statistics(sub, tier, srtod, base, published, **kw)
    anchors = stats.pair_statistics(sub, tier, control, base, None, **kw)
    if math.isfinite(anchors['low']):
        anchors['verdict'] = stats.difference_verdict(anchors['low'], anchors['high'],
                                                      anchors['seeds'])
    proper = stats.pair_statistics(sub, tier, srtod, control, published, **kw)
    return [dict(part=name, **s) for (name, _), s in zip(PARTS, (total, anchors, proper))]


def split_statistics(runs: pd.DataFrame, registry, tier: str, tables=None,
                     keys=SPLIT_KEYS, n: int = 1000, seed: int = 0, results_root=None,
                     loader=None) -> pd.DataFrame:
    """The splits of every control row of ``tables`` (default: every table with one).

    Returns:
        DataFrame with ``SPLIT_COLUMNS``: one row per (control row, key, part).
    """
    out = []
    for row in control_rows(registry):
        if tables is not None and row.table not in tables:
            continue
        base, control, srtod = trio(registry, row.run_id)
        for key in keys:
            for part in split(runs, registry, tier, control, key, n=n, seed=seed,
                              results_root=results_root, loader=loader):
                out.append(dict(table=row.table, row=row.label, control=control, baseline=base,
                                srtod=srtod, anchor_scale=registry.runs[control].anchor_scale,
                                key=key, **part))
    return pd.DataFrame(out, columns=SPLIT_COLUMNS)


def point_split(runs: pd.DataFrame, registry, control_id: str, key: str = 'AP') -> dict:
    """Total, anchors and SR-TOD proper as mean paired differences over the seeds all three runs
    finished (runs.csv only, no bootstrap): the note of Tables 2 and 3.

    Returns:
        dict part -> gain (NaN when no seed is shared) and ``seeds``.
    """
    base, control, srtod = trio(registry, control_id)
    seeds = common_seeds(runs, (base, control, srtod), key)
    if not seeds:
        return {'total': math.nan, 'anchors': math.nan, 'SR-TOD proper': math.nan, 'seeds': 0}
    value = {r: stats._usable(runs, r, key).set_index('seed').loc[seeds, key].astype(float)
             .mean() for r in (base, control, srtod)}
    return {'total': value[srtod] - value[base], 'anchors': value[control] - value[base],
            'SR-TOD proper': value[srtod] - value[control], 'seeds': len(seeds)}


def describe_split() -> str:
    """The paragraph the reports print under a split."""
    return (f'The published baselines ran at RPN anchor scale {BASELINE_ANCHOR_SCALE}, the SR-TOD '
            'runs at the scale of the control (the authors\' configs); the control is the '
            'baseline at that scale, nothing else changed. Per metric: total = SR-TOD run − '
            'baseline (what Tables 2 and 3 publish as the gain), anchors = control − baseline, '
            'SR-TOD proper = SR-TOD run − control, all on the seeds the three runs finished, so '
            'that total = anchors + SR-TOD proper. Total and SR-TOD proper are judged against '
            'the published total gain (for SR-TOD proper, "gain reproduced": SR-TOD at equal '
            'anchors accounts for the whole published gain; "smaller than published": for a '
            'part of it; "larger than published": more than all of it); the anchors part, of '
            'which the paper publishes nothing, only against zero.')


__all__ = ['BASELINE_ANCHOR_SCALE', 'SPLIT_KEYS', 'PARTS', 'SPLIT_COLUMNS',
           'srtod_run_of_control', 'control_rows', 'control_of', 'trio', 'common_seeds',
           'split', 'split_statistics', 'point_split', 'describe_split']
