"""One run on several GPUs: ``srtod train --gpus N`` with N > 1 trains in N processes.

The launcher (``launch``, in the ``srtod train`` process) picks the checkpoint to resume from,
writes the config to a private temporary folder and starts ``torchrun --standalone
--nproc-per-node N``; each worker (``worker_main``) trains with mmengine's ``pytorch`` launcher,
one process per GPU, the batch per GPU being the config's ``train_dataloader.batch_size``.
Without a GPU the workers are N CPU processes joined by the gloo backend (how the tests run
it). Rank 0 alone writes ``checkpoint.pth`` and ``train.json`` (with ``world_size``); the
launcher returns that record.

How many GPUs a run gets (``run_gpus``): at the paper tier, the registry's count for the run's
dataset (``datasets.<name>.gpus`` in configs/experiments.yaml; paper section 4.1: 2 for
DroneSwarms, 1 for the others); 1 at the smoke and tiny tiers. ``--gpus`` overrides both.

A killed launcher takes its workers with it (Linux: each child asks the kernel for SIGKILL when
its parent dies), so a rerun never races with orphans of an earlier attempt.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from mmdet.registry import HOOKS

__all__ = ['run_gpus', 'world_size', 'rank', 'is_worker', 'configure', 'launch', 'worker_main',
           'DistributedTrainingError', 'LossSyncHook']


class DistributedTrainingError(RuntimeError):
    """torchrun or one of its workers failed; the rule's log has the workers' output."""


def run_gpus(run_id: str, tier: str, registry=None) -> int:
    """GPUs of one run at a tier: the registry's count for its dataset at the paper tier, else 1.

    Args:
        run_id: a run id of the registry.
        tier: ``paper``, ``smoke`` or ``tiny``.
        registry: the loaded registry (default: ``load_registry()``).

    Returns:
        ``registry.dataset_gpus(dataset)`` at the paper tier, 1 at the slim tiers.
    """
    if tier != 'paper':
        return 1
    if registry is None:
        from srtod.registry import load_registry
        registry = load_registry()
    return registry.dataset_gpus(registry.get_run(run_id).dataset)


def world_size() -> int:
    """Processes of this training (``WORLD_SIZE`` set by torchrun; 1 outside it)."""
    return int(os.environ.get('WORLD_SIZE', '1'))


def rank() -> int:
    """This process's rank (0 outside torchrun)."""
    return int(os.environ.get('RANK', '0'))


def is_worker() -> bool:
    """True in a worker of a multi-process training."""
    return world_size() > 1


def _has_unused_parameters(cfg) -> bool:
    """Whether the model keeps a trainable parameter outside the loss graph.

    DGFE with ``parts='rw'`` (reweighting only, supplement Table 1) keeps its threshold ``t`` as
    a parameter but never uses the filtered map, so ``t`` gets no gradient; DDP must then look
    for unused parameters, or it stops at the second iteration.
    """
    found = []

    def walk(node):
        if isinstance(node, dict):
            dgfe = node.get('dgfe')
            if isinstance(dgfe, dict) and dgfe.get('parts', 'rw+dm') == 'rw' and \
                    dgfe.get('filtration', 'learnable') in ('learnable', 'ste'):
                found.append(dgfe)
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg.get('model', {}))
    return bool(found)


def configure(cfg) -> None:
    """Make ``cfg`` train as one worker of a multi-process run (in place; call in a worker).

    mmengine's ``pytorch`` launcher; model wrapped in ``MMDistributedDataParallel`` (looking for
    unused parameters when the model has some, see ``_has_unused_parameters``); the loss terms
    averaged over the workers each iteration (``LossSyncHook``), so the log shows the mean and
    a NaN in one worker stops all of them at the same iteration. Without CUDA: gloo, a process
    group opened here (mmengine's own set-up calls ``torch.cuda.set_device``, which a CPU build
    of torch lacks), and DDP without device ids.
    """
    import torch
    import torch.distributed as dist

    cfg.launcher = 'pytorch'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       bool(cfg.get('find_unused_parameters', False))
                       or _has_unused_parameters(cfg))
    env_cfg = dict(cfg.get('env_cfg') or {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    if not torch.cuda.is_available():
        dist_cfg['backend'] = 'gloo'
        wrapper['device_ids'] = None
        if not dist.is_initialized():
            dist.init_process_group(backend='gloo')
    else:
        dist_cfg.setdefault('backend', 'nccl')
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg
    cfg.model_wrapper_cfg = wrapper
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'LossSyncHook' for h in hooks):
        hooks.append(dict(type='LossSyncHook'))
    cfg.custom_hooks = hooks


@HOOKS.register_module()
class LossSyncHook(Hook):
    """Average the train step's loss terms over the workers, before any other hook reads them.

    Each worker computes its losses on its own images; without this, one worker could see a
    NaN and stop while the others wait for it in the next gradient all-reduce.
    """

    priority = 'HIGHEST'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs or get_world_size() < 2:
            return
        import torch
        names = [k for k, v in outputs.items() if isinstance(v, (torch.Tensor, float, int))]
        if not names:
            return
        values = torch.stack([torch.as_tensor(outputs[k], dtype=torch.float64).detach().cpu()
                              .reshape(()) for k in names])
        all_reduce(values, op='mean')
        for name, value in zip(names, values):
            outputs[name] = value.to(torch.float32)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    try:
        import ctypes
        import signal
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# Run by torchrun in each worker: the first thing it does is to die with torchrun's agent.
_BOOT = ('import ctypes, signal, sys\n'
         'try:\n'
         '    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))\n'
         'except (OSError, AttributeError):\n'
         '    pass\n'
         'from srtod.engine.distributed import worker_main\n'
         'sys.exit(worker_main(sys.argv[1]))\n')


def launch(cfg, run_dir: Path, *, run_id, tier, seed: int, gpus: int, config_hash: str,
           resume_from: Path | None, log) -> dict:
    """Train with ``gpus`` processes under torchrun and return rank 0's train.json record.

    Args:
        cfg: the run's config as given to ``train_run`` (before the engine's additions).
        run_dir: the run directory.
        run_id, tier, seed: as ``train_run``'s.
        gpus: number of processes (one per GPU).
        config_hash: the hash of ``cfg`` the launcher computed (the record's ``config_hash``).
        resume_from: the checkpoint the workers resume from, chosen by the launcher.
        log: the run's ``TrainLog``.

    Raises:
        DistributedTrainingError: torchrun or a worker failed (no result file is written).
    """
    import torch

    if torch.cuda.is_available():
        backend = 'nccl'
    else:
        backend = 'gloo (no GPU: CPU processes)'
    log(f'training in {gpus} processes under torchrun, backend {backend}, '
        f'{cfg.train_dataloader.batch_size} images per process and iteration')
    scratch = Path(tempfile.mkdtemp(prefix='srtod-dist-'))
    try:
        config_file = scratch / 'config.py'
        cfg.dump(str(config_file))
        spec = dict(config=str(config_file), run_dir=str(run_dir), run_id=run_id, tier=tier,
                    seed=int(seed), config_hash=config_hash,
                    resume_from=None if resume_from is None else str(resume_from),
                    threads=max(1, torch.get_num_threads() // gpus))
        spec_file = scratch / 'spec.json'
        spec_file.write_text(json.dumps(spec), encoding='utf-8')
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nnodes', '1',
               '--nproc-per-node', str(gpus), '--no-python', sys.executable, '-c', _BOOT,
               str(spec_file)]
        env = dict(os.environ, OMP_NUM_THREADS=str(spec['threads']))
        proc = subprocess.run(cmd, env=env, preexec_fn=_die_with_parent, check=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if proc.returncode != 0:
        raise DistributedTrainingError(
            f'{gpus}-process training of {run_id} (tier {tier}, seed {seed}) failed: torchrun '
            f'exited with status {proc.returncode}; the workers\' output is above')
    record_path = Path(run_dir) / 'train.json'
    if not record_path.is_file():
        raise DistributedTrainingError(f'the workers ended without writing {record_path}')
    return json.loads(record_path.read_text(encoding='utf-8'))


def worker_main(spec_file: str) -> int:
    """One torchrun worker: train the run described by ``spec_file`` (written by ``launch``)."""
    import torch
    from mmengine.config import Config

    from .train import train_run

    spec = json.loads(Path(spec_file).read_text(encoding='utf-8'))
    torch.set_num_threads(int(spec['threads']))
    cfg = Config.fromfile(spec['config'])
    record = train_run(cfg, spec['run_dir'], run_id=spec['run_id'], tier=spec['tier'],
                       seed=spec['seed'], gpus=world_size(), _worker=spec)
    return 0 if record else 1
