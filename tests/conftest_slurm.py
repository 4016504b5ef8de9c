"""Helpers of the workflow-level tests: running Snakemake on the tiny tier in a scratch working
directory, watching its process tree, and a real single-node SLURM cluster (scripts/slurm/).

Imported by tests/test_slurm.py and tests/test_workflow_faults.py (pytest puts tests/ on the
import path); the ``slurm_cluster`` fixture is used by importing it into a test module.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / 'Snakefile'
VENV_BIN = Path(sys.executable).parent
SLURM_SCRIPTS = REPO / 'scripts' / 'slurm'
SLURM_BINARIES = ('sbatch', 'squeue', 'scancel', 'sinfo', 'scontrol', 'slurmctld', 'slurmd',
                  'munged', 'mungekey')


def which(name: str) -> str | None:
    """``shutil.which`` that also looks in /usr/sbin (daemons are there, off a user's PATH)."""
    return shutil.which(name) or shutil.which(name, path='/usr/sbin:/sbin')


def missing_slurm() -> list[str]:
    """The SLURM/munge binaries that are not installed."""
    return [name for name in SLURM_BINARIES if which(name) is None]


def snakemake_available() -> bool:
    return (VENV_BIN / 'snakemake').exists() or shutil.which('snakemake') is not None


def workflow_env(**extra: str) -> dict[str, str]:
    """The environment of a Snakemake run: this venv first on PATH (its jobs call ``srtod``),
    one thread per library, no inherited SLURM job variables or fault injection."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('SLURM_', 'SRTOD_INJECT_', 'SNAKEMAKE_'))}
    env['PATH'] = f'{VENV_BIN}{os.pathsep}/usr/sbin{os.pathsep}{env.get("PATH", "")}'
    for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
        env[name] = '1'
    env.update(extra)
    return env


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    """``snakemake`` on the repository's Snakefile with ``workdir`` as its working directory
    (results/, data/, logs/, reports/ and .snakemake/ land there, not in the checkout)."""
    exe = VENV_BIN / 'snakemake'
    return [str(exe) if exe.exists() else 'snakemake', '--snakefile', str(SNAKEFILE),
            '--directory', str(workdir), *args]


def run_snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: float = 600,
                  log_name: str = 'snakemake') -> subprocess.CompletedProcess:
    """Run Snakemake to the end; its combined output is returned and kept in
    ``workdir/<log_name>.out`` (numbered when the name is taken) for failed assertions."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = _free_name(workdir, log_name)
    with open(out, 'w', encoding='utf-8') as handle:
        proc = subprocess.run(snakemake_cmd(workdir, *args), cwd=workdir, env=env or workflow_env(),
                              stdout=handle, stderr=subprocess.STDOUT, timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(encoding='utf-8'))


def start_snakemake(workdir: Path, *args: str, env: dict | None = None,
                    log_name: str = 'snakemake') -> tuple[subprocess.Popen, Path]:
    """Start Snakemake in the background, in its own process group; returns (process, output)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = _free_name(workdir, log_name)
    handle = open(out, 'w', encoding='utf-8')  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(snakemake_cmd(workdir, *args), cwd=workdir, env=env or workflow_env(),
                            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    handle.close()
    return proc, out


def _free_name(workdir: Path, stem: str) -> Path:
    path, index = workdir / f'{stem}.out', 1
    while path.exists():
        index += 1
        path = workdir / f'{stem}.{index}.out'
    return path


def tail(text: str, lines: int = 60) -> str:
    return '\n'.join(text.splitlines()[-lines:])


# --- processes ------------------------------------------------------------------------------

def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', encoding='utf-8', errors='replace') as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces: the parent id follows its closing ')'.
        ppid = int(stat[stat.rindex(')') + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def cmdline(pid: int) -> list[str]:
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return [part.decode(errors='replace') for part in f.read().split(b'\0') if part]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` in the process tree, now."""
    children, found, todo = _children_map(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def find_process(root: int, *words: str) -> int | None:
    """The first descendant of ``root`` whose command line holds all ``words`` in order as
    consecutive arguments (e.g. ``'train', 'droneswarms/faster_rcnn'``)."""
    for pid in descendants(root):
        args = cmdline(pid)
        for start in range(len(args) - len(words) + 1):
            if tuple(args[start:start + len(words)]) == words:
                return pid
    return None


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = 'condition'):
    """Poll ``predicate`` until it returns a true value (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f'timed out after {timeout:.0f} s waiting for {what}')


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started by :func:`start_snakemake` and everything in its session."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


# --- the SLURM test cluster -----------------------------------------------------------------

@dataclass
class SlurmCluster:
    """A running test cluster made by scripts/slurm/start.sh.

    Args:
        root: its state directory (config, logs, jobcomp.txt).
        partition: its only partition.
        gpus: stand-in GPUs of its node.
    """
    root: Path
    partition: str
    gpus: int

    @property
    def conf(self) -> Path:
        return self.root / 'slurm.conf'

    @property
    def jobcomp_path(self) -> Path:
        return self.root / 'log' / 'jobcomp.txt'

    def env(self, base: dict | None = None) -> dict[str, str]:
        env = dict(base if base is not None else workflow_env())
        env['SLURM_CONF'] = str(self.conf)
        return env

    def run(self, *args: str, timeout: float = 30) -> str:
        """A SLURM client command against this cluster; its stdout."""
        proc = subprocess.run(list(args), env=self.env(), capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f'{" ".join(args)} exited {proc.returncode}: {proc.stderr}')
        return proc.stdout

    def jobcomp(self) -> dict[str, dict[str, str]]:
        """Finished jobs as recorded by jobcomp/filetxt: job id -> {field: value}."""
        records = {}
        if not self.jobcomp_path.exists():
            return records
        for line in self.jobcomp_path.read_text(encoding='utf-8').splitlines():
            fields = dict(part.split('=', 1) for part in line.split() if '=' in part)
            if 'JobId' in fields:
                records[fields['JobId']] = fields
        return records

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job slurmctld still knows (finished ones stay MinJobAge seconds): job id ->
        name, state, comment (the executor's rule and wildcards), node, exit code."""
        out = self.run('squeue', '--states=all', '--noheader',
                       '--format=%i|%j|%T|%k|%N|%P')
        jobs = {}
        for line in out.splitlines():
            job_id, name, state, comment, nodes, partition = line.split('|')[:6]
            jobs[job_id] = dict(name=name, state=state, comment=comment, nodes=nodes,
                                partition=partition)
        return jobs


def start_cluster(partition: str = 'debug', gpus: int = 0) -> SlurmCluster:
    """Start a cluster in a new directory under /tmp (short: the munge socket path is limited
    to 108 bytes); stop it with :func:`stop_cluster`."""
    root = Path(tempfile.mkdtemp(prefix='srtod-slurm-', dir='/tmp'))
    env = workflow_env(SRTOD_SLURM_PARTITION=partition, SRTOD_SLURM_GPUS=str(gpus))
    proc = subprocess.run(['bash', str(SLURM_SCRIPTS / 'start.sh'), str(root)], env=env,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        logs = ''.join(f'\n--- {p.name}\n{tail(p.read_text(errors="replace"), 20)}'
                       for p in sorted((root / 'log').glob('*')) if p.is_file())
        subprocess.run(['bash', str(SLURM_SCRIPTS / 'stop.sh'), str(root)], capture_output=True)
        raise AssertionError(f'start.sh failed ({proc.returncode}): {proc.stderr}{logs}')
    return SlurmCluster(root=root, partition=partition, gpus=gpus)


def stop_cluster(cluster: SlurmCluster) -> None:
    subprocess.run(['bash', str(SLURM_SCRIPTS / 'stop.sh'), str(cluster.root)],
                   capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope='module')
def slurm_cluster():
    """A single-node cluster for the module: partition ``debug``, two stand-in GPUs (the
    profile's GPU jobs ask ``--gpus=1``), stopped and removed afterwards."""
    cluster = start_cluster(partition='debug', gpus=2)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
