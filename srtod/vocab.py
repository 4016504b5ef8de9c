"""The vocabulary of srtod-bench: every name that code, configs, results and reports share.

One definition each, imported everywhere else: tiers, datasets (with what the paper tier and the
synthetic tiers need of each), detectors, SR-TOD variants, table ids, metric keys, the run-id
grammar and the run-directory layout (docs/architecture.md, "Vocabulary"). The JSON schemas of
``configs/experiments.yaml`` and of the workflow config take their choices from here
(:func:`fill_schema`). This module imports nothing heavy (no torch, no mmengine, no numpy), so any
command can read it cheaply.

Adding a dataset: one :class:`DatasetSpec` below, ``configs/mmdet/datasets/<name>.py``, the
run configs ``configs/mmdet/runs/<name>/<detector>.py`` and the registry rows of
``configs/experiments.yaml`` (tests/test_vocab.py adds one and checks that this is enough).
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

#: Tiers, from the paper's schedule to a few iterations for tests (docs/architecture.md).
#: ``check``: every paper config at paper size for 2 iterations on synthetic images
#: (srtod/tiers.py), to prove the configs end to end and measure their cost.
TIERS = ('paper', 'check', 'smoke', 'tiny')

#: Seeds per run of each tier when ``--config seeds=N`` is not given (the workflow's default,
#: srtod.workflow.tier_defaults). smoke: 3, the fewest on which a verdict on a published gain is
#: given (srtod.analysis.stats.MIN_SEEDS; issue 10 item 3); paper: 1, each seed costs GPU-days;
#: tiny: 1, it tests the workflow; check: 1, it proves the configs.
TIER_SEEDS = {'paper': 1, 'check': 1, 'smoke': 3, 'tiny': 1}


@dataclasses.dataclass(frozen=True)
class SynthProfile:
    """How the synthetic stand-in of a dataset looks (``srtod synth --profile``).

    Sizes are sqrt(w*h) in pixels, drawn from a log-normal (srtod/data/synth.py).

    Args:
        sky_fraction: probability that an image is sky (with an optional ground band).
        ground_band: probability that a sky image also has ground below a horizon.
        mean_size: mean object size.
        size_sigma: sigma of log(size).
        min_size: smallest size drawn.
        max_size: largest size drawn.
        mean_objects: mean number of objects per image.
    """

    sky_fraction: float
    ground_band: float
    mean_size: float
    size_sigma: float
    min_size: float
    max_size: float
    mean_objects: float


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset: what the paper tier reads and what the synthetic tiers stand in with.

    Args:
        name: the dataset's name in run ids, paths and configs.
        title: its name as the paper prints it.
        converter: the ``srtod convert`` reader of its official release: ``coco`` (a COCO json
            already), ``visdrone`` (one txt per image) or ``dota`` (labelTxt, cut into patches).
        paper_sources: split -> (``srtod convert`` source, image folder), both relative to the
            folder given as ``data={<name>: PATH}`` (the splits of the paper / authors' code).
        converter_options: extra ``srtod convert`` arguments of the paper tier.
        image_size: (width, height) of a typical source image (``srtod plan``'s FLOPs; the check
            tier's synthetic images).
        paper_images: (train, test) image counts of the paper's splits, None where they depend
            on the conversion.
        classes: the class names, in the order of ``metainfo.classes`` of
            ``configs/mmdet/datasets/<name>.py``.
        synthetic: its synthetic stand-in's profile (smoke and tiny tiers: one class ``drone``;
            check tier: the dataset's classes).
        source: where these facts come from.
    """

    name: str
    title: str
    converter: str
    paper_sources: dict
    image_size: tuple
    paper_images: tuple
    classes: tuple
    synthetic: SynthProfile
    source: str
    converter_options: tuple = ()

    def layout(self) -> str:
        """What ``data={<name>: PATH}`` must hold, for messages and the workflow schema."""
        paths = sorted({p for split in self.paper_sources.values() for p in split})
        return f'{self.title} release folder holding {", ".join(paths)}'


#: The datasets of the paper (section 4.1) and of supplement Table 6 (DOTA), in table order.
DATASET_SPECS = {spec.name: spec for spec in (
    DatasetSpec(
        name='droneswarms', title='DroneSwarms', converter='coco',
        paper_sources={'train': ('annotations/train.json', 'images/train'),
                       'test': ('annotations/test.json', 'images/test')},
        image_size=(1920, 1080), paper_images=(6577, 2532), classes=('drone',),
        synthetic=SynthProfile(sky_fraction=1.0, ground_band=0.3, mean_size=8.0, size_sigma=0.42,
                               min_size=2.5, max_size=40.0, mean_objects=14),
        source='paper section 3.4 (image size, splits; 7.9 px mean object size)'),
    DatasetSpec(
        name='visdrone', title='VisDrone2019-DET', converter='visdrone',
        paper_sources={'train': ('VisDrone2019-DET-train', 'VisDrone2019-DET-train/images'),
                       'test': ('VisDrone2019-DET-val', 'VisDrone2019-DET-val/images')},
        image_size=(2000, 1500), paper_images=(6471, 548),
        classes=('pedestrian', 'people', 'bicycle', 'car', 'van', 'truck', 'tricycle',
                 'awning-tricycle', 'bus', 'motor'),
        synthetic=SynthProfile(sky_fraction=0.0, ground_band=0.0, mean_size=13.0, size_sigma=0.55,
                               min_size=3.0, max_size=64.0, mean_objects=18),
        source='paper section 4.1; splits DET-train / DET-val as Hiyuur/SR-TOD@1c4d93b '
               '(its VisDrone dataset config)'),
    DatasetSpec(
        name='aitod', title='AI-TOD v1', converter='coco',
        paper_sources={'train': ('annotations/aitod_trainval_v1.json', 'trainval/images'),
                       'test': ('annotations/aitod_test_v1.json', 'test/images')},
        image_size=(800, 800), paper_images=(14018, 14018),
        classes=('airplane', 'bridge', 'storage-tank', 'ship', 'swimming-pool', 'vehicle',
                 'person', 'wind-mill'),
        synthetic=SynthProfile(sky_fraction=0.0, ground_band=0.0, mean_size=12.0, size_sigma=0.5,
                               min_size=3.0, max_size=48.0, mean_objects=16),
        source='paper section 4.1; trainval_v1 (11,214 + 2,804 images) / test_v1 as '
               'Chasel-Tsui/mmdet-rfla@198977b'),
    DatasetSpec(
        name='dota', title='DOTA v1.0', converter='dota',
        paper_sources={'train': ('train', 'train/images'), 'test': ('val', 'val/images')},
        converter_options=('--dota-version', 'v1', '--patch-size', '1024', '--overlap', '200'),
        image_size=(1024, 1024), paper_images=(None, None),
        classes=('plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle',
                 'large-vehicle', 'ship', 'tennis-court', 'basketball-court', 'storage-tank',
                 'soccer-ball-field', 'roundabout', 'harbor', 'swimming-pool', 'helicopter'),
        synthetic=SynthProfile(sky_fraction=0.0, ground_band=0.0, mean_size=20.0, size_sigma=0.6,
                               min_size=4.0, max_size=96.0, mean_objects=10),
        source='supplement Table 6; 1024x1024 patches with 200 px overlap '
               '(configs/experiments.yaml, datasets.dota)'),
)}

#: Dataset names, in table order.
DATASETS = tuple(DATASET_SPECS)

#: Where datasets go: ``<data root>/<tier>/<dataset>/{train.json,test.json,images/}``.
DATA_ROOT = 'data'


def data_dir(tier: str, dataset: str, root: str | Path = DATA_ROOT) -> Path:
    """``<root>/<tier>/<dataset>``: the folder of a dataset at a tier (docs/architecture.md)."""
    return Path(root, tier, dataset)

#: The ``srtod convert`` readers a :class:`DatasetSpec` can name.
CONVERTERS = ('coco', 'visdrone', 'dota')

#: Detectors of the tables (``rfla`` = Cascade R-CNN with RFLA in the RPN; ``detectors`` =
#: Cascade R-CNN + RFP, as the authors' code). Each has ``configs/mmdet/models/<name>.py``.
DETECTORS = ('faster_rcnn', 'cascade_rcnn', 'retinanet', 'atss', 'dyhead', 'cascade_rpn',
             'tridentnet', 'detectors', 'rfla', 'nasfpn')

#: SR-TOD variants (``+srtod-<variant>``); ``t<k>`` (T_init = k/255) is matched separately.
VARIANTS = ('rh', 'em', 'concat', 'thr_none', 'thr_fixed', 'rw', 'dm', 'hfd', 'pdm', 'ste')
T_VARIANT_RE = re.compile(r'^t([0-9]+)$')

#: Table ids: ``T<n>`` paper tables, ``S<n>`` supplement tables, ``C<n>`` control experiments
#: of this project (no published numbers: their rows may give ``published: {}``).
TABLE_IDS = (*(f'T{i}' for i in range(1, 8)), *(f'S{i}' for i in range(1, 7)), 'C1', 'C2')
TABLE_KINDS = {'T': 'paper', 'S': 'supplement', 'C': 'control'}

#: The AI-TOD metric's keys (percent), in the order the evaluator reports them.
METRIC_KEYS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'APm', 'AR100', 'AR300', 'AR1500')

#: The columns a table of the paper can print.
COLUMNS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'FPS')

#: ``<dataset>/<detector>[+srtod[-<variant>]]`` or ``<dataset>/<detector>-s<k>`` (the baseline
#: trained with RPN anchor scale k, a control run). Groups, by number and name: 1 dataset,
#: 2 detector, 3 srtod (``+srtod...``), 4 variant, 5 anchor_scale.
RUN_ID_RE = re.compile(
    r'^(?P<dataset>' + '|'.join(DATASETS) + r')/(?P<detector>[a-z0-9_]+)'
    r'(?:(?P<srtod>\+srtod(?:-(?P<variant>[a-z0-9_]+))?)|-s(?P<anchor_scale>[1-9][0-9]*))?$')
RUN_ID_FORM = '<dataset>/<detector>[+srtod[-<variant>]] or <dataset>/<detector>-s<k>'

#: Where results go: ``<results root>/<tier>/<run id>/seed<S>`` (:func:`run_dir`).
RESULTS_ROOT = 'results'


def srtod_run_of_control(run_id: str) -> str | None:
    """The SR-TOD run a control run splits: ``<dataset>/<detector>-s<k>`` ->
    ``<dataset>/<detector>+srtod``; None for an id without ``-s<k>`` (or not a run id)."""
    m = RUN_ID_RE.match(run_id or '')
    if not m or m.group('anchor_scale') is None:
        return None
    return f"{m.group('dataset')}/{m.group('detector')}+srtod"


def table_kind(table_id: str) -> str:
    """``paper``, ``supplement`` or ``control`` for a table id."""
    return TABLE_KINDS[table_id[:1]]


def run_dir_parts(tier: str, run_id: str, seed: int) -> tuple[str, str, str]:
    """The relative path of a run's results under the results root: (tier, run id, seed<S>)."""
    return tier, run_id, f'seed{int(seed)}'


def run_dir(tier: str, run_id: str, seed: int, root: str | Path = RESULTS_ROOT) -> Path:
    """``<root>/<tier>/<run id>/seed<S>``, unchecked (:func:`srtod.registry.run_dir` checks)."""
    return Path(root, *run_dir_parts(tier, run_id, seed))


# ------------------------------------------------------------------------------------ schemas
#: What a schema node's ``x-vocab`` key may name, and what it becomes (:func:`fill_schema`).
SCHEMA_CHOICES = {
    'tiers': TIERS,
    'datasets': DATASETS,
    'detectors': DETECTORS,
    'table_ids': TABLE_IDS,
    'tables_or_all': ('all', *TABLE_IDS),
    'columns': COLUMNS,
    'metric_keys': METRIC_KEYS,
    'run_id': RUN_ID_RE,
}


def fill_schema(node):
    """A copy of a JSON schema whose ``x-vocab`` nodes hold the vocabulary's choices.

    A node ``{x-vocab: NAME, ...}`` gets ``enum: [...]`` (a tuple of :data:`SCHEMA_CHOICES`) or
    ``pattern: ...`` (a regex); ``{x-vocab: dataset_paths}`` gets one string property per
    dataset, described by its layout. The schema files stay valid JSON schemas without it (an
    unknown keyword is an annotation), so the lists are written only here.

    Raises:
        KeyError: an ``x-vocab`` name that is not one of :data:`SCHEMA_CHOICES`.
    """
    if isinstance(node, list):
        return [fill_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: fill_schema(v) for k, v in node.items()}
    name = out.get('x-vocab')
    if name == 'dataset_paths':
        out['properties'] = {d: {'type': 'string', 'description': s.layout()}
                             for d, s in DATASET_SPECS.items()}
        out['additionalProperties'] = False
    elif name is not None:
        choices = SCHEMA_CHOICES[name]
        if isinstance(choices, re.Pattern):
            out['pattern'] = choices.pattern
        else:
            out['enum'] = list(choices)
    return out
