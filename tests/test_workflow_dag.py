"""The Snakemake DAG, dry-run (-n): every table's runs train once, config errors stop early."""
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from srtod import workflow as wf
from srtod.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / 'snakemake'
TRAIN = re.compile(r"srtod train '?([^' ]+)'? --tier (\w+) --seed (\d+)")
TEST = re.compile(r"srtod test '?([^' ]+)'? --tier (\w+) --seed (\d+)")
FPS = re.compile(r"srtod fps '?([^' ]+)'? --tier (\w+) --seed (\d+)")


def snakemake(workdir, *args, timeout=300):
    """Run the repository's workflow in ``workdir`` (never in the repository itself)."""
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}')
    return subprocess.run([str(SNAKEMAKE), '-s', str(ROOT / 'Snakefile'), '-d', str(workdir),
                           *args], capture_output=True, text=True, env=env, timeout=timeout)


def dry_run(workdir, *config):
    proc = snakemake(workdir, '-n', '-p', '--config', *config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def fake_release(root: Path, dataset: str) -> Path:
    """Empty folders and files in the layout the paper tier expects (enough for a dry run)."""
    for split in wf.PAPER_SOURCES[dataset].values():
        for rel in split:
            path = root / dataset / rel
            if rel.endswith('.json'):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text('{}')
            else:
                path.mkdir(parents=True, exist_ok=True)
    return root / dataset


@pytest.fixture(scope='module')
def registry():
    return load_registry()


pytestmark = pytest.mark.skipif(not SNAKEMAKE.exists(), reason='snakemake not installed')


def test_smoke_dag_trains_every_run_once(tmp_path, registry):
    out = dry_run(tmp_path, 'tier=smoke')
    trained = Counter(m.group(1) for m in TRAIN.finditer(out))
    assert set(trained) == set(registry.runs)  # every run of every table ...
    # ... once per seed (smoke: 3 by default, srtod.vocab.TIER_SEEDS), however many tables
    # share it
    assert Counter((m.group(1), m.group(3)) for m in TRAIN.finditer(out)) == {
        (run, str(seed)): 1 for run in registry.runs for seed in range(3)}
    assert set(trained.values()) == {3}
    assert {m.group(2) for m in TRAIN.finditer(out)} == {'smoke'}
    assert Counter(m.group(1) for m in TEST.finditer(out)) == trained
    fps = {m.group(1) for m in FPS.finditer(out)}
    # every job has its benchmark file (benchmarks/<tier>/<rule>/...), read by make bench
    assert out.count('benchmark: benchmarks/smoke/mmdet_train/') == sum(trained.values())
    assert fps == {'aitod/detectors', 'aitod/detectors+srtod-pdm', 'aitod/detectors+srtod'}
    for rule in ('srtod_synth', 'srtod_validate', 'srtod_collect', 'srtod_report'):
        assert re.search(rf'rule {rule}:', out), rule
    assert out.count('rule srtod_synth:') == 4  # one synthetic stand-in per dataset
    assert not (tmp_path / 'results').exists()  # a dry run writes nothing


def test_paper_dag_converts_then_trains(tmp_path, registry):
    # one data={name: PATH} entry per dataset: Snakemake merges them into one mapping
    config = ['tier=paper'] + [f'data={{{d}: {fake_release(tmp_path / "release", d)}}}'
                               for d in wf.DATASETS]
    out = dry_run(tmp_path / 'work', *config)
    trained = Counter(m.group(1) for m in TRAIN.finditer(out))
    assert set(trained) == set(registry.runs) and set(trained.values()) == {1}
    assert out.count('rule srtod_convert:') == 8  # 4 datasets x (train, test)
    assert 'srtod synth' not in out
    assert 'VisDrone2019-DET-val' in out and '--patch-size 1024' in out


def test_one_table_with_seeds(tmp_path):
    out = dry_run(tmp_path, 'tier=tiny', 'tables=[T5]', 'seeds=2')
    trained = Counter((m.group(1), m.group(3)) for m in TRAIN.finditer(out))
    runs = ['visdrone/cascade_rcnn', 'visdrone/cascade_rcnn+srtod',
            'visdrone/cascade_rcnn+srtod-thr_fixed', 'visdrone/cascade_rcnn+srtod-thr_none']
    assert sorted(trained) == [(r, s) for r in runs for s in ('0', '1')]
    assert out.count('rule srtod_synth:') == 1  # only VisDrone's stand-in


@pytest.mark.parametrize('config, message', [
    (['tier=paper', 'tables=[T2]'], 'visdrone: no path given; add "data={visdrone: PATH}"'),
    (['tables=[T8]'], 'T8'),
    (['tier=smoke', 'seed=2'], 'seed'),
])
def test_bad_config_stops_before_any_job(tmp_path, config, message):
    proc = snakemake(tmp_path, '-n', '--config', *config)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (tmp_path / 'results').exists()
