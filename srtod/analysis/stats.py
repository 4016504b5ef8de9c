"""Is a reproduced AP gain larger than noise? A two-level paired bootstrap, and a verdict.

The paper reports single runs and gains of 0.1-2 AP. For each SR-TOD row we compare the run with
its baseline on the *same* test images, and over the training seeds both were run with.

Resample (two levels). Each of the 1000 replicates first draws N seed indices with replacement
from the N seeds both runs finished (level 1: the run-to-run noise of training), then draws the
test images with replacement (level 2: the sampling noise of the test set; repeats allowed, as
``PerImageRecords.ap`` accepts them). All drawn seeds are scored on that one image draw, since
every seed is tested on the same images, and the replicate is the mean over the drawn seeds of
(SR-TOD seed k minus baseline seed k). The 2.5 and 97.5 percentiles of the replicates give a 95%
interval. With one seed only the image level varies.

Verdicts (``verdict``), with [low, high] the interval, g the published gain (SR-TOD AP minus
its baseline's AP, both as published) and N the seeds:
- ``too few seeds``: N < 3 (``MIN_SEEDS``); one or two trainings cannot tell a gain from
  run-to-run noise, so no reproduced / not reproduced verdict is given (the interval is shown).
- ``gain reproduced``: low > 0 and low <= g <= high: a real gain, and the published one is
  inside the interval.
- ``smaller than published``: low > 0 and high < g: a real gain, smaller than the published one.
- ``larger than published``: low > g (> 0): a real gain, larger than the published one. Not
  ``gain reproduced``: a verdict never reads better than its interval (a +7 AP gain against a
  published +0.9 reproduces the direction, not the gain).
- ``within noise``: low <= 0 <= high: the interval contains zero; no gain is shown.
- ``not reproduced``: high < 0: SR-TOD is worse than its baseline beyond noise.
- ``no gain published``: g <= 0 or unknown; the paper claims no gain, the interval is shown alone.

A difference the paper publishes nothing about (the anchor-scale part of a gain, see
``srtod.analysis.control``) takes ``difference_verdict``: ``too few seeds`` (N < 3), ``above
noise`` (low > 0), ``below noise`` (high < 0) or ``within noise``. ``pair_statistics(key=...)``
measures the gain of another AP column (APvt, ...) on its area range of the records.

Rank agreement (``rank_agreement``): per table, Spearman's rank correlation between the
published and the reproduced AP of its rows: does the reproduction order the methods as the
paper does, whatever the absolute level?
"""
from __future__ import annotations

import math
from pathlib import Path
import numpy as np

from srtod.errors import InputError

VERDICTS = ('too few seeds', 'gain reproduced', 'smaller than published',
            'larger than published', 'within noise', 'not reproduced', 'no gain published')
#: Verdicts of a difference the paper publishes nothing about (``difference_verdict``).
DIFFERENCE_VERDICTS = ('too few seeds', 'above noise', 'within noise', 'below noise')
#: The area range of ``PerImageRecords.ap`` behind each AP column of runs.csv.
AREA_OF_KEY = {'AP': 'all', 'APvt': 'verytiny', 'APt': 'tiny', 'APs': 'small', 'APm': 'medium'}
#: Fewer seeds than this give the verdict ``too few seeds``.
MIN_SEEDS = 3
#: Verdicts of a gain above noise (the interval excludes zero on the gain's side).
ABOVE_NOISE = ('gain reproduced', 'smaller than published', 'larger than published')


def _as_list(records) -> list:
    if isinstance(records, (list, tuple)):
        return list(records)
    return [records]


def _common_image_ids(groups: list[list]) -> np.ndarray:
    ids = None
    for group in groups:
        for rec in group:
            these = np.unique(np.asarray(rec.image_ids))
            if ids is None:
                ids = these
            elif len(these) != len(ids) or not np.array_equal(these, ids):
                raise InputError(
                    'paired bootstrap: both runs must be evaluated on the same test images; '
                    f'got {len(ids)} and {len(these)} image ids that differ')
    if ids is None or len(ids) == 0:
        raise InputError('paired bootstrap: expected per-image records with at least one image')
    return ids


def paired_bootstrap(records_a, records_b, n: int = 1000, seed: int = 0, area: str = 'all',
                     level: float = 0.95) -> dict:
    """Paired bootstrap of the AP gain ``AP(b) - AP(a)`` over test images.

    Args:
        records_a: the baseline's per-image records (``PerImageRecords``), or a list of them, one
            per training seed.
        records_b: the SR-TOD run's records, the same kind; with lists, element k of each is
            paired (training seed k).
        n: number of bootstrap resamples.
        seed: seed of the resampling generator (fixed, so the interval is reproducible).
        area: the area range passed to ``PerImageRecords.ap`` ('all', 'verytiny', ...).
        level: coverage of the percentile interval.

    Returns:
        dict with ``gain`` (seed-averaged gain on the full test set, AP points), ``low`` and
        ``high`` (the percentile interval), ``n``, ``seeds``, ``images``, ``level``, ``area``.
    """
    a, b = _as_list(records_a), _as_list(records_b)
    if len(a) != len(b) or not a:
        raise InputError(f'paired bootstrap: expected as many baseline as SR-TOD seeds, got '
                         f'{len(a)} and {len(b)}')
    if n < 1:
        raise InputError(f'paired bootstrap: n must be at least 1, got {n}')
    ids = _common_image_ids([a, b])
    gains_full = [rb.ap(None, area) - ra.ap(None, area) for ra, rb in zip(a, b)]
    rng = np.random.default_rng(seed)
    k = len(a)
    draws = np.empty(n, dtype=np.float64)
    for i in range(n):
        seeds_i = rng.integers(0, k, size=k)                     # level 1: training seeds
        sample = ids[rng.integers(0, len(ids), size=len(ids))]   # level 2: test images
        draws[i] = np.mean([b[s].ap(sample, area) - a[s].ap(sample, area) for s in seeds_i])
    tail = (1.0 - level) / 2.0 * 100.0
    draws = draws[np.isfinite(draws)]
    low, high = (np.percentile(draws, [tail, 100.0 - tail]) if len(draws)
                 else (math.nan, math.nan))
    return dict(gain=float(np.mean(gains_full)), low=float(low), high=float(high), n=int(n),
                seeds=k, images=int(len(ids)), level=level, area=area)


def verdict(low: float, high: float, published_gain: float | None, seeds: int) -> str:
    """The verdict of an interval [low, high] over ``seeds`` training seeds against the published
    gain (module docstring)."""
    if seeds < MIN_SEEDS:
        return 'too few seeds'
    if published_gain is None or not np.isfinite(published_gain) or published_gain <= 0:
        return 'no gain published'
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputError(f'verdict: expected a finite interval, got [{low}, {high}]')
    if high < 0:
        return 'not reproduced'
    if low <= 0:
        return 'within noise'
    if high < published_gain:
        return 'smaller than published'
    return 'larger than published' if low > published_gain else 'gain reproduced'


def difference_verdict(low: float, high: float, seeds: int) -> str:
    """The verdict of an interval [low, high] of a difference the paper publishes nothing
    about: ``too few seeds`` (N < ``MIN_SEEDS``), ``above noise`` (low > 0), ``below noise``
    (high < 0), else ``within noise``."""
    if seeds < MIN_SEEDS:
        return 'too few seeds'
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputError(f'difference verdict: expected a finite interval, got [{low}, {high}]')
    return 'above noise' if low > 0 else 'below noise' if high < 0 else 'within noise'


# -- per-table statistics ----------------------------------------------------------------------

def _usable(runs, run_id: str, key: str = 'AP'):
    """Rows of runs.csv for ``run_id`` that finished with a ``key`` (failed runs are left out)."""
    rows = runs[runs['run_id'] == run_id]
    if 'status' in rows:
        rows = rows[rows['status'].fillna('ok').astype(str) != 'failed']
    if key in rows:
        rows = rows[rows[key].notna()]
    return rows.sort_values('seed')


def _failure(runs, run_id: str) -> str | None:
    rows = runs[runs['run_id'] == run_id]
    if 'status' not in rows or not (rows['status'] == 'failed').any():
        return None
    reason = ''
    if 'failure' in rows:
        reason = str(rows[rows['status'] == 'failed']['failure'].iloc[0])
    return f'{run_id} failed' + (f' ({reason})' if reason and reason != 'nan' else '')


def published_ap(registry, run_id: str, table: str | None = None, key: str = 'AP'):
    """The published ``key`` of ``run_id``: from a row of ``table`` if it has one, else any row."""
    rows = [r for r in registry.rows
            if r.run_id == run_id and (r.published or {}).get(key) is not None]
    rows.sort(key=lambda r: r.table != table)
    return float(rows[0].published[key]) if rows else None


def records_path(tier: str, run_id: str, seed: int, results_root=None) -> Path:
    """``results/<tier>/<run id>/seed<S>/records.npz`` (``results_root`` replaces ``results``)."""
    from srtod.registry import run_dir
    return run_dir(tier, run_id, seed, root='results' if results_root is None else results_root) \
        / 'records.npz'


def pair_statistics(runs, tier: str, run_id: str, baseline: str, published_gain,
                    n: int = 1000, seed: int = 0, results_root=None, loader=None,
                    key: str = 'AP') -> dict:
    """Reproduced gain (mean +- std over seeds), bootstrap interval and verdict of one pair.

    Args:
        runs: results/<tier>/runs.csv as a DataFrame (columns run_id, seed, status, AP, ...).
        tier: the tier the runs belong to.
        run_id: the SR-TOD run (or, generally, the run whose gain is measured).
        baseline: the run it is compared with.
        published_gain: the gain the paper reports for this pair, or None.
        n, seed: bootstrap resamples and generator seed.
        results_root: folder replacing ``results`` when locating records (tests).
        loader: function path -> PerImageRecords; default ``srtod.evaluation.records.load_records``.
        key: the AP column of the gain (``AP``, ``APvt``, ... : ``AREA_OF_KEY``); the bootstrap
            scores the records on its area range.

    Returns:
        dict with published_gain, reproduced_gain, reproduced_gain_std, seeds, low, high,
        verdict and note (why a value is missing).
    """
    out = dict(published_gain=published_gain, reproduced_gain=math.nan,
               reproduced_gain_std=math.nan, seeds=0, low=math.nan, high=math.nan,
               verdict='not run', note='')
    failed = _failure(runs, run_id) or _failure(runs, baseline)
    if key not in AREA_OF_KEY:
        raise InputError(f'pair statistics: no area range for {key!r}; expected one of '
                         f'{list(AREA_OF_KEY)}')
    ra, rb = _usable(runs, baseline, key), _usable(runs, run_id, key)
    seeds = sorted(set(ra['seed']).intersection(rb['seed']))
    if not seeds:
        out['verdict'] = 'failed' if failed else 'not run'
        absent = [r for r, rows in ((run_id, rb), (baseline, ra)) if not len(rows)]
        out['note'] = failed or (
            ' and '.join(absent) + ' not run in this tier' if absent
            else f'no seed finished by both {run_id} and {baseline}')
        return out
    ap_a = ra.set_index('seed').loc[seeds, key].to_numpy(float)
    ap_b = rb.set_index('seed').loc[seeds, key].to_numpy(float)
    out['reproduced_gain'] = float(np.mean(ap_b - ap_a))
    out['reproduced_gain_std'] = float(np.std(ap_b - ap_a, ddof=1)) if len(seeds) > 1 else math.nan
    out['seeds'] = len(seeds)
    if loader is None:
        from srtod.evaluation.records import load_records as loader
    paths = [(records_path(tier, baseline, s, results_root),
              records_path(tier, run_id, s, results_root)) for s in seeds]
    missing = [str(p) for pair in paths for p in pair if not p.is_file()]
    if missing:
        out['verdict'] = 'no records'
        out['note'] = (f'{len(missing)} records.npz missing (written by srtod test), e.g. '
                       f'{missing[0]}')
        return out
    boot = paired_bootstrap([loader(pa) for pa, _ in paths], [loader(pb) for _, pb in paths],
                            n=n, seed=seed, area=AREA_OF_KEY[key])
    out.update(low=boot['low'], high=boot['high'],
               verdict=verdict(boot['low'], boot['high'], published_gain, len(seeds)))
    return out


def table_statistics(runs, registry, tier: str, table: str, n: int = 1000, seed: int = 0,
                     results_root=None, loader=None):
    """One row per SR-TOD row of ``table``: published and reproduced gain, interval, verdict.

    Args:
        runs: results/<tier>/runs.csv loaded with pandas.
        registry: ``srtod.registry.Registry``.
        tier: the tier.
        table: table id (``T1`` .. ``T7``, ``S1`` .. ``S6``).
        n, seed: bootstrap resamples and generator seed.
        results_root, loader: see ``pair_statistics``.

    Returns:
        pandas.DataFrame with columns table, row, run_id, baseline, published_gain,
        reproduced_gain, reproduced_gain_std, seeds, low, high, verdict, note.
    """
    import pandas as pd

    registry.get_table(table)   # an unknown table id is an InputError with close matches
    out = []
    for row in registry.rows:
        if row.table != table or row.external or not row.run_id or '+srtod' not in row.run_id:
            continue
        baseline = registry.runs[row.run_id].baseline
        if not baseline:
            continue
        pub = (row.published or {}).get('AP')
        pub_base = published_ap(registry, baseline, table)
        gain = None if pub is None or pub_base is None else round(float(pub) - pub_base, 6)
        stats = pair_statistics(runs, tier, row.run_id, baseline, gain, n=n, seed=seed,
                                results_root=results_root, loader=loader)
        out.append(dict(table=table, row=row.label, run_id=row.run_id, baseline=baseline,
                        **stats))
    columns = ['table', 'row', 'run_id', 'baseline', 'published_gain', 'reproduced_gain',
               'reproduced_gain_std', 'seeds', 'low', 'high', 'verdict', 'note']
    return pd.DataFrame(out, columns=columns)


def rank_agreement(published, reproduced) -> tuple[float, int]:
    """Spearman's rank correlation between published and reproduced values of a table's rows.

    Args:
        published, reproduced: sequences of equal length; pairs with a missing value are left
            out.

    Returns:
        (rho, n): the correlation (pandas' Spearman, average ranks for ties) over the n complete
        pairs; rho is NaN with fewer than 3 pairs or when either side is constant.
    """
    import pandas as pd

    frame = pd.DataFrame({'pub': np.asarray(published, float),
                          'rep': np.asarray(reproduced, float)}).dropna()
    if len(frame) < 3 or frame['pub'].nunique() < 2 or frame['rep'].nunique() < 2:
        return math.nan, len(frame)
    return float(frame['pub'].corr(frame['rep'], method='spearman')), len(frame)


def sign_counts(frame) -> dict:
    """How the SR-TOD rows of a statistics table (``table_statistics``) stand on their verdicts.

    Returns:
        dict with ``above`` (a gain above noise: ``gain reproduced`` or ``smaller than
        published``), ``judged`` (rows with a verdict on the published gain: enough seeds and a
        published gain > 0), ``too_few`` (rows measured with too few seeds) and ``rows``.
    """
    verdicts = list(frame['verdict']) if len(frame) else []
    judged = [v for v in verdicts if v in ABOVE_NOISE + ('within noise', 'not reproduced')]
    return dict(above=sum(v in ABOVE_NOISE for v in judged), judged=len(judged),
                too_few=sum(v == 'too few seeds' for v in verdicts), rows=len(verdicts))


def describe_method(n: int = 1000, level: float = 0.95) -> str:
    """The paragraph the reports print under a statistics table."""
    return (
        f'Gain = SR-TOD AP minus its baseline\'s AP (AP over IoU .50:.95, percent). Interval: '
        f'two-level paired bootstrap, {n} resamples with a fixed generator seed; each resample '
        'draws the training seeds with replacement, then the test images with replacement, '
        'scores both runs of every drawn seed on that image draw and keeps the seed-averaged '
        f'difference; the {level:.0%} interval is its percentile range. Verdicts: "too few '
        f'seeds" = fewer than {MIN_SEEDS} seeds, no verdict on the published gain; "gain '
        'reproduced" = interval above 0 and containing the published gain; "smaller than '
        'published" / "larger than published" = interval above 0 and wholly below / above the '
        'published gain; "within noise" = '
        'interval contains 0; "not reproduced" = interval below 0; "no gain published" = the '
        'paper reports no gain for this row.')


__all__ = ['VERDICTS', 'DIFFERENCE_VERDICTS', 'AREA_OF_KEY', 'MIN_SEEDS', 'ABOVE_NOISE',
           'paired_bootstrap', 'verdict', 'difference_verdict',
           'pair_statistics', 'table_statistics', 'published_ap', 'records_path',
           'rank_agreement', 'sign_counts', 'describe_method']
