"""The vocabulary of srtod-bench: every name that code, configs, results and reports share.

One definition each, imported everywhere else: tiers, datasets, detectors, SR-TOD variants,
metric keys, the run-id pattern and the run-directory layout (docs/architecture.md). This module
imports nothing heavy (no torch, no mmengine), so any command can read it cheaply.
"""
from __future__ import annotations

import re

#: Tiers, from the paper's schedule to a few iterations for tests (DESIGN, "Tiers").
TIERS = ('paper', 'smoke', 'tiny')

#: The datasets of the paper (section 4.1) and of supplement Table 6 (DOTA).
DATASETS = ('droneswarms', 'visdrone', 'aitod', 'dota')

#: Detectors of the tables (``rfla`` = Cascade R-CNN with RFLA in the RPN; ``detectors`` =
#: Cascade R-CNN + RFP, as the authors' code).
DETECTORS = ('faster_rcnn', 'cascade_rcnn', 'retinanet', 'atss', 'dyhead', 'cascade_rpn',
             'tridentnet', 'detectors', 'rfla', 'nasfpn')

#: SR-TOD variants (``+srtod-<variant>``); ``t<k>`` (T_init = k/255) is matched separately.
VARIANTS = ('rh', 'em', 'concat', 'thr_none', 'thr_fixed', 'rw', 'dm', 'hfd', 'pdm', 'ste')
T_VARIANT_RE = re.compile(r'^t([0-9]+)$')

#: The AI-TOD metric's keys (percent), in the order the evaluator reports them.
METRIC_KEYS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'APm', 'AR100', 'AR300', 'AR1500')

#: The columns a table of the paper can print.
COLUMNS = ('AP', 'AP50', 'AP75', 'APvt', 'APt', 'APs', 'FPS')

#: ``<dataset>/<detector>[+srtod[-<variant>]]``; groups: dataset, detector, '+srtod...', variant.
RUN_ID_RE = re.compile(
    r'^(' + '|'.join(DATASETS) + r')/([a-z0-9_]+)(\+srtod(?:-([a-z0-9_]+))?)?$')


def run_dir_parts(tier: str, run_id: str, seed: int) -> tuple[str, str, str]:
    """The relative path of a run's results under the results root: (tier, run id, seed<S>)."""
    return tier, run_id, f'seed{int(seed)}'
