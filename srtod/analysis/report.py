"""Table reports: published, reproduced and difference per column, SR-TOD gains, decisions,
charts, figures, provenance and the statistics of each table.

``reports/<tier>/<table>.md`` per table and ``reports/<tier>/index.md``, from the registry
(published numbers, decisions), runs.csv (reproduced numbers and provenance, see
``srtod.analysis.collect``), the per-image records (bootstrap) and the figure panels
``srtod figures`` leaves beside each SR-TOD run (``figure_panel.npz``).

Every figure a page shows is written here, next to the page, before the page; a table report
draws, for its SR-TOD rows, the difference-map panel (paper Fig. 1), the feature panel (paper
Fig. 4) and a forest plot of the gains, and the index shows supplement Fig. 1 when the figures
rule has drawn it.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from srtod.analysis import control, stats
from srtod.analysis.charts import plot_gain_forest, plot_published_vs_reproduced
from srtod.analysis.collect import STATUS_FAILED, STATUS_OK
from srtod.analysis.figure_commands import DATASETS_FIGURE, FIGURES_SEED, PANEL_FILE
from srtod.analysis.format import fmt, fmt_mean, frame_markdown, markdown_table
from srtod.analysis.html import write_html
from srtod.errors import InputError
from srtod.io import write_text
from srtod.vocab import METRIC_KEYS

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
        stale: one line per seed whose numbers no longer match the current config
            (``seed S: reason``, runs.csv's ``stale``).
        code_versions, machines: the code versions and machines of the training of its seeds.
    """
    run_id: str
    status: str = 'not run'
    seeds_ok: list[int] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    threshold: tuple[float, float] = (math.nan, math.nan)
    stale: list[str] = field(default_factory=list)
    code_versions: list[str] = field(default_factory=list)
    machines: list[str] = field(default_factory=list)

    def mean(self, column: str) -> float:
        vals = [v for v in self.values.get(column, {}).values() if math.isfinite(v)]
        return float(np.mean(vals)) if vals else math.nan

    def std(self, column: str) -> float:
        vals = [v for v in self.values.get(column, {}).values() if math.isfinite(v)]
        return float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan


def _text(value) -> str | None:
    """A text cell of runs.csv, None when empty (NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value) or None


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
            if _text(rec.get('stale')):
                summary.stale.append(f'seed {seed}: {rec["stale"]}')
            for attr, column in (('code_versions', 'code_version'), ('machines', 'machine')):
                value = _text(rec.get(column)) or 'not recorded'
                if value not in getattr(summary, attr):
                    getattr(summary, attr).append(value)
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


def _row_state(row, summaries) -> tuple[str, RunSummary | None]:
    if row.external:
        return 'external (published only)', None
    summary = summaries.get(row.run_id)
    if summary is None:
        return 'not run', None
    if summary.status == STATUS_FAILED:
        return 'failed: ' + '; '.join(summary.failures), summary
    if summary.stale:
        return f'{summary.status}, stale ({"; ".join(summary.stale)})', summary
    return summary.status, summary


def _is_srtod_row(row, registry) -> bool:
    """An SR-TOD run with a baseline (a control run of C1/C2 has a baseline but no SR-TOD)."""
    run = registry.runs.get(row.run_id) if row.run_id else None
    return run is not None and run.srtod and bool(run.baseline)


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
                cells += [f'×{fmt(ratio, 2)}' if math.isfinite(ratio) else '–',
                          f'×{fmt_mean(mean, std, 2)}' if math.isfinite(mean) else '–']
            else:
                cells += [fmt(pub - base_pub, signed=True), fmt_mean(mean, std, signed=True)]
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


# -- statistics --------------------------------------------------------------------------------

def table_statistics(runs: pd.DataFrame, registry, tier: str, table: str,
                     results_root: str | Path | None = None) -> pd.DataFrame:
    """The bootstrap statistics of a table's SR-TOD rows (``stats.table_statistics``)."""
    return stats.table_statistics(runs, registry, tier, table, results_root=results_root)


def statistics_section(frame: pd.DataFrame) -> str:
    """A statistics frame as markdown, with the paragraph that describes the method."""
    if len(frame) == 0:
        return '_This table has no SR-TOD row with a baseline._'
    # the table, run id and baseline are in the sections above; keep the row label
    frame = frame.drop(columns=[c for c in ('table', 'run_id', 'baseline') if c in frame.columns])
    return frame_markdown(frame) + '\n\n' + stats.describe_method()


def rank_column(data: TableData) -> str | None:
    """The column the rank agreement uses: AP, else the table's first column."""
    if 'AP' in data.columns:
        return 'AP'
    return data.columns[0] if data.columns else None


def table_rank_agreement(data: TableData) -> tuple[float, int, str | None]:
    """(Spearman rho, rows, column) between the published and reproduced values of the rows."""
    column = rank_column(data)
    if column is None:
        return math.nan, 0, None
    j = data.columns.index(column)
    rho, n = stats.rank_agreement(data.published[:, j], data.reproduced[:, j])
    return rho, n, column


#: Tiers whose APs come from randomly initialised models trained for a few iterations: their
#: order of rows says nothing, so no rank agreement is printed (a ρ would read as evidence).
UNRANKED_TIERS = ('check',)


def rank_text(rho: float, n: int, tier: str | None = None) -> str:
    if tier in UNRANKED_TIERS:
        return f'– (n = {n}; `{tier}` tier: random weights, the order of rows means nothing)'
    return f'ρ = {fmt(rho, 2)} (n = {n})' if math.isfinite(rho) else f'– (n = {n})'


def signs_text(counts: dict) -> str:
    """``above/judged`` gains above noise, with the rows left unjudged for too few seeds."""
    text = f'{counts["above"]}/{counts["judged"]}' if counts['judged'] else '–'
    if counts['too_few']:
        text += f' ({counts["too_few"]} with too few seeds)'
    return text


# -- anchor-scale controls (C1, C2) ------------------------------------------------------------

SPLIT_HEADER = ['row', 'metric', 'part', 'published total gain', 'reproduced', '95% interval',
                'seeds', 'verdict']


def split_section(registry, summaries, table: str, frame: pd.DataFrame) -> list[str]:
    """The lines of a control table's split: the three runs of each detector side by side,
    then each part of the gain with its interval and verdict (``control.split_statistics``)."""
    rows = control.control_rows(registry, table)
    keys = list(dict.fromkeys(frame['key'])) if len(frame) else list(control.SPLIT_KEYS)
    side = []
    for row in rows:
        base, ctrl, srtod = control.trio(registry, row.run_id)
        k = registry.runs[ctrl].anchor_scale
        cells = [row.label, f'`{base}` ({control.BASELINE_ANCHOR_SCALE}), `{ctrl}` ({k}), '
                            f'`{srtod}` ({k})']
        for key in keys:
            for run_id in (base, ctrl, srtod):
                s = summaries.get(run_id)
                cells.append(fmt_mean(s.mean(key), s.std(key)) if s is not None else '–')
        side.append(cells)
    side_header = ['row', 'runs (RPN anchor scale)']
    for key in keys:
        side_header += [f'{key} baseline', f'{key} control', f'{key} SR-TOD']
    body = []
    for rec in frame.itertuples(index=False):
        what = dict(control.PARTS)[rec.part]
        measured = math.isfinite(rec.low)
        body.append([rec.row, rec.key, f'{rec.part} ({what})',
                     fmt(rec.published_gain, signed=True) if rec.part != 'anchors' else '–',
                     fmt_mean(rec.reproduced_gain, rec.reproduced_gain_std, 2, signed=True),
                     f'[{fmt(rec.low, 2)}, {fmt(rec.high, 2)}]' if measured else '–',
                     rec.seeds, rec.verdict + (f' ({rec.note})' if rec.note else '')])
    return ['## Anchors and SR-TOD: the split of each gain', '',
            f'Each detector\'s baseline (RPN anchor scale {control.BASELINE_ANCHOR_SCALE}, as the '
            'published baselines), this table\'s control (the baseline at the SR-TOD run\'s '
            'scale) and the SR-TOD run, reproduced (mean ± std over seeds); then the parts of '
            'each SR-TOD gain.', '',
            markdown_table(side_header, side), '',
            markdown_table(SPLIT_HEADER, body) if body else '_No control row._', '',
            control.describe_split() + ' Intervals: 1000 resamples of the two-level paired '
            'bootstrap (training seeds, then test images; the 95% percentile range), scored on '
            'the area range of each metric. "above noise" / "below noise" / "within noise": the '
            f'interval lies above zero, below it, or contains it; fewer than {stats.MIN_SEEDS} '
            'seeds give "too few seeds".', '']


def split_note(registry, runs: pd.DataFrame, data: TableData) -> list[str]:
    """For a table whose SR-TOD rows have an anchor-scale control (Tables 2, 3): how each
    reproduced AP gain splits into anchors and SR-TOD, with a link to the control table."""
    items = []
    for row in data.rows:
        if not _is_srtod_row(row, registry):
            continue
        ctrl = control.control_of(registry, row.run_id)
        if ctrl is None:
            continue
        where = [r.table for r in control.control_rows(registry) if r.run_id == ctrl]
        link = f'[{where[0]}]({where[0]}.md)' if where else f'`{ctrl}`'
        p = control.point_split(runs, registry, ctrl)
        k = registry.runs[ctrl].anchor_scale
        if p['seeds']:
            text = (f'reproduced AP gain {fmt(p["total"], 2, True)}, of which anchors (scale '
                    f'{control.BASELINE_ANCHOR_SCALE} → {k}) {fmt(p["anchors"], 2, True)} and '
                    f'SR-TOD {fmt(p["SR-TOD proper"], 2, True)} '
                    f'({p["seeds"]} seed{"s" if p["seeds"] != 1 else ""})')
        else:
            text = f'not split: no seed finished by the baseline, `{ctrl}` and this run'
        items.append(f'- {row.label}: {text}; the split and its intervals: {link}.')
    if not items:
        return []
    return ['Anchor scale: these SR-TOD rows ran at another RPN anchor scale than their '
            'baselines (as the authors\' configs); a control run, the baseline at the SR-TOD '
            'scale, splits each gain into the anchors\' part and SR-TOD\'s:', ''] + items + ['']


# -- figures -----------------------------------------------------------------------------------

def chart_name(table: str) -> str:
    """The chart of a table, relative to ``reports/<tier>/``."""
    return f'figures/{table}_published_vs_reproduced.png'


def maps_name(table: str) -> str:
    """The Fig. 1 panel of a table's SR-TOD rows, relative to ``reports/<tier>/``."""
    return f'figures/{table}_difference_maps.png'


def features_name(table: str) -> str:
    """The Fig. 4 panel of a table's SR-TOD rows, relative to ``reports/<tier>/``."""
    return f'figures/{table}_features.png'


def forest_name(table: str) -> str:
    """The forest plot of a table's SR-TOD gains, relative to ``reports/<tier>/``."""
    return f'figures/{table}_gains.png'


#: Supplement Fig. 1, drawn by the figures rule (``srtod figures --datasets``).
DATASETS_FIGURE_PATH = f'figures/{DATASETS_FIGURE}'


def load_panel(tier: str, run_id: str, results_root=None) -> dict | None:
    """The ``figure_panel.npz`` of a run (seed 0), or None when absent, when the run failed or
    when an older ``srtod figures`` wrote it (without the maps of the panels)."""
    from srtod.analysis.figures import PANEL_FORMAT
    path = stats.records_path(tier, run_id, FIGURES_SEED, results_root).with_name(PANEL_FILE)
    if not path.is_file():
        return None
    with np.load(path) as data:
        if 'failed' in data.files or 'format' not in data.files \
                or int(data['format']) < PANEL_FORMAT:
            return None
        return {key: data[key] for key in data.files}


def _srtod_rows(registry, data: TableData) -> list:
    return [row for row in data.rows if not row.external and _is_srtod_row(row, registry)]


def srtod_tables(registry, tables) -> list[str]:
    """The tables with SR-TOD rows: those whose report draws the panels and the forest plot."""
    return [t for t in tables
            if any(not r.external and _is_srtod_row(r, registry) for r in registry.tables[t].rows)]


def srtod_table_runs(registry, tables) -> list[str]:
    """The SR-TOD runs whose figure panels the reports of ``tables`` show."""
    return sorted({r.run_id for t in tables for r in registry.tables[t].rows
                   if not r.external and _is_srtod_row(r, registry)})


def write_table_figures(registry, tier: str, data: TableData, statistics: pd.DataFrame,
                        out_dir: str | Path, results_root=None) -> list[tuple[str, str]]:
    """Draw the Fig. 1 panel, the Fig. 4 panel and the forest plot of a table's SR-TOD rows.

    Returns:
        (relative path, caption) of each figure written, in page order (empty without SR-TOD
        rows).
    """
    from srtod.analysis.figures import plot_table_features, plot_table_maps

    rows = _srtod_rows(registry, data)
    if not rows:
        return []
    out_dir = Path(out_dir)
    label = f'{data.table} ({tier} tier)'
    panels = [(textwrap.fill(str(row.label), 18), load_panel(tier, row.run_id, results_root))
              for row in rows]
    plot_table_maps(panels, out_dir / maps_name(data.table),
                    f'{label}: image, reconstruction, difference map D, binarised D_b')
    plot_table_features(panels, out_dir / features_name(data.table),
                        f'{label}: P2 of the baseline, of SR-TOD before and after DGFE')
    by_run = statistics.set_index('run_id') if len(statistics) else None
    pub, gain, low, high, verdicts = [], [], [], [], []
    for row in rows:
        rec = by_run.loc[row.run_id] if by_run is not None and row.run_id in by_run.index \
            else None
        if isinstance(rec, pd.DataFrame):
            rec = rec.iloc[0]
        get = (lambda k: math.nan if rec is None or rec[k] is None else float(rec[k]))
        pub.append(get('published_gain'))
        gain.append(get('reproduced_gain'))
        low.append(get('low'))
        high.append(get('high'))
        verdicts.append('' if rec is None else str(rec['verdict']))
    plot_gain_forest(out_dir / forest_name(data.table),
                     f'{label}: SR-TOD AP gain over its baseline',
                     [str(row.label) for row in rows], pub, gain, low, high, verdicts)
    return [
        (maps_name(data.table),
         'Paper Fig. 1 for each SR-TOD row (seed 0, the test image with the most tiny objects, '
         'zoomed crop): the image with its ground-truth boxes (dashed), the reconstruction, the '
         'difference map D and the map binarised at the learned threshold t.'),
        (features_name(data.table),
         'Paper Fig. 4 for each SR-TOD row, same crop: mean |P2| of the baseline detector (own '
         'colour scale), and of SR-TOD before and after DGFE (one shared scale).'),
        (forest_name(data.table),
         'Each SR-TOD row\'s AP gain over its baseline: reproduced (dot, 95% two-level '
         'bootstrap interval) and published (red diamond), with the verdict at the right.'),
    ]


MECHANISM_HEADER = ['row', 'run id', 'seeds', 'rec PSNR (dB)', 'mean colour PSNR (dB)',
                    'PSNR gain (dB)', 'AUC very tiny: D', 'AUC very tiny: constant',
                    'AUC very tiny gain', 'AUC all: D', 'AUC all: constant']


def mechanism_section(registry, runs: pd.DataFrame, data: TableData) -> list[str]:
    """The mechanism of a table's SR-TOD rows (srtod.analysis.mechanism), median over seeds;
    no lines for a table without SR-TOD rows."""
    from srtod.analysis.mechanism import seed_table
    rows = _srtod_rows(registry, data)
    if not rows:
        return []
    table = seed_table(runs)
    body = []
    for label, row in ((lab, r) for lab, r in zip(data.labels, data.rows) if r in rows):
        group = table[table['run_id'] == row.run_id]
        median = (lambda column: group[column].median() if len(group) else math.nan)
        body.append([label, f'`{row.run_id}`', len(group),
                     fmt(median('rec_psnr'), 2), fmt(median('rec_psnr_constant'), 2),
                     fmt(median('rec_psnr_gain'), 2, True),
                     fmt(median('auc_very_tiny'), 3), fmt(median('auc_very_tiny_constant'), 3),
                     fmt(median('auc_very_tiny_gain'), 3, True),
                     fmt(median('auc_all'), 3), fmt(median('auc_all_constant'), 3)])
    return ['## Mechanism', '',
            'Does each SR-TOD row work as the paper says (P 3.2-3.3)? On the whole test split, '
            'median over the seeds measured (`srtod test` measures every seed, via runs.csv): '
            'the PSNR of the reconstruction against the PSNR of the best constant image (the '
            'per-image mean colour), and the ROC AUC of D inside the boxes of very tiny (and all) '
            'objects against the background, beside the AUC of the map that the mean-colour '
            'reconstruction gives; a gain is the median over seeds of the per-seed difference. '
            'A reconstruction near the mean colour, or a D no better than the constant map, '
            'means the head learned little beyond the average image.',
            '', markdown_table(MECHANISM_HEADER, body), '']


def _figure_markdown(figures: list[tuple[str, str]]) -> list[str]:
    lines = []
    for path, caption in figures:
        lines += [f'![{Path(path).stem}]({path})', '', f'_{caption}_', '']
    return lines


# -- provenance --------------------------------------------------------------------------------

def provenance_rows(runs: pd.DataFrame, run_ids) -> list[list]:
    """Per run id and seed: code version, machine, config hash, run version, stale."""
    body = []
    if not len(runs):
        return body
    for _, rec in runs[runs['run_id'].isin(list(run_ids))].sort_values(
            ['run_id', 'seed']).iterrows():
        version = pd.to_numeric(pd.Series([rec.get('run_version')]), errors='coerce').iloc[0]
        code, where = _text(rec.get('code_version')), _text(rec.get('machine'))
        tested = (_text(rec.get('test_code_version')), _text(rec.get('test_machine')))
        body.append([f'`{rec["run_id"]}`', int(rec['seed']), code or 'not recorded',
                     where or 'not recorded',
                     'not recorded' if tested == (None, None) else 'same'
                     if tested == (code, where) else '; '.join(t or '?' for t in tested),
                     _text(rec.get('config_hash')) or 'not recorded',
                     int(version) if math.isfinite(version) else 'not recorded',
                     _text(rec.get('stale')) or 'no'])
    return body


PROVENANCE_HEADER = ['run id', 'seed', 'code version', 'machine (training)',
                     'test (code; machine)', 'config hash', 'run version', 'stale']


# -- pages -------------------------------------------------------------------------------------

def render_table(registry, runs: pd.DataFrame, tier: str, table: str, out_dir: str | Path,
                 seeds: int | None = None, results_root: str | Path | None = None,
                 statistics: pd.DataFrame | None = None,
                 split: pd.DataFrame | None = None) -> str:
    """Write the figures of a table and return the markdown of its report.

    Args:
        registry: the ``Registry``.
        runs: runs.csv as a DataFrame.
        tier: the tier of ``runs``.
        table: ``T1``..``T7`` or ``S1``..``S6``.
        out_dir: ``reports/<tier>``; the figures go to ``figures/`` under it.
        seeds: use seeds ``0..seeds-1`` (default: all seeds in ``runs``).
        results_root: the folder holding ``<tier>/<run id>/seed<S>/`` (records.npz for the
            statistics, figure_panel.npz for the figures; default: ``results``).
        statistics: the table's ``table_statistics`` when already computed.
        split: a control table's ``control.split_statistics`` when already computed (tables
            C1, C2; computed here when absent).

    Returns:
        The markdown text of ``<table>.md``.
    """
    runs = select_seeds(runs, seeds)
    summaries = summarize_runs(runs)
    data = table_data(registry, summaries, table)
    if statistics is None:
        statistics = table_statistics(runs, registry, tier, table, results_root)
    info = registry.get_table(table)
    title = info.title or table
    n_seeds = max((len(s.seeds_ok) for s in summaries.values()), default=0)
    spread = ' (mean ± std over seeds)' if n_seeds > 1 else ''
    stale = [r for r in data.rows if r.run_id in summaries and summaries[r.run_id].stale]
    lines = [f'# {table}: {title}', '',
             f'Tier `{tier}`: {TIER_DESCRIPTIONS.get(tier, tier)}. '
             f'Dataset: {info.dataset or "–"}. All numbers in percent (AP) unless noted.', '']
    if stale:
        lines += [f'**Stale rows: {len(stale)}.** Their numbers come from a config or run '
                  'version other than the current one (see Provenance); rerun the workflow to '
                  'retrain them.', '']
    header = ['row', 'run id'] + data.columns
    pub_body = [[label, f'`{r.run_id}`' if r.run_id else '–']
                + [fmt(v) for v in data.published[i]]
                for i, (label, r) in enumerate(zip(data.labels, data.rows))]
    rep_body, diff_body = [], []
    for i, (label, row) in enumerate(zip(data.labels, data.rows)):
        summary = summaries.get(row.run_id)
        seeds_text = f'{len(summary.seeds_ok)}' if summary is not None else '0'
        t0, t1 = summary.threshold if summary is not None else (math.nan, math.nan)
        thr = (f'{t0 * 255:.2f} → {t1 * 255:.2f}' if math.isfinite(t0) and math.isfinite(t1)
               else '–')
        rep_body.append([label, data.states[i], seeds_text]
                        + [fmt_mean(m, s) for m, s in zip(data.reproduced[i], data.std[i])]
                        + [thr])
        diff_body.append([label] + [fmt(d, signed=True)
                                    for d in data.reproduced[i] - data.published[i]])
    rho, n_rank, rank_key = table_rank_agreement(data)
    lines += ['## Published', '', markdown_table(header, pub_body), '',
              f'## Reproduced{spread}', '',
              markdown_table(['row', 'status', 'seeds'] + data.columns
                             + ['t × 255 (init → final)'], rep_body), '',
              '## Difference (reproduced − published)', '',
              markdown_table(['row'] + data.columns, diff_body), '',
              f'Rank agreement: Spearman correlation between the published and the reproduced '
              f'{rank_key or "–"} of the rows run, {rank_text(rho, n_rank, tier)}: 1 when the '
              'reproduction orders the rows as the paper does, whatever the absolute level.', '']
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
        lines += split_note(registry, runs, data)
    if control.control_rows(registry, table):
        if split is None:
            split = control.split_statistics(runs, registry, tier, [table],
                                             results_root=results_root)
        lines += split_section(registry, summaries, table, split)
    lines += ['## Statistics', '',
              '_The statistics of this control table are its split above._'
              if control.control_rows(registry, table) and not len(statistics)
              else statistics_section(statistics), '']
    lines += mechanism_section(registry, runs, data)
    figures = [(chart_name(table), 'Published (grey) and reproduced (blue) value of every row, '
                                   'one panel per column; error bars: std over seeds.')]
    plot_published_vs_reproduced(
        Path(out_dir) / chart_name(table), f'{table}: {title} ({tier} tier)', data.labels,
        data.columns, data.published, data.reproduced, data.std,
        notes=[s.split(':')[0].split(',')[0] if s != STATUS_OK else '' for s in data.states])
    figures += write_table_figures(registry, tier, data, statistics, out_dir, results_root)
    lines += ['## Figures', ''] + _figure_markdown(figures)
    run_ids = [r.run_id for r in data.rows if r.run_id and not r.external]
    lines += ['## Provenance', '',
              'What made each number: the code version and machine of the training (and of '
              'the test, where they differ), the hash of the resolved config and the run '
              'version it trained with. A row is stale when '
              'the config or version recorded differs from the current one (or was not '
              'recorded).', '',
              markdown_table(PROVENANCE_HEADER, provenance_rows(runs, run_ids))
              if run_ids and len(runs) else '_No run of this table has been trained._', '']
    decisions = _decisions(registry, table, data)
    lines += ['## Decisions', '',
              'Where the paper is silent or disagrees with the authors\' code, what the `paper` '
              'tier does and why (configs/experiments.yaml); the slim tiers derive from it.', '']
    lines += [f'- {d}' for d in decisions] if decisions else ['_None recorded._']
    return '\n'.join(lines).rstrip() + '\n'


def code_version_rows(registry, summaries, runs: pd.DataFrame, tables) -> list[list]:
    """Per code version: the machines, the runs and the rows of each table it produced."""
    by_version: dict[str, dict] = {}
    for _, rec in runs.iterrows():
        version = _text(rec.get('code_version')) or 'not recorded'
        entry = by_version.setdefault(version, dict(machines=set(), runs=set()))
        entry['machines'].add(_text(rec.get('machine')) or 'not recorded')
        entry['runs'].add(str(rec['run_id']))
    body = []
    for version, entry in sorted(by_version.items()):
        per_table = []
        for table in tables:
            n = sum(1 for r in registry.rows
                    if r.table == table and r.run_id in entry['runs'] and not r.external)
            if n:
                per_table.append(f'{table} ({n})')
        body.append([version, '; '.join(sorted(entry['machines'])), len(entry['runs']),
                     ', '.join(per_table) or '–'])
    return body


def render_index(registry, runs: pd.DataFrame, tier: str, tables: list[str],
                 seeds: int | None = None, extra_links: list[tuple[str, str]] = (),
                 statistics: dict | None = None, results_root=None,
                 datasets_figure: bool = False, invocation: dict | None = None,
                 now: float | None = None) -> str:
    """The markdown of ``reports/<tier>/index.md``.

    Args:
        registry, runs, tier, tables, seeds: as :func:`write_reports`.
        extra_links: (text, href) links listed at the end.
        statistics: table -> its ``table_statistics`` (computed here when absent).
        results_root: where the per-image records are (default ``results``).
        datasets_figure: show supplement Fig. 1 (``DATASETS_FIGURE_PATH``, which must exist).
        invocation: the record of the workflow invocation writing the report
            (srtod.workflow.read_invocation), for the measured wall time; None: not measured.
        now: when the report is written (time.time(); default now).
    """
    from srtod.workflow import wall_time_text

    runs = select_seeds(runs, seeds)
    summaries = summarize_runs(runs)
    run_ids = sorted({r.run_id for r in registry.rows
                      if r.table in tables and r.run_id and not r.external})
    counts = {'ok': 0, 'failed': 0, 'incomplete': 0, 'not run': 0}
    for run_id in run_ids:
        counts[summaries[run_id].status if run_id in summaries else 'not run'] += 1
    stale_runs = [r for r in run_ids if r in summaries and summaries[r].stale]
    lines = [f'# SR-TOD reproduction: `{tier}` tier', '',
             f'Tier `{tier}`: {TIER_DESCRIPTIONS.get(tier, tier)}.', '',
             f'Seeds: {seeds if seeds is not None else "all collected"}. Unique runs of these '
             f'tables: {len(run_ids)} ({counts["ok"]} ok, {counts["failed"]} failed, '
             f'{counts["incomplete"]} incomplete, {counts["not run"]} not run; '
             f'{len(stale_runs)} stale).', '',
             wall_time_text(invocation, _trainings(runs, run_ids), now), '',
             'Each table report lists the published numbers, the reproduced ones, their '
             'difference, the gain of each SR-TOD row over its baseline (published and '
             'reproduced), the statistics, the figures of its SR-TOD rows, the provenance of '
             'each number and the decisions taken where the paper is open. '
             'All runs: `results/' + tier + '/runs.csv`.', '',
             '"rows run": rows whose run finished on every selected seed (a row can be run and '
             'far from its published value: see the Difference section of each table). '
             '"stale rows": rows whose numbers come from another config or run version than '
             'the current one. "SR-TOD gains above noise": SR-TOD rows whose two-level '
             'bootstrap interval lies above zero, out of the rows with a verdict on a '
             f'published gain (fewer than {stats.MIN_SEEDS} seeds give no verdict). "rank '
             'agreement": Spearman correlation between the published and the reproduced AP of '
             'the rows run.', '']
    body = []
    for table in tables:
        data = table_data(registry, summaries, table)
        frame = (statistics or {}).get(table)
        if frame is None:
            frame = table_statistics(runs, registry, tier, table, results_root)
        measured = sum(1 for r in data.rows if not r.external and r.run_id in summaries
                       and summaries[r.run_id].status == STATUS_OK)   # stale rows ran too
        stale = sum(1 for r in data.rows if r.run_id in summaries and summaries[r.run_id].stale)
        runnable = sum(not r.external for r in data.rows)
        rho, n_rank, _ = table_rank_agreement(data)
        body.append([f'[{table}]({table}.md)', registry.tables[table].title or '',
                     registry.tables[table].dataset or '–', f'{measured}/{runnable}',
                     str(stale), signs_text(stats.sign_counts(frame)),
                     rank_text(rho, n_rank, tier)])
    lines += [markdown_table(['table', 'title', 'dataset', 'rows run', 'stale rows',
                              'SR-TOD gains above noise', 'rank agreement'], body), '']
    if datasets_figure:
        caption = ('Supplement Fig. 1: for one SR-TOD run per dataset, a crop of a test image '
                   'with its ground-truth boxes (top) and the difference map D (bottom).')
        lines += ['## Difference maps across datasets', '', f'![{caption}]({DATASETS_FIGURE_PATH})',
                  '', f'_{caption}_', '']
    in_tables = runs[runs['run_id'].isin(run_ids)] if len(runs) else runs
    lines += ['## Code versions', '',
              'Which code and machine produced which rows (training; `runs.csv` has the test\'s '
              'too).', '',
              markdown_table(['code version', 'machines', 'runs', 'rows per table'],
                             code_version_rows(registry, summaries, in_tables, tables))
              if len(in_tables) else '_No run trained yet._', '']
    lines += ['## Cost per run', '',
              'What each run cost to train and test, as its train.json and metrics.json record '
              'it: seconds per training iteration (the first iteration of each attempt left '
              'out), peak memory (the process\'s peak RSS on a CPU, the peak allocation on a '
              'GPU), and the wall time of the training and of the test, in seconds. Means over '
              'the seeds collected; peak memory is the largest of them.', '',
              markdown_table(['run', 'seeds', 'iterations', 'threads', 's/iter',
                              'peak memory (GB)', 'measured as', 'training (s)', 'test (s)'],
                             cost_rows(in_tables), digits=1)
              if len(in_tables) else '_No run trained yet._', '']
    if stale_runs:
        lines += ['## Stale runs', '']
        lines += [f'- `{r}`: ' + '; '.join(summaries[r].stale) for r in stale_runs] + ['']
    failed = [(run_id, s) for run_id, s in summaries.items()
              if s.status == STATUS_FAILED and run_id in run_ids]
    if failed:
        lines += ['## Failed runs', '']
        lines += [f'- `{run_id}`: ' + '; '.join(s.failures) for run_id, s in failed]
        lines += ['']
    if extra_links:
        lines += ['## More', ''] + [f'- [{text}]({href})' for text, href in extra_links] + ['']
    return '\n'.join(lines).rstrip() + '\n'


#: How runs.csv's ``memory_measure`` reads in a report.
MEMORY_MEASURES = {'cpu_ru_maxrss': 'CPU peak RSS',
                   'cuda_max_memory_allocated': 'GPU peak allocation'}


def cost_rows(runs: pd.DataFrame) -> list[list]:
    """The rows of index.md's cost table: one per run id of ``runs``, by run id.

    Columns: run, seeds, iterations, torch threads, seconds per iteration (mean over seeds),
    peak memory in GB (the largest over seeds), how it was measured, training and test wall
    time in seconds (means over seeds). A value runs.csv lacks (older train.json, run not
    tested) is missing.
    """
    def column(group, name):
        if name not in group:
            return pd.Series(dtype=float)
        return pd.to_numeric(group[name], errors='coerce').dropna()

    body = []
    for run_id, group in runs.groupby('run_id', sort=True):
        measures = sorted({MEMORY_MEASURES.get(m, m) for m in group.get('memory_measure', [])
                           if _text(m)})
        peak = column(group, 'peak_memory_mb')
        threads = sorted({int(t) for t in column(group, 'torch_threads')})
        iterations = sorted({int(t) for t in column(group, 'iterations')})
        body.append([f'`{run_id}`', len(group), ', '.join(map(str, iterations)) or None,
                     ', '.join(map(str, threads)) or None,
                     column(group, 'seconds_per_iter').mean(),
                     peak.max() / 1024.0 if len(peak) else None, ', '.join(measures) or None,
                     column(group, 'wall_time_s').mean(), column(group, 'test_wall_time_s').mean()])
    return body


def _trainings(runs: pd.DataFrame, run_ids) -> int:
    """The (run, seed) rows of ``runs`` among ``run_ids``: the trainings index.md shows."""
    return int(runs['run_id'].isin(run_ids).sum()) if len(runs) else 0


def write_reports(registry, runs: pd.DataFrame, tier: str, tables: list[str],
                  out_dir: str | Path, seeds: int | None = None,
                  results_root: str | Path | None = None,
                  invocation: dict | None = None) -> list[Path]:
    """Write ``<table>.md`` and its figures for each table, then ``index.md``; and the HTML copy
    of each page (``html/``, figures inlined) for ``snakemake --report``.

    Args:
        registry: the ``Registry``.
        runs: runs.csv as a DataFrame.
        tier: the tier.
        tables: the tables to report, in order.
        out_dir: ``reports/<tier>``.
        seeds: use seeds ``0..seeds-1`` (default: all collected seeds).
        results_root: where the per-image records and figure panels are (default: ``results``).
        invocation: the record of the workflow invocation (its start, for index.md's wall
            time); default ``logs/<tier>/workflow.json`` of the working directory, which the
            workflow's onstart handler writes (srtod.workflow.record_invocation).

    Returns:
        The files written (index last).
    """
    out_dir = Path(out_dir)
    unknown = [t for t in tables if t not in registry.tables]
    if unknown:
        raise InputError(f'unknown table(s) {unknown}; expected some of '
                         + ', '.join(registry.tables))
    selected = select_seeds(runs, seeds)
    written, statistics = [], {}
    for table in tables:
        statistics[table] = table_statistics(selected, registry, tier, table, results_root)
        path = out_dir / f'{table}.md'
        write_text(path, render_table(registry, selected, tier, table, out_dir, seeds,
                                      results_root, statistics[table]))
        written += [out_dir / chart_name(table), path, write_html(path)]
    # claims.md and supplement Fig. 1 come from rules of their own (figures.smk), which the
    # check tier skips (Snakefile)
    links = [] if tier == 'check' else [
        ("the paper's claims, each with the evidence of these runs", 'claims.md')]
    if invocation is None:
        from srtod.workflow import read_invocation
        invocation = read_invocation(tier)
    index = out_dir / 'index.md'
    write_text(index, render_index(registry, selected, tier, tables, seeds, links, statistics,
                                   results_root, (out_dir / DATASETS_FIGURE_PATH).is_file(),
                                   invocation))
    written += [write_html(index), index]
    return written
