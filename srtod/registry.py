"""The experiment registry: ``configs/experiments.yaml`` -> rows and runs -> tiered mmengine configs.

Every row of the paper's and the supplement's tables (and of this project's control tables)
points to a run id (``<dataset>/<detector>[+srtod[-<variant>]]`` or ``<dataset>/<detector>-s<k>``,
:data:`srtod.vocab.RUN_ID_RE`); rows that are the same experiment share a run, so each run is
trained once whatever tables ask for it. The file is checked against
``configs/experiments.schema.yaml``, whose choices (datasets, table ids, columns, the run-id
pattern) are filled from :mod:`srtod.vocab` (closed objects: an unknown key is an error), and then
for what a schema cannot say: duplicate keys, rows naming undefined runs, baselines, datasets.

A run's ``paper`` config is ``configs/mmdet/runs/<run id>.py``; :func:`resolve_config` loads it
with mmengine and lets :mod:`srtod.tiers` derive the ``smoke`` and ``tiny`` tiers from it.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import warnings
from pathlib import Path
from typing import Iterable, NamedTuple

import yaml

from srtod import vocab
from srtod.errors import InputError
from srtod.vocab import (COLUMNS, DATASET_SPECS, DATASETS, DETECTORS, RUN_ID_FORM, RUN_ID_RE,
                         T_VARIANT_RE, TIERS, VARIANTS, table_kind)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY = REPO_ROOT / 'configs' / 'experiments.yaml'
SCHEMA_PATH = REPO_ROOT / 'configs' / 'experiments.schema.yaml'
RUN_CONFIG_DIR = REPO_ROOT / 'configs' / 'mmdet' / 'runs'

__all__ = ['COLUMNS', 'DATASETS', 'DETECTORS', 'RUN_ID_RE', 'TIERS', 'VARIANTS', 'Registry',
           'Row', 'Run', 'RunIdParts', 'Table', 'check_tier', 'load_registry', 'parse_run_id',
           'resolve_config', 'run_dir']


@dataclasses.dataclass(frozen=True)
class Row:
    """One printed row of a table.

    Args:
        table: table id (:data:`srtod.vocab.TABLE_IDS`).
        label: the row's label as printed.
        run_id: the run that reproduces it; None for an external row.
        published: column -> published value (None where the paper gives none; every column
            None for a control-table row given ``published: {}``).
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
        run_id: ``<dataset>/<detector>[+srtod[-<variant>]]`` or ``<dataset>/<detector>-s<k>``.
        dataset: one of :data:`DATASETS`.
        detector: one of :data:`DETECTORS`.
        variant: None (the baseline detector), ``''`` (the paper's default SR-TOD) or a variant
            name (``rh``, ``em``, ..., ``t<k>`` for T_init = k/255).
        baseline: the run an SR-TOD run's gain is measured against, or None.
        decisions: settings decided for this run, each with its reason.
        version: bumped when the meaning of the run changes.
        anchor_scale: k of a ``-s<k>`` control run (the baseline trained with RPN anchor scale
            k), else None.
    """

    run_id: str
    dataset: str
    detector: str
    variant: str | None
    baseline: str | None = None
    decisions: tuple = ()
    version: int = 1
    anchor_scale: int | None = None

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
        table_id: one of :data:`srtod.vocab.TABLE_IDS`.
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


class RunIdParts(NamedTuple):
    """A run id's parts (:func:`parse_run_id`)."""

    dataset: str
    detector: str
    variant: str | None
    anchor_scale: int | None = None


def parse_run_id(run_id: str) -> RunIdParts:
    """Split a run id into (dataset, detector, variant, anchor_scale).

    Returns:
        RunIdParts: variant None for a plain detector, ``''`` for ``+srtod``, else the variant
        name; anchor_scale k for ``<dataset>/<detector>-s<k>``, else None.

    Raises:
        InputError: the id does not follow :data:`srtod.vocab.RUN_ID_FORM` or names an unknown
            dataset, detector or variant.
    """
    m = RUN_ID_RE.match(run_id or '')
    if not m:
        raise InputError(f'run id {run_id!r} does not match {RUN_ID_FORM} with dataset one of '
                         f'{list(DATASETS)}')
    dataset, detector = m['dataset'], m['detector']
    if detector not in DETECTORS:
        raise InputError(f'run id {run_id!r}: unknown detector {detector!r}; expected one of '
                         f'{list(DETECTORS)}{_suggest(detector, DETECTORS)}')
    if m['anchor_scale'] is not None:
        return RunIdParts(dataset, detector, None, int(m['anchor_scale']))
    if m['srtod'] is None:
        return RunIdParts(dataset, detector, None)
    variant = m['variant'] or ''
    if variant and variant not in VARIANTS and not T_VARIANT_RE.match(variant):
        raise InputError(f'run id {run_id!r}: unknown SR-TOD variant {variant!r}; expected one of '
                         f'{list(VARIANTS)} or t<k> (T_init = k/255){_suggest(variant, VARIANTS)}')
    return RunIdParts(dataset, detector, variant)


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f' (did you mean {", ".join(close)}?)' if close else ''


class Registry:
    """The loaded ``experiments.yaml``: tables, rows and runs (see :func:`load_registry`).

    Attributes:
        path: the file it was read from.
        version: the format version.
        datasets: dataset -> list of decisions for its paper-tier settings.
        gpus: dataset -> GPUs of a paper-tier training (:meth:`dataset_gpus`).
        tables: table id -> :class:`Table`, in the file's order.
        rows: every row of every table, in order.
        runs: run id -> :class:`Run`, in the file's order.
    """

    def __init__(self, path: Path, version: int, datasets: dict, tables: dict, runs: dict,
                 gpus: dict | None = None):
        self.path = path
        self.version = version
        self.datasets = datasets
        self.gpus = dict(gpus or {})
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

    def dataset_gpus(self, name: str) -> int:
        """GPUs of a paper-tier training on ``name`` (``datasets.<name>.gpus``, default 1)."""
        if name not in DATASETS:
            raise InputError(f'unknown dataset {name!r}{_suggest(name, DATASETS)}; expected one '
                             f'of {list(DATASETS)}', path=self.path)
        return int(self.gpus.get(name, 1))

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


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    """A JSON schema file (YAML) with its ``x-vocab`` choices filled from :mod:`srtod.vocab`."""
    return vocab.fill_schema(yaml.safe_load(Path(path).read_text(encoding='utf-8')))


def _schema_check(data: object, node, path: Path) -> None:
    import jsonschema

    schema = load_schema(SCHEMA_PATH)
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
            parts = parse_run_id(run_id)
        except InputError as err:
            raise InputError(str(err), path=path, line=line) from None
        baseline = entry.get('baseline')
        runs[run_id] = Run(run_id, parts.dataset, parts.detector, parts.variant, baseline,
                           tuple(entry.get('decisions', ())), entry['version'],
                           parts.anchor_scale)
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
            published = dict(r['published'])
            if not published and table_kind(tid) == 'control':
                published = dict.fromkeys(entry['columns'])  # nothing published: all None
            extra = set(published) - set(entry['columns'])
            missing = set(entry['columns']) - set(published)
            if extra or missing:
                control = '; {} in a control table' if table_kind(tid) == 'control' else ''
                raise InputError(f'table {tid} row {r["label"]!r}: published columns must be the '
                                 f'table\'s {entry["columns"]} (null where not given{control}); '
                                 f'extra {sorted(extra)}, missing {sorted(missing)}', path=path,
                                 line=_line_of(node, keys + ['published']))
            rows.append(Row(tid, r['label'], run_id, published, external, r.get('note', '')))
        tables[tid] = Table(tid, entry['title'], entry['source'], entry['dataset'],
                            tuple(entry['columns']), tuple(entry.get('decisions', ())), tuple(rows))
    datasets = {name: list(d.get('decisions', ())) for name, d in data['datasets'].items()}
    gpus = {name: d.get('gpus', 1) for name, d in data['datasets'].items()}
    return Registry(path, data['version'], datasets, tables, runs, gpus)


# ------------------------------------------------------------------------------ configs, dirs
def check_tier(tier: str) -> str:
    """Return ``tier`` or raise InputError with the known tiers."""
    if tier not in TIERS:
        raise InputError(f'unknown tier {tier!r}{_suggest(tier, TIERS)}; expected one of {list(TIERS)}')
    return tier


def run_dir(tier: str, run_id: str, seed: int, root: str | Path = vocab.RESULTS_ROOT) -> Path:
    """``<root>/<tier>/<run id>/seed<S>``: where a run's results are written.

    The layout is :func:`srtod.vocab.run_dir`'s; this checks the tier, the run id (a well-formed
    id cannot leave ``root``: no ``..``, no absolute part) and the seed first.

    Raises:
        InputError: an unknown tier, a malformed run id or a negative seed.
    """
    check_tier(tier)
    parse_run_id(run_id)
    if int(seed) < 0:
        raise InputError(f'seed must be >= 0, got {seed}')
    return vocab.run_dir(tier, run_id, seed, root)


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
    classes = tuple(cfg.get('metainfo', {}).get('classes', ()))
    if tier == 'paper' and classes != DATASET_SPECS[run.dataset].classes:
        raise InputError(f'run {run_id!r}: the config\'s metainfo.classes {list(classes)} differ '
                         f'from those of {run.dataset} in srtod/vocab.py '
                         f'{list(DATASET_SPECS[run.dataset].classes)}', path=run.config_path)
    if work_dir is None:
        work_dir = run_dir(tier, run_id, seed) / 'train'
    if data_root is None:
        data_root = vocab.data_dir(tier, run.dataset)
    return apply_tier(cfg, run, tier, seed=seed, work_dir=work_dir, data_root=data_root)
