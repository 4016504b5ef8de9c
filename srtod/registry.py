"""The experiment registry: ``configs/experiments.yaml`` -> rows and runs -> tiered mmengine configs.

Every row of the paper's and the supplement's tables points to a run id
(``<dataset>/<detector>[+srtod[-<variant>]]``); rows that are the same experiment share a run, so
each run is trained once whatever tables ask for it. The file is checked against
``configs/experiments.schema.yaml`` (closed objects: an unknown key is an error) and then for what
a schema cannot say: duplicate keys, rows naming undefined runs, baselines, datasets.

A run's ``paper`` config is ``configs/mmdet/runs/<run id>.py``; :func:`resolve_config` loads it
with mmengine and lets :mod:`srtod.tiers` derive the ``smoke`` and ``tiny`` tiers from it.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import warnings
from pathlib import Path
from typing import Iterable

import yaml

from srtod.errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY = REPO_ROOT / 'configs' / 'experiments.yaml'
SCHEMA_PATH = REPO_ROOT / 'configs' / 'experiments.schema.yaml'
RUN_CONFIG_DIR = REPO_ROOT / 'configs' / 'mmdet' / 'runs'

DATASETS = ('droneswarms', 'visdrone', 'aitod', 'dota')
DETECTORS = ('faster_rcnn', 'cascade_rcnn', 'retinanet', 'atss', 'dyhead', 'cascade_rpn',
             'tridentnet', 'detectors', 'rfla', 'nasfpn')
VARIANTS = ('rh', 'em', 'concat', 'thr_none', 'thr_fixed', 'rw', 'dm', 'hfd', 'pdm', 'ste')
TIERS = ('paper', 'smoke', 'tiny')
COLUMNS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'FPS')
RUN_ID_RE = re.compile(
    r'^(droneswarms|visdrone|aitod|dota)/([a-z0-9_]+)(\+srtod(?:-([a-z0-9_]+))?)?$')
_T_VARIANT_RE = re.compile(r'^t([0-9]+)$')


@dataclasses.dataclass(frozen=True)
class Row:
    """One printed row of a table.

    Args:
        table: table id (``T1``..``T7``, ``S1``..``S6``).
        label: the row's label as printed.
        run_id: the run that reproduces it; None for an external row.
        published: column -> published value (None where the paper gives none).
        external: a method this stack cannot run (published numbers only).
        note: how a number was read or derived.
    """

    table: str
    label: str
    run_id: str | None
    published: dict
    external: bool = False
    note: str = ''


@dataclasses.dataclass(frozen=True)
class Run:
    """One unique experiment (a training and a test).

    Args:
        run_id: ``<dataset>/<detector>[+srtod[-<variant>]]``.
        dataset: one of :data:`DATASETS`.
        detector: one of :data:`DETECTORS`.
        variant: None (the baseline detector), ``''`` (the paper's default SR-TOD) or a variant
            name (``rh``, ``em``, ..., ``t<k>`` for T_init = k/255).
        baseline: the run an SR-TOD run's gain is measured against, or None.
        decisions: settings decided for this run, each with its reason.
        version: bumped when the meaning of the run changes.
    """

    run_id: str
    dataset: str
    detector: str
    variant: str | None
    baseline: str | None = None
    decisions: tuple = ()
    version: int = 1

    @property
    def srtod(self) -> bool:
        """Whether the run uses SR-TOD (any variant)."""
        return self.variant is not None

    @property
    def config_path(self) -> Path:
        """The run's paper-tier mmdet config, ``configs/mmdet/runs/<run id>.py``."""
        return RUN_CONFIG_DIR / f'{self.run_id}.py'


@dataclasses.dataclass(frozen=True)
class Table:
    """One table of the paper or the supplement.

    Args:
        table_id: ``T1``..``T7`` or ``S1``..``S6``.
        title: its caption, shortened.
        source: where it is printed.
        dataset: the dataset of all its runs.
        columns: the published columns in the printed order.
        decisions: decisions specific to the table.
        rows: its rows, in the printed order.
    """

    table_id: str
    title: str
    source: str
    dataset: str
    columns: tuple
    decisions: tuple
    rows: tuple


def parse_run_id(run_id: str) -> tuple[str, str, str | None]:
    """Split a run id into (dataset, detector, variant).

    Returns:
        tuple: variant None for a plain detector, ``''`` for ``+srtod``, else the variant name.

    Raises:
        InputError: the id does not follow ``<dataset>/<detector>[+srtod[-<variant>]]`` or names
            an unknown dataset, detector or variant.
    """
    m = RUN_ID_RE.match(run_id or '')
    if not m:
        raise InputError(f'run id {run_id!r} does not match <dataset>/<detector>[+srtod[-<variant>]] '
                         f'with dataset one of {list(DATASETS)}')
    dataset, detector, srtod, variant = m.groups()
    if detector not in DETECTORS:
        raise InputError(f'run id {run_id!r}: unknown detector {detector!r}; expected one of '
                         f'{list(DETECTORS)}{_suggest(detector, DETECTORS)}')
    if srtod is None:
        return dataset, detector, None
    variant = variant or ''
    if variant and variant not in VARIANTS and not _T_VARIANT_RE.match(variant):
        raise InputError(f'run id {run_id!r}: unknown SR-TOD variant {variant!r}; expected one of '
                         f'{list(VARIANTS)} or t<k> (T_init = k/255){_suggest(variant, VARIANTS)}')
    return dataset, detector, variant


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f' (did you mean {", ".join(close)}?)' if close else ''


class Registry:
    """The loaded ``experiments.yaml``: tables, rows and runs (see :func:`load_registry`).

    Attributes:
        path: the file it was read from.
        version: the format version.
        datasets: dataset -> list of decisions for its paper-tier settings.
        tables: table id -> :class:`Table`, in the file's order.
        rows: every row of every table, in order.
        runs: run id -> :class:`Run`, in the file's order.
    """

    def __init__(self, path: Path, version: int, datasets: dict, tables: dict, runs: dict):
        self.path = path
        self.version = version
        self.datasets = datasets
        self.tables = tables
        self.rows = [row for table in tables.values() for row in table.rows]
        self.runs = runs

    def get_run(self, run_id: str) -> Run:
        """The run with this id; an unknown id raises InputError with close matches."""
        try:
            return self.runs[run_id]
        except KeyError:
            raise InputError(f'unknown run id {run_id!r}{_suggest(run_id, self.runs)}; '
                             '`srtod runs` lists them', path=self.path) from None

    def get_table(self, table_id: str) -> Table:
        """The table with this id; an unknown id raises InputError with close matches."""
        try:
            return self.tables[table_id]
        except KeyError:
            raise InputError(f'unknown table {table_id!r}{_suggest(table_id, self.tables)}; '
                             f'expected one of {list(self.tables)}', path=self.path) from None

    def run_ids(self, tables: Iterable[str] | None = None) -> list[str]:
        """Unique run ids of the given tables (all tables by default), in first-use order."""
        ids = list(self.tables) if tables is None else [self.get_table(t).table_id for t in tables]
        out: dict[str, None] = {}
        for tid in ids:
            for row in self.tables[tid].rows:
                if row.run_id is not None:
                    out.setdefault(row.run_id)
        return list(out)

    def rows_for_run(self, run_id: str) -> list[Row]:
        """Every row that points to this run."""
        self.get_run(run_id)
        return [row for row in self.rows if row.run_id == run_id]

    def decisions(self, table_id: str) -> list[str]:
        """Every decision a table's report lists: its dataset's, the table's and its runs'."""
        table = self.get_table(table_id)
        out = list(self.datasets.get(table.dataset, ()))
        out += list(table.decisions)
        for run_id in self.run_ids([table_id]):
            out += [f'{run_id}: {d}' for d in self.runs[run_id].decisions]
        return out


# ------------------------------------------------------------------------------------ loading
class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a mapping key given twice (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise InputError(f'duplicate key {key!r} (first given on line {seen[key]})',
                             path=loader.name, line=key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> tuple[object, yaml.Node | None]:
    try:
        text = path.read_text(encoding='utf-8')
    except FileNotFoundError:
        raise InputError('experiment registry not found', path=path) from None
    try:
        loader = _UniqueKeyLoader(text)
        loader.name = str(path)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise InputError(f'not valid YAML: {err.problem}', path=path, line=line) from None
    return data, node


def _line_of(node: yaml.Node | None, keys) -> int | None:
    """The 1-based line of the element at ``keys`` (a JSON path) in a composed YAML node."""
    line = None if node is None else node.start_mark.line + 1
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(key)]
            if not match:
                return line
            line = match[0][0].start_mark.line + 1
            node = match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _schema_check(data: object, node, path: Path) -> None:
    import jsonschema

    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding='utf-8'))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    err = errors[0]
    where = '/'.join(str(p) for p in err.absolute_path) or '(top level)'
    message = err.message
    keys = list(err.absolute_path)
    if err.validator == 'additionalProperties':
        extra = sorted(set(err.instance) - set(err.schema.get('properties', {})))
        allowed = sorted(err.schema.get('properties', {}))
        keys += extra[:1]
        message = (f'unknown key {", ".join(map(repr, extra))}'
                   f'{_suggest(extra[0], allowed) if extra else ""}; allowed keys: {allowed}')
    elif err.validator == 'propertyNames':
        message = f'key {err.instance!r} is not allowed here: {err.message}'
    raise InputError(f'at {where}: {message} ({len(errors)} schema error(s) in all)',
                     path=path, line=_line_of(node, keys))


def load_registry(path: str | Path = DEFAULT_REGISTRY) -> Registry:
    """Read and check the experiment registry.

    Args:
        path: the YAML file (``configs/experiments.yaml`` by default).

    Returns:
        Registry: its tables, rows and runs.

    Raises:
        InputError: naming the file, the line and the key, for invalid YAML, a duplicate key, a
            schema violation (unknown key, wrong type), a malformed run id, a row naming a run
            that is not defined (with close matches), a run whose dataset differs from its
            table's, a baseline that is not a defined run, or a published column the table
            does not have.
    """
    path = Path(path)
    data, node = _read_yaml(path)
    _schema_check(data, node, path)

    runs: dict[str, Run] = {}
    for run_id, entry in data['runs'].items():
        line = _line_of(node, ['runs', run_id])
        try:
            dataset, detector, variant = parse_run_id(run_id)
        except InputError as err:
            raise InputError(str(err), path=path, line=line) from None
        baseline = entry.get('baseline')
        runs[run_id] = Run(run_id, dataset, detector, variant, baseline,
                           tuple(entry.get('decisions', ())), entry['version'])
    for run in runs.values():
        if run.baseline is not None and run.baseline not in runs:
            raise InputError(f'run {run.run_id!r}: baseline {run.baseline!r} is not a defined run'
                             f'{_suggest(run.baseline, runs)}', path=path,
                             line=_line_of(node, ['runs', run.run_id, 'baseline']))
        if run.srtod and run.baseline is None:
            raise InputError(f'SR-TOD run {run.run_id!r} names no baseline run', path=path,
                             line=_line_of(node, ['runs', run.run_id]))

    tables: dict[str, Table] = {}
    for tid, entry in data['tables'].items():
        rows = []
        for i, r in enumerate(entry['rows']):
            keys = ['tables', tid, 'rows', i]
            external = bool(r.get('external', False))
            run_id = r.get('run')
            if external == (run_id is not None):
                raise InputError(f'table {tid} row {r["label"]!r}: give either `run` or '
                                 '`external: true`', path=path, line=_line_of(node, keys))
            if run_id is not None:
                if run_id not in runs:
                    raise InputError(f'table {tid} row {r["label"]!r}: unknown run id {run_id!r}'
                                     f'{_suggest(run_id, runs)}; define it under `runs:`',
                                     path=path, line=_line_of(node, keys + ['run']))
                if runs[run_id].dataset != entry['dataset']:
                    raise InputError(f'table {tid} is on {entry["dataset"]} but row {r["label"]!r} '
                                     f'points to {run_id!r}', path=path,
                                     line=_line_of(node, keys + ['run']))
            extra = set(r['published']) - set(entry['columns'])
            missing = set(entry['columns']) - set(r['published'])
            if extra or missing:
                raise InputError(f'table {tid} row {r["label"]!r}: published columns must be the '
                                 f'table\'s {entry["columns"]} (null where not given); extra '
                                 f'{sorted(extra)}, missing {sorted(missing)}', path=path,
                                 line=_line_of(node, keys + ['published']))
            rows.append(Row(tid, r['label'], run_id, dict(r['published']), external,
                            r.get('note', '')))
        tables[tid] = Table(tid, entry['title'], entry['source'], entry['dataset'],
                            tuple(entry['columns']), tuple(entry.get('decisions', ())), tuple(rows))
    datasets = {name: list(d.get('decisions', ())) for name, d in data['datasets'].items()}
    return Registry(path, data['version'], datasets, tables, runs)


# ------------------------------------------------------------------------------ configs, dirs
def check_tier(tier: str) -> str:
    """Return ``tier`` or raise InputError with the known tiers."""
    if tier not in TIERS:
        raise InputError(f'unknown tier {tier!r}{_suggest(tier, TIERS)}; expected one of {list(TIERS)}')
    return tier


def run_dir(tier: str, run_id: str, seed: int, root: str | Path = 'results') -> Path:
    """``results/<tier>/<run id>/seed<S>``: where a run's results are written."""
    check_tier(tier)
    parse_run_id(run_id)
    return Path(root) / tier / run_id / f'seed{int(seed)}'


@functools.lru_cache(maxsize=64)
def _paper_config(path: str, mtime_ns: int):
    """A run's paper config file, parsed once per process (callers never modify it)."""
    from mmengine.config import Config

    with warnings.catch_warnings():  # mmengine's own pkg_resources deprecation notice
        warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
        return Config.fromfile(path)


def resolve_config(run_id: str, tier: str, seed: int = 0, work_dir: str | Path | None = None,
                   registry: Registry | None = None, data_root: str | Path | None = None):
    """The mmengine config that training uses for a run in a tier.

    Args:
        run_id: a run id defined in the registry.
        tier: ``paper``, ``smoke`` or ``tiny``.
        seed: the random seed (``randomness.seed``).
        work_dir: the mmengine work_dir; default ``results/<tier>/<run id>/seed<S>/train``.
        registry: the loaded registry (default: :func:`load_registry`).
        data_root: the dataset folder; default ``data/<tier>/<dataset>/``.

    Returns:
        mmengine.Config: fully resolved (bases merged, tier rules applied).
    """
    from srtod.tiers import apply_tier

    check_tier(tier)
    registry = registry or load_registry()
    run = registry.get_run(run_id)
    if not run.config_path.is_file():
        raise InputError(f'run {run_id!r} has no mmdet config', path=run.config_path)
    cfg = _paper_config(str(run.config_path), run.config_path.stat().st_mtime_ns)
    if work_dir is None:
        work_dir = run_dir(tier, run_id, seed) / 'train'
    if data_root is None:
        data_root = Path('data') / tier / run.dataset
    return apply_tier(cfg, run, tier, seed=seed, work_dir=work_dir, data_root=data_root)
