"""Table reports: published, reproduced and difference per column, SR-TOD gains, decisions,
a published-vs-reproduced chart and the statistics of each table.

``reports/<tier>/<table>.md`` per table and ``reports/<tier>/index.md``, from the registry
(published numbers, decisions) and runs.csv (reproduced numbers, see ``srtod.analysis.collect``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from srtod.analysis.charts import plot_published_vs_reproduced
from srtod.analysis.collect import METRIC_KEYS, STATUS_FAILED, STATUS_OK
from srtod.analysis.stats import describe_method, table_statistics
from srtod.errors import InputError
from srtod.io import write_text

#: Report column order; published keys map to runs.csv columns (FPS -> fps).
COLUMN_ORDER = (*METRIC_KEYS, 'FPS')
_RUNS_COLUMN = {'FPS': 'fps', 'fps': 'fps'}

TIER_DESCRIPTIONS = {
    'paper': "the paper's data, schedules and model sizes (section 4.1 and the supplement)",
    'check': "every paper config at the paper's input size for 2 iterations on synthetic "
             'images, tested on 2 images; random initialisation replaces the ImageNet weights '
             '(no network here): numbers prove the configs run and measure their cost, they are '
             'not results',
    'smoke': 'synthetic stand-ins of each dataset and a slim model of the same topology; '
             'numbers test the pipeline and the direction of effects, not the published values',
    'tiny': 'a handful of synthetic images and iterations: a test of the workflow only',
}


def runs_column(key: str) -> str:
    """The runs.csv column of a published key (``FPS`` -> ``fps``)."""
    return _RUNS_COLUMN.get(key, key)


def table_columns(rows) -> list[str]:
    """The published columns of a table's rows, in report order."""
    keys = {k for row in rows for k, v in row.published.items()}
    ordered = [k for k in COLUMN_ORDER if k in keys]
    return ordered + sorted(k for k in keys if k not in ordered)


@dataclass
class RunSummary:
    """The reproduced numbers of one run id over the selected seeds.

    Attributes:
        run_id: the run id.
        status: ``ok`` (every seed measured), ``failed`` (some seed failed),
            ``incomplete`` (trained, not yet tested) or ``not run``.
        seeds_ok: the seeds with numbers.
        values: column -> {seed: value} over ``seeds_ok``.
        failures: one line per failed seed (``seed S, stage: reason``).
        threshold: SR-TOD's threshold t at the start and the end of training (mean over
            seeds; NaN for runs without SR-TOD).
    """
    run_id: str
    status: str = 'not run'
    seeds_ok: list[int] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    threshold: tuple[float, float] = (math.nan, math.nan)

    def mean(self, column: str) -> float:
        vals = [v for v in self.values.get(column, {}).values() if math.isfinite(v)]
        return float(np.mean(vals)) if vals else math.nan

    def std(self, column: str) -> float:
        vals = [v for v in self.values.get(column, {}).values() if math.isfinite(v)]
        return float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan


def select_seeds(runs: pd.DataFrame, seeds: int | None) -> pd.DataFrame:
    """The rows of runs.csv with seed ``0..seeds-1`` (all rows when ``seeds`` is None)."""
    if seeds is None or not len(runs):
        return runs
    return runs[runs['seed'].astype(int) < seeds]


def summarize_runs(runs: pd.DataFrame, seeds: int | None = None) -> dict[str, RunSummary]:
    """Group runs.csv by run id over seeds ``0..seeds-1`` (all seeds when ``seeds`` is None)."""
    summaries: dict[str, RunSummary] = {}
    runs = select_seeds(runs, seeds)
    for run_id, group in runs.groupby('run_id', sort=True):
        summary = RunSummary(run_id=str(run_id))
        statuses = set(group['status'])
        for _, rec in group.sort_values('seed').iterrows():
            seed = int(rec['seed'])
            if rec['status'] == STATUS_FAILED:
                summary.failures.append(
                    f'seed {seed}, {rec.get("failure_stage") or "train"}: {rec.get("failure")}')
            if rec['status'] != STATUS_OK:
                continue
            summary.seeds_ok.append(seed)
            for column in (*METRIC_KEYS, 'fps'):
                if column in rec:
                    summary.values.setdefault(column, {})[seed] = float(rec[column])
        summary.status = (STATUS_FAILED if STATUS_FAILED in statuses
                          else STATUS_OK if statuses == {STATUS_OK} else 'incomplete')
        init = pd.to_numeric(group.get('threshold_init'), errors='coerce')
        final = pd.to_numeric(group.get('threshold_final'), errors='coerce')
        if init is not None and final is not None:
            summary.threshold = (float(init.mean()), float(final.mean()))
        summaries[summary.run_id] = summary
    return summaries


def published_value(registry, run_id: str, key: str, prefer_table: str | None = None) -> float:
    """The published ``key`` of a run id: from a row of ``prefer_table`` if there is one,
    else from the first row of any table that points to the run; NaN when none publishes it."""
    candidates = [r for r in registry.rows if r.run_id == run_id]
    candidates.sort(key=lambda r: r.table != prefer_table)
    for row in candidates:
        value = row.published.get(key)
        if value is not None:
            return float(value)
    return math.nan


def _fmt(value: float, digits: int = 1, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return '–'
    if round(value, digits) == 0:
        value = 0.0  # no "-0.0"
    return f'{value:+.{digits}f}' if signed else f'{value:.{digits}f}'


def _fmt_mean(mean: float, std: float, digits: int = 1, signed: bool = False) -> str:
    text = _fmt(mean, digits, signed)
    if math.isfinite(std) and text != '–':
        text += f' ± {std:.{digits}f}'
    return text


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return '–'
        return f'{value:.2f}' if abs(value) >= 0.01 or value == 0 else f'{value:.2g}'
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '–'
    return str(value).replace('|', '\\|').replace('\n', ' ')


def markdown_table(header: list[str], body: list[list]) -> str:
    """A GitHub markdown table; floats with two decimals, NaN as a dash."""
    lines = ['| ' + ' | '.join(_cell(h) for h in header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(_cell(v) for v in row) + ' |' for row in body]
    return '\n'.join(lines)


def frame_markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a markdown table (no index)."""
    return markdown_table([str(c) for c in frame.columns], frame.values.tolist())


def _row_state(row, summaries) -> tuple[str, RunSummary | None]:
    if row.external:
        return 'external (published only)', None
    summary = summaries.get(row.run_id)
    if summary is None:
        return 'not run', None
    if summary.status == STATUS_FAILED:
        return 'failed: ' + '; '.join(summary.failures), summary
    return summary.status, summary


def _is_srtod_row(row, registry) -> bool:
    run = registry.runs.get(row.run_id) if row.run_id else None
    return run is not None and bool(run.baseline)


@dataclass
class TableData:
    """Published, reproduced (mean, std) and difference arrays of one table (rows x columns)."""
    table: str
    labels: list[str]
    columns: list[str]
    published: np.ndarray
    reproduced: np.ndarray
    std: np.ndarray
    states: list[str]
    rows: list


def table_data(registry, summaries: dict[str, RunSummary], table: str) -> TableData:
    """Gather the numbers of one table's rows."""
    rows = [r for r in registry.rows if r.table == table]
    if not rows:
        raise InputError(f'table {table!r} has no rows in the registry; expected one of '
                         + ', '.join(registry.tables))
    columns = list(registry.tables[table].columns or table_columns(rows))
    pub = np.full((len(rows), len(columns)), np.nan)
    rep, std = pub.copy(), pub.copy()
    states = []
    for i, row in enumerate(rows):
        state, summary = _row_state(row, summaries)
        states.append(state)
        for j, key in enumerate(columns):
            value = row.published.get(key)
            pub[i, j] = np.nan if value is None else float(value)
            if summary is not None:
                rep[i, j] = summary.mean(runs_column(key))
                std[i, j] = summary.std(runs_column(key))
    return TableData(table, [str(r.label) for r in rows], columns, pub, rep, std,
                     states, rows)


def _gain(summaries, run_id, base_id, column) -> tuple[float, float]:
    """Reproduced gain of ``run_id`` over ``base_id``: mean and std of the per-seed paired
    differences (a ratio for FPS)."""
    a, b = summaries.get(run_id), summaries.get(base_id)
    if a is None or b is None:
        return math.nan, math.nan
    va, vb = a.values.get(column, {}), b.values.get(column, {})
    paired = sorted(set(va) & set(vb))
    if column == 'fps':
        diffs = [va[s] / vb[s] for s in paired if vb[s]]
    else:
        diffs = [va[s] - vb[s] for s in paired]
    diffs = [d for d in diffs if math.isfinite(d)]
    if not diffs:
        return math.nan, math.nan
    return float(np.mean(diffs)), float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan


def gain_rows(registry, summaries, data: TableData) -> list[list]:
    """For each SR-TOD row: baseline, then published and reproduced gain per column."""
    body = []
    for row in data.rows:
        if not _is_srtod_row(row, registry):
            continue
        run_id = row.run_id
        base_id = registry.runs[run_id].baseline
        base_rows = [r for r in data.rows if r.run_id == base_id]
        base_label = base_rows[0].label if base_rows else f'`{base_id}`'
        cells = [row.label, base_label]
        for key in data.columns:
            column = runs_column(key)
            pub = row.published.get(key)
            pub = math.nan if pub is None else float(pub)
            base_pub = published_value(registry, base_id, key, prefer_table=data.table)
            mean, std = _gain(summaries, run_id, base_id, column)
            if column == 'fps':
                ratio = pub / base_pub if base_pub else math.nan
                cells += [f'×{_fmt(ratio, 2)}' if math.isfinite(ratio) else '–',
                          f'×{_fmt_mean(mean, std, 2)}' if math.isfinite(mean) else '–']
            else:
                cells += [_fmt(pub - base_pub, signed=True), _fmt_mean(mean, std, signed=True)]
        body.append(cells)
    return body


def _decisions(registry, table: str, data: TableData) -> list[str]:
    """The dataset's, the table's and the runs' decisions (``Registry.decisions``), then how
    each row's published numbers were read (row notes), without repeats."""
    items = list(registry.decisions(table))
    for row in data.rows:
        if row.note:
            items.append(f'Row "{row.label}": {row.note}')
    return list(dict.fromkeys(str(item) for item in items))


def statistics_section(runs: pd.DataFrame, registry, tier: str, table: str,
                       results_root: str | Path | None = None) -> str:
    """The bootstrap statistics of a table's SR-TOD rows (``stats.table_statistics``), as
    markdown, with the paragraph that describes the method."""
    frame = table_statistics(runs, registry, tier, table, results_root=results_root)
    if len(frame) == 0:
        return '_This table has no SR-TOD row with a baseline._'
    # the table, run id and baseline are in the sections above; keep the row label
    frame = frame.drop(columns=[c for c in ('table', 'run_id', 'baseline') if c in frame.columns])
    return frame_markdown(frame) + '\n\n' + describe_method()


def chart_name(table: str) -> str:
    """The chart file of a table, relative to ``reports/<tier>/``."""
    return f'figures/{table}_published_vs_reproduced.png'


def render_table(registry, runs: pd.DataFrame, tier: str, table: str, out_dir: str | Path,
                 seeds: int | None = None, results_root: str | Path | None = None) -> str:
    """Write the chart of a table and return the markdown of its report.

    Args:
        registry: the ``Registry``.
        runs: runs.csv as a DataFrame.
        tier: the tier of ``runs``.
        table: ``T1``..``T7`` or ``S1``..``S6``.
        out_dir: ``reports/<tier>``; the chart goes to ``figures/`` under it.
        seeds: use seeds ``0..seeds-1`` (default: all seeds in ``runs``).
        results_root: the folder holding ``<tier>/<run id>/seed<S>/records.npz`` for the
            statistics (default: ``results``).

    Returns:
        The markdown text of ``<table>.md``.
    """
    runs = select_seeds(runs, seeds)
    summaries = summarize_runs(runs)
    data = table_data(registry, summaries, table)
    info = registry.get_table(table)
    title = info.title or table
    n_seeds = max((len(s.seeds_ok) for s in summaries.values()), default=0)
    spread = ' (mean ± std over seeds)' if n_seeds > 1 else ''
    lines = [f'# {table}: {title}', '',
             f'Tier `{tier}`: {TIER_DESCRIPTIONS.get(tier, tier)}. '
             f'Dataset: {info.dataset or "–"}. All numbers in percent (AP) unless noted.',
             '']
    header = ['row', 'run id'] + data.columns
    pub_body = [[label, f'`{r.run_id}`' if r.run_id else '–']
                + [_fmt(v) for v in data.published[i]]
                for i, (label, r) in enumerate(zip(data.labels, data.rows))]
    rep_body, diff_body = [], []
    for i, (label, row) in enumerate(zip(data.labels, data.rows)):
        summary = summaries.get(row.run_id)
        seeds_text = f'{len(summary.seeds_ok)}' if summary is not None else '0'
        t0, t1 = summary.threshold if summary is not None else (math.nan, math.nan)
        thr = (f'{t0 * 255:.2f} → {t1 * 255:.2f}' if math.isfinite(t0) and math.isfinite(t1)
               else '–')
        rep_body.append([label, data.states[i], seeds_text]
                        + [_fmt_mean(m, s) for m, s in zip(data.reproduced[i], data.std[i])]
                        + [thr])
        diff_body.append([label] + [_fmt(d, signed=True)
                                    for d in data.reproduced[i] - data.published[i]])
    lines += ['## Published', '', markdown_table(header, pub_body), '',
              f'## Reproduced{spread}', '',
              markdown_table(['row', 'status', 'seeds'] + data.columns
                             + ['t × 255 (init → final)'], rep_body), '',
              '## Difference (reproduced − published)', '',
              markdown_table(['row'] + data.columns, diff_body), '']
    if 'FPS' in data.columns:
        devices = sorted({str(d) for d in runs.get('fps_device', pd.Series()).dropna()})
        lines += [f'FPS: batch 1 after warm-up on the test images, measured on '
                  f'{", ".join(devices) or "–"} at the `{tier}` tier; the published FPS come '
                  'from other hardware, so compare the SR-TOD / baseline ratios below, not the '
                  'values.',
                  '']
    gains = gain_rows(registry, summaries, data)
    if gains:
        gain_header = ['row', 'baseline']
        for key in data.columns:
            gain_header += [f'{key} pub', f'{key} rep']
        lines += ['## SR-TOD gain over its baseline', '',
                  'Published gain (pub) and reproduced gain (rep) of each SR-TOD row over its '
                  'baseline run; reproduced gains are paired by seed' + spread
                  + '; FPS as a ratio.', '', markdown_table(gain_header, gains), '']
    lines += ['## Statistics', '',
              statistics_section(runs, registry, tier, table, results_root), '']
    chart = chart_name(table)
    plot_published_vs_reproduced(
        Path(out_dir) / chart, f'{table}: {title} ({tier} tier)', data.labels, data.columns,
        data.published, data.reproduced, data.std,
        notes=[s.split(':')[0] if s != STATUS_OK else '' for s in data.states])
    lines += ['## Chart', '', f'![{table}: published vs reproduced]({chart})', '']
    decisions = _decisions(registry, table, data)
    lines += ['## Decisions', '',
              'Where the paper is silent or disagrees with the authors\' code, what the `paper` '
              'tier does and why (configs/experiments.yaml); the slim tiers derive from it.', '']
    lines += [f'- {d}' for d in decisions] if decisions else ['_None recorded._']
    return '\n'.join(lines).rstrip() + '\n'


def _sign_agreement(registry, summaries, data: TableData) -> tuple[int, int]:
    """(rows where the reproduced AP gain has the published gain's sign, SR-TOD rows measured)."""
    agree = total = 0
    for row in data.rows:
        if not _is_srtod_row(row, registry) or 'AP' not in data.columns:
            continue
        base_id = registry.runs[row.run_id].baseline
        pub = row.published.get('AP')
        base_pub = published_value(registry, base_id, 'AP', prefer_table=data.table)
        rep, _ = _gain(summaries, row.run_id, base_id, 'AP')
        if pub is None or not math.isfinite(base_pub) or not math.isfinite(rep):
            continue
        total += 1
        agree += int(np.sign(rep) == np.sign(float(pub) - base_pub))
    return agree, total


def render_index(registry, runs: pd.DataFrame, tier: str, tables: list[str],
                 seeds: int | None = None, extra_links: list[tuple[str, str]] = ()) -> str:
    """The markdown of ``reports/<tier>/index.md``: one line per table, failed runs."""
    summaries = summarize_runs(runs, seeds)
    run_ids = sorted({r.run_id for r in registry.rows
                      if r.table in tables and r.run_id
                      and not r.external})
    counts = {'ok': 0, 'failed': 0, 'incomplete': 0, 'not run': 0}
    for run_id in run_ids:
        counts[summaries[run_id].status if run_id in summaries else 'not run'] += 1
    versions = sorted({str(v) for v in runs.get('code_version', pd.Series()).dropna()})
    lines = [f'# SR-TOD reproduction: `{tier}` tier', '',
             f'Tier `{tier}`: {TIER_DESCRIPTIONS.get(tier, tier)}.', '',
             f'Seeds: {seeds if seeds is not None else "all collected"}. Unique runs of these '
             f'tables: {len(run_ids)} ({counts["ok"]} ok, {counts["failed"]} failed, '
             f'{counts["incomplete"]} incomplete, {counts["not run"]} not run). '
             f'Code version: {", ".join(versions) or "–"}.', '',
             'Each table report lists the published numbers, the reproduced ones, their '
             'difference, the gain of each SR-TOD row over its baseline (published and '
             'reproduced), the statistics and the decisions taken where the paper is open. '
             'All runs: `results/' + tier + '/runs.csv`.', '']
    body = []
    for table in tables:
        data = table_data(registry, summaries, table)
        agree, total = _sign_agreement(registry, summaries, data)
        measured = sum(s == STATUS_OK for s in data.states)
        runnable = sum(not r.external for r in data.rows)
        body.append([f'[{table}]({table}.md)', registry.tables[table].title or '',
                     registry.tables[table].dataset or '–',
                     f'{measured}/{runnable}', f'{agree}/{total}' if total else '–'])
    lines += [markdown_table(['table', 'title', 'dataset', 'rows reproduced',
                              'SR-TOD AP gains with the published sign'], body), '']
    failed = [(run_id, s) for run_id, s in summaries.items()
              if s.status == STATUS_FAILED and run_id in run_ids]
    if failed:
        lines += ['## Failed runs', '']
        lines += [f'- `{run_id}`: ' + '; '.join(s.failures) for run_id, s in failed]
        lines += ['']
    if extra_links:
        lines += ['## More', ''] + [f'- [{text}]({href})' for text, href in extra_links] + ['']
    return '\n'.join(lines).rstrip() + '\n'


def write_reports(registry, runs: pd.DataFrame, tier: str, tables: list[str],
                  out_dir: str | Path, seeds: int | None = None,
                  results_root: str | Path | None = None) -> list[Path]:
    """Write ``<table>.md`` and its chart for each table, then ``index.md``.

    Args:
        registry: the ``Registry``.
        runs: runs.csv as a DataFrame.
        tier: the tier.
        tables: the tables to report, in order.
        out_dir: ``reports/<tier>``.
        seeds: use seeds ``0..seeds-1`` (default: all collected seeds).
        results_root: where the per-image records are (default: ``results``).

    Returns:
        The files written (index last).
    """
    out_dir = Path(out_dir)
    unknown = [t for t in tables if t not in registry.tables]
    if unknown:
        raise InputError(f'unknown table(s) {unknown}; expected some of '
                         + ', '.join(registry.tables))
    written = []
    for table in tables:
        path = out_dir / f'{table}.md'
        write_text(path, render_table(registry, runs, tier, table, out_dir, seeds,
                                             results_root))
        written += [out_dir / chart_name(table), path]
    # claims.md and the difference-map figures come from rules of their own (figures.smk),
    # which the check tier skips (Snakefile)
    links = [] if tier == 'check' else [
        ("the paper's claims, each with the evidence of these runs", 'claims.md'),
        ('difference maps, DGFE features and their separation, per SR-TOD run', 'figures/')]
    index = out_dir / 'index.md'
    write_text(index, render_index(registry, runs, tier, tables, seeds, links))
    written.append(index)
    return written
