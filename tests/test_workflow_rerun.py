"""A change of a run's resolved config or of its `version` retrains that run, and only it.

The training rule gets the hash of the run's resolved config and its version in
configs/experiments.yaml as params, and the workflow profile reruns on params
(profiles/default/config.yaml). The test trains the three runs of Table 4 at the tiny tier in a
copy of the repository (whose configs it then edits), and reads what `snakemake -n` schedules.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_workflow_dag import SNAKEMAKE, TRAIN

ROOT = Path(__file__).resolve().parent.parent
RUNS = ('droneswarms/cascade_rcnn', 'droneswarms/cascade_rcnn+srtod-rh',
        'droneswarms/cascade_rcnn+srtod')
TARGETS = [f'results/tiny/{run}/seed0/train.json' for run in RUNS]


def _copy_repository(dest: Path) -> Path:
    """The files the workflow reads: Snakefile, workflow/, profiles/, configs/, srtod/."""
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    dest.mkdir()
    shutil.copy2(ROOT / 'Snakefile', dest / 'Snakefile')
    for name in ('workflow', 'profiles', 'configs', 'srtod'):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


def _snakemake(repo: Path, work: Path, *args, timeout=900):
    # PYTHONPATH: `srtod` (rules, CLI) imports the copy, whose registry is the edited one
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(repo),
               PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}')
    return subprocess.run([str(SNAKEMAKE), '-s', str(repo / 'Snakefile'), '-d', str(work),
                           *args, '--config', 'tier=tiny', 'tables=[T4]'],
                          capture_output=True, text=True, env=env, timeout=timeout)


def _scheduled(repo, work) -> set[str]:
    proc = _snakemake(repo, work, '-n', '-p', *TARGETS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {m.group(1) for m in TRAIN.finditer(proc.stdout + proc.stderr)}


def _bump_version(repo: Path, run_id: str, version: int) -> None:
    path = repo / 'configs' / 'experiments.yaml'
    text = path.read_text(encoding='utf-8')
    new, count = re.subn(rf'(\n  {re.escape(run_id)}:\n    version: )\d+', rf'\g<1>{version}',
                         text)
    assert count == 1, run_id
    path.write_text(new, encoding='utf-8')


@pytest.mark.slow
@pytest.mark.skipif(not SNAKEMAKE.exists(), reason='snakemake not installed')
def test_changed_config_or_version_retrains_only_that_run(tmp_path):
    repo, work = _copy_repository(tmp_path / 'repo'), tmp_path / 'work'
    first = _snakemake(repo, work, '--cores', '2', *TARGETS)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    records = {run: json.loads((work / 'results/tiny' / run / 'seed0/train.json').read_text())
               for run in RUNS}
    for run, record in records.items():   # what the params compare against, recorded
        assert record['run_version'] == 1 and len(record['config_hash']) == 16, run
        assert record['machine']['torch'] and record['code_version'].startswith('srtod ')
    assert _scheduled(repo, work) == set()

    # bumping a run's version in experiments.yaml schedules its retraining, and only its
    _bump_version(repo, 'droneswarms/cascade_rcnn+srtod', 2)
    assert _scheduled(repo, work) == {'droneswarms/cascade_rcnn+srtod'}
    _bump_version(repo, 'droneswarms/cascade_rcnn+srtod', 1)
    assert _scheduled(repo, work) == set()

    # a change of a run's config file: only the runs whose resolved config changed (the RH
    # variant's file is a leaf: nothing inherits from it)
    rh = repo / 'configs/mmdet/runs/droneswarms/cascade_rcnn+srtod-rh.py'
    rh.write_text(rh.read_text() + '\noptim_wrapper = dict(optimizer=dict(weight_decay=2e-4))\n')
    assert _scheduled(repo, work) == {'droneswarms/cascade_rcnn+srtod-rh'}

    # the retraining starts from scratch: the old work_dir is moved aside, not resumed
    again = _snakemake(repo, work, '--cores', '2', *TARGETS)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    run_dir = work / 'results/tiny/droneswarms/cascade_rcnn+srtod-rh/seed0'
    record = json.loads((run_dir / 'train.json').read_text())
    old = records['droneswarms/cascade_rcnn+srtod-rh']
    assert record['config_hash'] != old['config_hash'] and record['resumed_from'] is None
    assert (run_dir / f'train.stale-{old["config_hash"]}-v1').is_dir()
    assert _scheduled(repo, work) == set()
