"""The workflow on a real SLURM cluster: Debian's slurm-wlm and munge, one node (this machine),
started by scripts/slurm/start.sh. SLURM's own records (squeue with the executor's job comments,
and the jobcomp/filetxt file) must show that plain batch jobs and the tiny tier's trainings ran
as SLURM jobs on that node.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest
from conftest_slurm import (REPO, missing_slurm, run_snakemake, slurm_cluster,  # noqa: F401
                            snakemake_available, tail, wait_for)

MISSING = missing_slurm()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f'SLURM binaries missing ({", ".join(MISSING)}); '
                       'install them with scripts/slurm/install.sh'),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason='the test cluster runs slurmd, which must be root to start jobs'),
]

HOST = socket.gethostname().split('.')[0]
TABLE = 'T4'   # three runs on one dataset: Cascade R-CNN, + RH only, + SR-TOD
RUNS = ('droneswarms/cascade_rcnn', 'droneswarms/cascade_rcnn+srtod-rh',
        'droneswarms/cascade_rcnn+srtod')


def _sbatch(cluster, tmp_path, name: str, command: str) -> str:
    out = cluster.run('sbatch', '--parsable', f'--job-name={name}', f'--chdir={tmp_path}',
                      f'--output={tmp_path}/{name}.out', f'--partition={cluster.partition}',
                      '--ntasks=1', '--cpus-per-task=1', '--mem=100', f'--wrap={command}')
    return out.strip().split(';')[0]


def test_batch_jobs_run_and_are_recorded(slurm_cluster, tmp_path):
    cluster = slurm_cluster
    node, state, cpus, gres = cluster.run('sinfo', '--noheader', '--Node',
                                          '--format=%N|%t|%c|%G').strip().split('|')
    # This machine, with every CPU schedulable, and the stand-in GPUs.
    assert (node, state, int(cpus)) == (HOST, 'idle', os.cpu_count())
    assert gres == f'gpu:{cluster.gpus}'
    ok = _sbatch(cluster, tmp_path, 'ok', 'echo "job=$SLURM_JOB_ID node=$SLURMD_NODENAME"')
    bad = _sbatch(cluster, tmp_path, 'bad', 'exit 3')
    records = wait_for(lambda: (lambda r: r if {ok, bad} <= set(r) else None)(cluster.jobcomp()),
                       timeout=60, what='both jobs in jobcomp.txt')
    assert records[ok]['JobState'] == 'COMPLETED' and records[ok]['ExitCode'] == '0:0'
    assert records[ok]['NodeList'] == HOST and records[ok]['Name'] == 'ok'
    assert records[bad]['JobState'] == 'FAILED' and records[bad]['ExitCode'] == '3:0'
    # The job really ran through slurmd: it saw its own id and node.
    assert (tmp_path / 'ok.out').read_text().split() == [f'job={ok}', f'node={HOST}']
    # Finished jobs stay visible to squeue (MinJobAge), which the executor's status check reads.
    jobs = wait_for(lambda: (lambda j: j if j[ok]['state'] != 'COMPLETING' and
                             j[bad]['state'] != 'COMPLETING' else None)(cluster.jobs()),
                    timeout=30, what='both jobs to leave COMPLETING')
    assert jobs[ok]['state'] == 'COMPLETED' and jobs[bad]['state'] == 'FAILED'


@pytest.mark.skipif(not snakemake_available(), reason='snakemake is not installed')
def test_tiny_table_trains_as_slurm_jobs(slurm_cluster, tmp_path):
    cluster = slurm_cluster
    before = set(cluster.jobcomp())
    # profiles/slurm as a user runs it; only what this one-node CPU cluster needs is overridden:
    # its partition, no account database (status from squeue), one CPU per job (the profile
    # asks 4 for GPU jobs), and short status intervals. The GPU jobs' --gpus=1 is kept: the
    # node has two stand-in GPUs.
    proc = run_snakemake(
        tmp_path, '--profile', str(REPO / 'profiles' / 'slurm'),
        '--config', 'tier=tiny', f'tables=[{TABLE}]',
        '--slurm-no-account', '--slurm-status-command', 'squeue',
        '--slurm-init-seconds-before-status-checks', '2',
        '--default-resources', f'slurm_partition={cluster.partition}', 'mem_mb=2000',
        'runtime=30',
        '--set-threads', 'mmdet_train=1', 'aitod_eval=1', 'srtod_fps=1',
        '--jobs', '2', '--latency-wait', '10', '--retries', '0',
        'reports/tiny/index.md',
        env=cluster.env(), timeout=900)
    assert proc.returncode == 0, tail(proc.stdout)

    # From SLURM: every training is a job that ran on this node and completed.
    jobs = cluster.jobs()
    train_jobs = {job_id: job for job_id, job in jobs.items()
                  if job['comment'].startswith('rule_mmdet_train_')}
    assert len(train_jobs) == len(RUNS), jobs
    records = cluster.jobcomp()
    for job_id, job in train_jobs.items():
        assert job['state'] == 'COMPLETED' and job['nodes'] == HOST, job
        assert job['partition'] == cluster.partition
        assert records[job_id]['JobState'] == 'COMPLETED', records.get(job_id)
        assert records[job_id]['ExitCode'] == '0:0' and records[job_id]['NodeList'] == HOST
    # The executor said which SLURM job ran each training, and those are the ones above.
    submitted = [line for line in proc.stdout.splitlines() if 'submitted with SLURM jobid' in line]
    assert set(train_jobs) <= {line.split('SLURM jobid ')[1].split()[0] for line in submitted}
    # Evaluations ran on SLURM too; the data gate and the report ran locally (no SLURM job).
    assert sum(j['comment'].startswith('rule_aitod_eval_') for j in jobs.values()) == len(RUNS)
    assert not any('srtod_report' in j['comment'] or 'srtod_data_ready' in j['comment']
                   for j in jobs.values())
    assert set(records) - before >= set(train_jobs)

    # And the results are the workflow's: one finished training and metrics file per run.
    for run in RUNS:
        run_dir = tmp_path / 'results' / 'tiny' / run / 'seed0'
        train = json.loads((run_dir / 'train.json').read_text())
        assert train['run_id'] == run and train['status'] == 'ok'
        assert train['iterations'] == train['max_iterations'] > 0
        metrics = json.loads((run_dir / 'metrics.json').read_text())
        assert metrics['run_id'] == run and 'AP' in metrics['metrics']
    assert (tmp_path / 'reports' / 'tiny' / f'{TABLE}.md').exists()


def test_cluster_scripts_refuse_a_foreign_directory(tmp_path):
    # stop.sh removes only what start.sh made; start.sh wants a new or empty directory.
    (tmp_path / 'keep.txt').write_text('user data')
    stop = subprocess.run(['bash', str(REPO / 'scripts/slurm/stop.sh'), str(tmp_path)],
                          capture_output=True, text=True)
    assert stop.returncode == 1 and 'refusing' in stop.stderr
    start = subprocess.run(['bash', str(REPO / 'scripts/slurm/start.sh'), str(tmp_path)],
                           capture_output=True, text=True)
    assert start.returncode == 1 and 'not empty' in start.stderr
    assert (tmp_path / 'keep.txt').read_text() == 'user data'
