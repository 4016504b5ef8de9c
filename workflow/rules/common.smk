# Shared names of the workflow: the tier, the seeds, the selected tables and their unique runs,
# the result paths and the wildcard constraints. Logic lives in srtod/workflow.py (tested).
#
# Exposed to the other rule files (figures.smk included):
#   REGISTRY       srtod.registry.Registry of configs/experiments.yaml
#   TIER           'paper' | 'check' | 'smoke' | 'tiny'
#   SEEDS          [0, ..., seeds-1]
#   TABLES         selected table ids, registry order
#   RUN_IDS        unique run ids of TABLES (with the baselines of their SR-TOD rows)
#   DATASETS       datasets of RUN_IDS
#   run_dir(run, seed) -> "results/<tier>/<run id>/seed<S>" (srtod.vocab.run_dir's layout)
#   RESULTS, REPORTS, LOGS   "results/<tier>", "reports/<tier>", "logs/<tier>"
# Datasets, tiers and the run-directory layout come from srtod/vocab.py.
import re

from srtod import vocab
from srtod import workflow as wf
from srtod.registry import load_registry

REGISTRY = load_registry()
TIER = config["tier"]
SEEDS = list(range(config["seeds"]))
TABLES = wf.select_tables(REGISTRY, config["tables"])
RUN_IDS = wf.select_runs(REGISTRY, TABLES)
DATASETS = wf.datasets_of(REGISTRY, RUN_IDS)
THREADS = config["threads"]
RESULTS = f"{vocab.RESULTS_ROOT}/{TIER}"
REPORTS = f"reports/{TIER}"
LOGS = f"logs/{TIER}"
# paper: every dataset path checked now, before any job runs.
PAPER_SOURCES = wf.paper_sources(config["data"], DATASETS) if TIER == "paper" else {}


wildcard_constraints:
    tier=re.escape(TIER),
    run=wf.alternation(REGISTRY.runs),
    seed=r"\d+",
    dataset=wf.alternation(vocab.DATASETS),
    split="train|test",


def run_dir(run, seed):
    """The result folder of one run and seed (docs/architecture.md, results layout)."""
    return vocab.run_dir(TIER, run, seed).as_posix()


def run_files(name, runs=None):
    """``name`` (train.json, metrics.json, fps.json) of every selected run and seed."""
    return [f"{run_dir(run, seed)}/{name}" for run in (RUN_IDS if runs is None else runs)
            for seed in SEEDS]


def dataset_of(wildcards):
    return REGISTRY.runs[wildcards.run].dataset


def data_ready():
    """The gate every training waits for: all datasets of this invocation validated."""
    return f"{RESULTS}/data/ready.json"


def job_resources(stage):
    """mem_mb / runtime of a job of ``stage`` at this tier (cluster executors)."""
    return wf.resources(TIER, stage)


# check tier: no FPS (2 iterations of random weights; its train.json has s/iter and memory)
FPS_RUNS = [] if TIER == "check" else wf.fps_runs(REGISTRY, TABLES, RUN_IDS, config["fps"])
