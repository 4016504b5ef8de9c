"""Faults at the level of the workflow: Snakemake runs the tiny tier in a scratch directory and
the test breaks things the way a cluster or a user does.

- A training killed with SIGKILL mid-run (no train.json yet) resumes from its last checkpoint
  when the workflow runs again, and ends at the same iteration count; a truncated newest
  checkpoint is named in the log and the run falls back to the previous one.
- A run whose loss becomes NaN is a result: it stops with a message naming the run and the
  iteration, the other runs go on, and the report marks the row failed with the reason.
- Bad input (unknown table, tier or run id, a missing dataset path) stops the workflow before
  any job runs, with a message that names the problem, and leaves results/ as it was.

The kill lands at a chosen point: a ``sitecustomize`` on PYTHONPATH (test scaffolding, written
here) holds ``srtod train RUN`` in an mmengine hook right after iteration K and its checkpoint,
and says so in a marker file; the test then SIGKILLs that process.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest_slurm import (VENV_BIN, descendants, kill_group, run_snakemake,
                            snakemake_available, start_snakemake, tail, wait_for, workflow_env)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not snakemake_available(), reason='snakemake is not installed'),
]

TABLE = 'T4'
BASELINE = 'droneswarms/cascade_rcnn'
RH_ONLY = 'droneswarms/cascade_rcnn+srtod-rh'
SRTOD = 'droneswarms/cascade_rcnn+srtod'
CONFIG = ('--config', 'tier=tiny', f'tables=[{TABLE}]')
ITER_LOG = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')

HOLD_SITECUSTOMIZE = '''\
"""Test scaffolding of tests/test_workflow_faults.py: hold `srtod train RUN` after iteration K.

SRTOD_TEST_HOLD="RUN@K;RUN@K" picks the runs; after iteration K (and the checkpoint saved at
it) the training writes SRTOD_TEST_HOLD_DIR/<run>.held with its pid and sleeps, to be killed.
"""
import os
import sys

_spec = os.environ.get('SRTOD_TEST_HOLD', '')
if _spec and len(sys.argv) > 2 and os.path.basename(sys.argv[0]) == 'srtod' \\
        and sys.argv[1] == 'train':
    _holds = dict(item.rsplit('@', 1) for item in _spec.split(';') if item)
    _run = sys.argv[2]
    if _run in _holds:
        import time

        from mmengine.hooks import Hook
        from mmengine.runner import Runner

        class _HoldHook(Hook):
            priority = 'LOWEST'  # after CheckpointHook (VERY_LOW) has saved this iteration

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                if runner.iter + 1 == int(_holds[_run]):
                    marker = os.path.join(os.environ['SRTOD_TEST_HOLD_DIR'],
                                          _run.replace('/', '__') + '.held')
                    with open(marker + '.tmp', 'w') as f:
                        f.write(str(os.getpid()))
                    os.replace(marker + '.tmp', marker)
                    time.sleep(900)

        _train = Runner.train

        def _train_with_hold(self):
            self.register_hook(_HoldHook())
            return _train(self)

        Runner.train = _train_with_hold
'''


def _run_dir(workdir: Path, run: str) -> Path:
    return workdir / 'results' / 'tiny' / run / 'seed0'


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding='utf-8'))


def _logged_iterations(work_dir: Path) -> list[list[int]]:
    """Per training attempt (mmengine's timestamped log folders, oldest first), the iterations
    it logged."""
    attempts = []
    for folder in sorted(p for p in work_dir.iterdir() if p.is_dir() and p.name[:1].isdigit()):
        text = ''.join(p.read_text(errors='replace') for p in folder.glob('*.log'))
        attempts.append([int(m.group(1)) for m in ITER_LOG.finditer(text)])
    return attempts


def _schedule(run: str) -> tuple[int, int, int]:
    """(max_iters, checkpoint interval, checkpoints kept; 0 = all) of the run's tiny config."""
    from srtod.registry import resolve_config
    cfg = resolve_config(run, 'tiny')
    hook = cfg.default_hooks.checkpoint
    keep = hook.get('max_keep_ckpts', -1)
    return int(cfg.train_cfg.max_iters), int(hook.interval), max(int(keep), 0)


def _kept(at: int, interval: int, keep: int) -> list[int]:
    """Iterations whose checkpoints are on disk after iteration ``at``."""
    saved = list(range(interval, at + 1, interval))
    return saved[-keep:] if keep else saved


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    """A working directory whose tiny-tier data of the table is made and validated (the data
    gate passed), copied by each test that trains, so the data jobs run once per module."""
    template = tmp_path_factory.mktemp('tiny-data') / 'wf'
    proc = run_snakemake(template, 'results/tiny/data/ready.json', '--cores', '2', *CONFIG)
    assert proc.returncode == 0, tail(proc.stdout)
    return template


def _workdir(template: Path, dest: Path) -> Path:
    """A copy of ``template`` (modification times kept, so Snakemake sees the data as done)."""
    shutil.copytree(template, dest, symlinks=True,
                    ignore=shutil.ignore_patterns('locks', '*.out'))
    return dest


# --- SIGKILL mid-run, then rerun --------------------------------------------------------------

def test_killed_training_resumes_on_rerun(tiny_data, tmp_path):
    work = _workdir(tiny_data, tmp_path / 'wf')
    hold = tmp_path / 'hold'
    hold.mkdir()
    (hold / 'sitecustomize.py').write_text(HOLD_SITECUSTOMIZE)
    max_iters, interval, keep = _schedule(BASELINE)
    assert _schedule(RH_ONLY) == (max_iters, interval, keep)
    assert max_iters >= 2 * interval, 'the tiny tier needs two checkpoints for this test'
    # BASELINE is killed after its first checkpoint; RH_ONLY after its last one (the training
    # loop is over, train.json not yet written), and that newest checkpoint is then truncated.
    holds = {BASELINE: interval, RH_ONLY: max_iters}
    targets = [f'results/tiny/{run}/seed0/train.json' for run in holds]
    env = workflow_env(PYTHONPATH=str(hold), SRTOD_TEST_HOLD=';'.join(
        f'{run}@{k}' for run, k in holds.items()), SRTOD_TEST_HOLD_DIR=str(hold))

    proc, out = start_snakemake(work, *targets, '--cores', '2', '--keep-going', *CONFIG,
                                env=env, log_name='first')
    try:
        markers = {run: hold / (run.replace('/', '__') + '.held') for run in holds}
        wait_for(lambda: all(m.exists() for m in markers.values()) or proc.poll() is not None,
                 timeout=900, interval=0.5, what='both trainings to reach their hold point')
        assert proc.poll() is None, f'snakemake ended early:\n{tail(out.read_text())}'
        tree = descendants(proc.pid)
        for run, marker in markers.items():
            pid = int(marker.read_text())
            assert pid in tree, f'{run}: pid {pid} is not a job of this snakemake'
            os.kill(pid, signal.SIGKILL)
        returncode = proc.wait(timeout=300)
    finally:
        kill_group(proc)
    assert returncode != 0, 'a killed training must fail its job'
    assert 'Error in rule mmdet_train' in out.read_text()

    for run, k in holds.items():
        run_dir = _run_dir(work, run)
        # Snakemake removed nothing but the job's declared outputs (never written); the
        # mmengine work_dir with its checkpoints is still there.
        assert not (run_dir / 'train.json').exists() and not (run_dir / 'checkpoint.pth').exists()
        saved = sorted(p.name for p in (run_dir / 'train').glob('iter_*.pth'))
        assert saved == [f'iter_{i}.pth' for i in _kept(k, interval, keep)], (run, saved)
        assert (run_dir / 'train' / 'last_checkpoint').exists()

    newest = _run_dir(work, RH_ONLY) / 'train' / f'iter_{max_iters}.pth'
    newest.write_bytes(newest.read_bytes()[:4096])   # a write cut short by a full disk or a kill
    older = _kept(max_iters, interval, keep)[:-1]
    resume_at = {BASELINE: interval, RH_ONLY: older[-1] if older else 0}

    second = run_snakemake(work, *targets, '--cores', '2', '--keep-going', *CONFIG,
                           log_name='second')
    assert second.returncode == 0, tail(second.stdout)
    assert 'rule srtod_synth' not in second.stdout and 'rule srtod_validate' not in second.stdout

    for run, start in resume_at.items():
        run_dir = _run_dir(work, run)
        record = _read_json(run_dir / 'train.json')
        assert record['status'] == 'ok' and record['run_id'] == run
        # The same iteration count as an uninterrupted run: the config's max_iters.
        assert record['iterations'] == record['max_iterations'] == max_iters
        log = (work / 'logs' / 'tiny' / run / 'seed0' / 'train.log').read_text()
        if start:
            assert Path(record['resumed_from']).name == f'iter_{start}.pth', record
            assert f'resuming from {run_dir.relative_to(work) / "train"}' in log or \
                f'iter_{start}.pth' in log, tail(log)
        else:
            assert record['resumed_from'] is None and 'restarts from scratch' in log, tail(log)
        # mmengine's own log: the second attempt went on after the checkpoint.
        attempts = _logged_iterations(run_dir / 'train')
        assert attempts[-1] == list(range(start + 1, max_iters + 1)), (run, attempts)
        assert len(attempts) == 2 and attempts[0] == list(range(1, holds[run] + 1)), attempts

    # The truncated checkpoint was named in the log and set aside, never loaded silently.
    log = (work / 'logs' / 'tiny' / RH_ONLY / 'seed0' / 'train.log').read_text()
    assert newest.name in log and 'corrupt' in log, tail(log)
    assert newest.with_name(newest.name + '.corrupt').exists()


# --- a full disk while a checkpoint is written ----------------------------------------------

def _mount_tmpfs(path: Path, size_mb: int, remount: bool = False) -> subprocess.CompletedProcess:
    options = f'{"remount," if remount else ""}size={size_mb}m'
    return subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(path)],
                          capture_output=True, text=True)


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or shutil.which('mount') is None:
        return False
    probe = Path(tempfile.mkdtemp(prefix='srtod-tmpfs-probe-'))
    try:
        if _mount_tmpfs(probe, 1).returncode != 0:
            return False
        subprocess.run(['umount', str(probe)], capture_output=True)
        return True
    finally:
        probe.rmdir()


@pytest.mark.skipif(not _can_mount_tmpfs(), reason='needs root and tmpfs mounts (a small disk)')
def test_disk_full_while_writing_results_then_rerun_resumes(tiny_data, tmp_path):
    work = _workdir(tiny_data, tmp_path / 'wf')
    run_dir = _run_dir(work, BASELINE)
    run_dir.mkdir(parents=True)
    target = f'results/tiny/{BASELINE}/seed0/train.json'
    max_iters, interval, keep = _schedule(BASELINE)
    # The run's folder on a small disk: room for the work_dir (the `keep` newest 25.5 MB
    # training checkpoints of this tiny model) but not also for the 12.8 MB final weights, so
    # the disk fills while train writes its results.
    assert _mount_tmpfs(run_dir, round(keep * 25.5 + 6.5)).returncode == 0
    try:
        first = run_snakemake(work, target, '--cores', '1', *CONFIG, log_name='full')
        assert first.returncode != 0, tail(first.stdout)
        log = (work / 'logs' / 'tiny' / BASELINE / 'seed0' / 'train.log').read_text()
        assert 'No space left on device' in log, tail(log)
        # An infrastructure failure: no result file, not even a partial one or a temporary.
        assert sorted(p.name for p in run_dir.iterdir()) == ['train'], list(run_dir.iterdir())
        last = run_dir / 'train' / f'iter_{max_iters}.pth'
        assert last.exists()

        assert _mount_tmpfs(run_dir, 400, remount=True).returncode == 0   # space freed
        second = run_snakemake(work, target, '--cores', '1', *CONFIG, log_name='freed')
        assert second.returncode == 0, tail(second.stdout)
        record = _read_json(run_dir / 'train.json')
        assert record['status'] == 'ok' and record['iterations'] == max_iters
        # Resumed from the last checkpoint: no iteration trained twice.
        assert Path(record['resumed_from']).name == last.name, record
        attempts = _logged_iterations(run_dir / 'train')
        assert attempts[0] == list(range(1, max_iters + 1)) and attempts[-1] == [], attempts
    finally:
        subprocess.run(['umount', str(run_dir)], capture_output=True)


# --- a NaN loss in one run ------------------------------------------------------------------

def test_nan_loss_fails_one_run_and_the_report_says_why(tiny_data, tmp_path):
    work = _workdir(tiny_data, tmp_path / 'wf')
    env = workflow_env(SRTOD_INJECT_NAN_AT='2', SRTOD_INJECT_NAN_RUN=RH_ONLY)
    proc = run_snakemake(work, 'reports/tiny/index.md', '--cores', '2', '--keep-going', *CONFIG,
                         env=env, timeout=900)
    # A model failure is a result: no job failed.
    assert proc.returncode == 0, tail(proc.stdout)

    failed = _read_json(_run_dir(work, RH_ONLY) / 'train.json')
    assert failed['status'] == 'failed' and failed['failure']['iteration'] == 2
    reason = failed['failure']['reason']
    assert 'nan' in reason.lower()
    log = (work / 'logs' / 'tiny' / RH_ONLY / 'seed0' / 'train.log').read_text()
    assert re.search(rf'{re.escape(RH_ONLY)}.*iteration 2', log), tail(log)
    metrics = _read_json(_run_dir(work, RH_ONLY) / 'metrics.json')
    assert metrics['status'] == 'failed' and not metrics.get('metrics')

    for run in (BASELINE, SRTOD):  # the other runs went on to the end
        record = _read_json(_run_dir(work, run) / 'train.json')
        assert record['status'] == 'ok' and record['iterations'] == record['max_iterations']
        assert 'AP' in _read_json(_run_dir(work, run) / 'metrics.json')['metrics']

    report = (work / 'reports' / 'tiny' / f'{TABLE}.md').read_text()
    # The row of the reproduced table: failed, with the reason and the iteration.
    row = [line for line in report.splitlines() if line.startswith('| RH | failed')]
    assert len(row) == 1 and reason in row[0] and 'iteration 2' in row[0], report


# --- bad input ------------------------------------------------------------------------------

def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture
def finished_results(tmp_path):
    """A working directory whose results/ already holds a finished run."""
    work = tmp_path / 'wf'
    run_dir = _run_dir(work, BASELINE)
    run_dir.mkdir(parents=True)
    (run_dir / 'train.json').write_text(json.dumps({'run_id': BASELINE, 'status': 'ok'}))
    (run_dir / 'metrics.json').write_text(json.dumps({'run_id': BASELINE, 'metrics': {'AP': 1}}))
    return work


@pytest.mark.parametrize('args, expected', [
    (('--config', 'tier=tiny', 'tables=[T9]'), "'T9' is not one of"),
    (('--config', 'tier=huge', 'tables=[T4]'), "'huge' is not one of"),
    (('--config', 'tier=tiny', 'tables=[T4]', 'data={imagenet: /data}'), "'imagenet'"),
    (('--config', 'tier=paper', 'tables=[T4]'), 'droneswarms: no path given'),
    (('--config', 'tier=paper', 'tables=[T4]', 'data={droneswarms: /nonexistent/DroneSwarms}'),
     '/nonexistent/DroneSwarms is not a folder'),
    (('results/tiny/droneswarms/cascade_rcnn+srtod-bogus/seed0/train.json',
      '--config', 'tier=tiny', 'tables=[T4]'), 'No rule to produce'),
    (('results/tiny/../../escape/seed0/train.json', '--config', 'tier=tiny', 'tables=[T4]'),
     'No rule to produce'),
], ids=['unknown-table', 'unknown-tier', 'unknown-dataset-key',
        'paper-without-data-path', 'paper-missing-data-path', 'unknown-run-id', 'path-escape'])
def test_bad_input_stops_before_any_job(finished_results, args, expected):
    work = finished_results
    before = _snapshot(work / 'results')
    proc = run_snakemake(work, '--cores', '1', *args, timeout=300)
    assert proc.returncode != 0, tail(proc.stdout)
    assert expected in proc.stdout, tail(proc.stdout)
    assert 'Invalid config definition' not in proc.stdout, tail(proc.stdout)
    # Stopped before any job: nothing ran, nothing under results/ changed, no data made.
    assert 'Select jobs to execute' not in proc.stdout and 'rule srtod_synth' not in proc.stdout
    assert _snapshot(work / 'results') == before
    assert not (work / 'data').exists() and not (work / 'logs').exists()


def test_paper_data_path_with_wrong_layout_names_the_missing_files(finished_results, tmp_path):
    source = tmp_path / 'DroneSwarms'
    (source / 'images').mkdir(parents=True)   # annotations/ missing
    work = finished_results
    before = _snapshot(work / 'results')
    proc = run_snakemake(work, '--cores', '1', '--config', 'tier=paper', 'tables=[T4]',
                         f'data={{droneswarms: {source}}}', timeout=300)
    assert proc.returncode != 0
    assert f'{source}/annotations/train.json not found' in proc.stdout, tail(proc.stdout)
    assert _snapshot(work / 'results') == before and not (work / 'data').exists()


def test_srtod_train_rejects_unknown_and_escaping_run_ids(tmp_path):
    srtod = str(VENV_BIN / 'srtod')
    for run_id, expected in (('droneswarms/cascade_rcnn+srtod-rhh', 'cascade_rcnn+srtod-rh'),
                             ('../../etc/passwd', 'run id')):
        proc = subprocess.run([srtod, 'train', run_id, '--tier', 'tiny'], cwd=tmp_path,
                              env=workflow_env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr
    assert not (tmp_path / 'results').exists()
