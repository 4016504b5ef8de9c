"""``srtod doctor``: the torch build, CUDA, mmcv's compiled kernels and the GPUs of this machine.

The same check runs at the start of every ``srtod train``, ``srtod test`` and ``srtod fps``
(``ensure_gpu_stack``), so that a job on a GPU node with an unusable stack stops before it
trains, with a message that says what to fix, instead of failing at its first iteration (mmcv's
RoIAlign without CUDA kernels) or silently training on the CPU (a CPU build of torch).

What counts as a problem (``problems``):
- torch sees a GPU, but mmcv's ops were compiled without CUDA (built where no GPU was visible);
- torch sees a GPU, but mmcv's RoIAlign does not run on it (e.g. no kernel for its architecture);
- mmcv's ops were compiled for another major CUDA version than torch's;
- the NVIDIA driver lists GPUs (``nvidia-smi -L``) that torch cannot use (a CPU build of torch,
  or a CUDA build the driver is too old for), unless ``CUDA_VISIBLE_DEVICES`` hides them on
  purpose (set to the empty string);
- a job asks for more GPUs than torch sees (``ensure_gpu_stack(gpus=N)`` on a machine with GPUs);
- a paper-tier job (``require_gpu=True``) sees no GPU at all, e.g. a SLURM job step that was not
  given the job's GPUs, unless ``CUDA_VISIBLE_DEVICES`` is set to the empty string on purpose.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from srtod.errors import SRTODError

__all__ = ['GPUStackError', 'gather', 'problems', 'ensure_gpu_stack', 'format_report',
           'add_commands']


class GPUStackError(SRTODError):
    """torch, CUDA and mmcv cannot run a GPU job here; the message lists what to fix."""


def _driver_gpus() -> list[str] | None:
    """``nvidia-smi -L`` lines (the GPUs the driver gives this job), or None without nvidia-smi."""
    exe = shutil.which('nvidia-smi')
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, '-L'], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.startswith('GPU ')]


def _mmcv_info() -> dict:
    try:
        import mmcv
    except Exception as err:  # noqa: BLE001 - reported, not raised
        return dict(mmcv=None, mmcv_ops=False, mmcv_cuda=None, mmcv_error=str(err))
    try:
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version
        compiled = get_compiling_cuda_version()
        compiler = get_compiler_version()
    except Exception as err:  # noqa: BLE001 - mmcv-lite or a broken build
        return dict(mmcv=mmcv.__version__, mmcv_ops=False, mmcv_cuda=None,
                    mmcv_error=f'mmcv.ops cannot be loaded: {err}')
    return dict(mmcv=mmcv.__version__, mmcv_ops=True, mmcv_compiler=compiler,
                mmcv_cuda=None if compiled in ('', 'not available') else compiled,
                mmcv_error=None)


def _roi_align_on_gpu() -> str:
    """Run mmcv's RoIAlign (used by every two-stage detector) on GPU 0: 'ok' or the error."""
    try:
        import torch
        from mmcv.ops import roi_align
        feats = torch.arange(2 * 8 * 8, dtype=torch.float32, device='cuda').reshape(1, 2, 8, 8)
        rois = torch.tensor([[0, 1.0, 1.0, 6.0, 6.0]], device='cuda')
        out = roi_align(feats, rois, (2, 2), 1.0, 0, 'avg', True)
        torch.cuda.synchronize()
        if tuple(out.shape) != (1, 2, 2, 2) or not bool(torch.isfinite(out).all()):
            return f'unexpected output {tuple(out.shape)}'
        return 'ok'
    except Exception as err:  # noqa: BLE001 - the message is the finding
        return f'{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ""}'


def gather(run_kernel: bool = True) -> dict:
    """What this process sees: torch build, CUDA, GPUs, the driver's GPUs, mmcv and its kernels.

    Args:
        run_kernel: with a GPU visible and CUDA kernels in mmcv, run RoIAlign on it once.

    Returns:
        A JSON-serialisable dict (``srtod doctor --json`` prints it).
    """
    import torch

    info = dict(torch=torch.__version__, torch_cuda=torch.version.cuda,
                cudnn=None, torch_arch_list=[], cuda_available=False, gpus=[],
                cuda_visible_devices=os.environ.get('CUDA_VISIBLE_DEVICES'),
                driver_gpus=_driver_gpus(), python=sys.version.split()[0])
    if torch.version.cuda:
        try:
            info['cuda_available'] = bool(torch.cuda.is_available())
            info['torch_arch_list'] = list(torch.cuda.get_arch_list())
            info['cudnn'] = torch.backends.cudnn.version()
        except Exception as err:  # noqa: BLE001
            info['cuda_error'] = str(err)
    if info['cuda_available']:
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info['gpus'].append(dict(index=index, name=props.name,
                                     capability=f'{props.major}.{props.minor}',
                                     memory_gib=round(props.total_memory / 2**30, 1)))
    info.update(_mmcv_info())
    info['roi_align_gpu'] = None
    if run_kernel and info['gpus'] and info['mmcv_cuda']:
        info['roi_align_gpu'] = _roi_align_on_gpu()
    return info


def _major(version: str | None) -> str | None:
    return None if not version else str(version).split('.')[0]


def problems(info: dict, gpus: int = 0, require_gpu: bool = False) -> list[str]:
    """Why a GPU job would fail (or run on the wrong device) with this stack; empty when fine.

    Args:
        info: :func:`gather`'s dict.
        gpus: GPUs the job will use; more than torch sees is a problem where GPUs exist.
        require_gpu: the job must run on a GPU (the paper tier): none seen is a problem.

    Returns:
        One sentence per problem, each saying what to do.
    """
    found = []
    seen = info.get('gpus') or []
    reinstall = ('rebuild mmcv on a GPU node, or on the login node with FORCE_CUDA=1, CUDA_HOME '
                 'and TORCH_CUDA_ARCH_LIST set (README, "Installing on a GPU cluster")')
    if seen and not info.get('mmcv_ops'):
        found.append(f'mmcv\'s compiled ops are missing ({info.get("mmcv_error")}); {reinstall}')
    elif seen and not info.get('mmcv_cuda'):
        found.append(f'torch sees {len(seen)} GPU(s) ({seen[0]["name"]}), but mmcv '
                     f'{info.get("mmcv")} was compiled without CUDA kernels: every two-stage '
                     f'detector would fail at its first iteration in RoIAlign; {reinstall}')
    if seen and info.get('mmcv_cuda') and info.get('torch_cuda') and \
            _major(info['mmcv_cuda']) != _major(info['torch_cuda']):
        found.append(f'mmcv\'s kernels were compiled with CUDA {info["mmcv_cuda"]}, torch with '
                     f'CUDA {info["torch_cuda"]}; {reinstall}')
    roi = info.get('roi_align_gpu')
    if roi not in (None, 'ok'):
        caps = ', '.join(sorted({g['capability'] for g in seen}))
        found.append(f'mmcv\'s RoIAlign fails on the GPU (compute capability {caps}): {roi}; '
                     f'include {caps} in TORCH_CUDA_ARCH_LIST and {reinstall}')
    driver = info.get('driver_gpus') or []
    hidden = info.get('cuda_visible_devices') in ('', '-1')
    if driver and not seen and not hidden:
        if not info.get('torch_cuda'):
            why = (f'torch {info.get("torch")} is a CPU build; install a CUDA build '
                   '(TORCH_INDEX_URL, README "Installing on a GPU cluster")')
        else:
            why = (f'torch {info.get("torch")} (CUDA {info["torch_cuda"]}) cannot use them '
                   f'({info.get("cuda_error") or "torch.cuda.is_available() is False"}); the '
                   'driver may be older than this CUDA')
        found.append(f'the driver lists {len(driver)} GPU(s) ({driver[0]}), but {why}. To run '
                     'on the CPU on purpose, set CUDA_VISIBLE_DEVICES= (empty)')
    elif require_gpu and not seen and not hidden:
        found.append('the paper tier runs on GPUs, but torch sees none (CUDA_VISIBLE_DEVICES='
                     f'{info.get("cuda_visible_devices")}, torch {info.get("torch")}); ask the '
                     'scheduler for GPUs (profiles/slurm), or set CUDA_VISIBLE_DEVICES= (empty) '
                     'to run on the CPU on purpose')
    if seen and gpus > len(seen):
        found.append(f'the job asks for {gpus} GPUs but torch sees {len(seen)} '
                     f'(CUDA_VISIBLE_DEVICES={info.get("cuda_visible_devices")}); ask the '
                     'scheduler for as many GPUs as --gpus')
    return found


def ensure_gpu_stack(gpus: int = 0, require_gpu: bool = False, info: dict | None = None) -> dict:
    """The start check of every GPU job: raise before training when the stack cannot work.

    Args:
        gpus: GPUs the job will use.
        require_gpu: the job must run on a GPU (the paper tier).
        info: :func:`gather`'s dict (gathered now when None).

    Returns:
        The gathered info.

    Raises:
        GPUStackError: one or more problems (:func:`problems`), all named in the message.
    """
    info = gather() if info is None else info
    found = problems(info, gpus=gpus, require_gpu=require_gpu)
    if found:
        raise GPUStackError('this machine cannot run the job on its GPUs (see `srtod doctor`):'
                            '\n  - ' + '\n  - '.join(found))
    return info


def format_report(info: dict, found: list[str]) -> str:
    """``srtod doctor``'s text: one line per fact, then the verdict."""
    torch_line = f'torch {info["torch"]}: ' + (
        f'CUDA {info["torch_cuda"]} build, cuDNN {info.get("cudnn")}, kernels for '
        f'{" ".join(info.get("torch_arch_list") or []) or "?"}'
        if info.get('torch_cuda') else 'CPU build (no CUDA)')
    if info.get('mmcv') is None:
        mmcv_line = f'mmcv: not importable ({info.get("mmcv_error")})'
    elif not info.get('mmcv_ops'):
        mmcv_line = f'mmcv {info["mmcv"]}: no compiled ops ({info.get("mmcv_error")})'
    else:
        kernels = (f'CUDA {info["mmcv_cuda"]} kernels' if info.get('mmcv_cuda')
                   else 'CPU kernels only (no CUDA)')
        mmcv_line = f'mmcv {info["mmcv"]}: ops compiled with {kernels}'
    if info.get('gpus'):
        gpu_lines = [f'  GPU {g["index"]}: {g["name"]}, compute capability {g["capability"]}, '
                     f'{g["memory_gib"]} GiB' for g in info['gpus']]
        gpu_head = f'GPUs seen by torch: {len(info["gpus"])}'
    else:
        gpu_lines, gpu_head = [], 'GPUs seen by torch: none'
    driver = info.get('driver_gpus')
    driver_line = ('NVIDIA driver: nvidia-smi not found' if driver is None else
                   f'NVIDIA driver lists {len(driver)} GPU(s)'
                   + (': ' + '; '.join(driver) if driver else ''))
    lines = [f'python {info.get("python")}', torch_line, mmcv_line, gpu_head, *gpu_lines,
             driver_line,
             f'CUDA_VISIBLE_DEVICES={info.get("cuda_visible_devices")}'
             if info.get('cuda_visible_devices') is not None else 'CUDA_VISIBLE_DEVICES unset']
    if info.get('roi_align_gpu') is not None:
        lines.append(f'mmcv RoIAlign on GPU 0: {info["roi_align_gpu"]}')
    if found:
        lines.append('PROBLEMS (GPU jobs stop at their start check):')
        lines += [f'  - {p}' for p in found]
    elif info.get('gpus'):
        lines.append(f'ok: GPU jobs can run here ({len(info["gpus"])} GPU(s))')
    else:
        lines.append('ok for CPU jobs: no GPU here (run `srtod doctor` on a GPU node to check '
                     'the GPU stack there)')
    return '\n'.join(lines)


def _doctor(args) -> int:
    info = gather(run_kernel=not args.no_kernel)
    found = problems(info, gpus=args.gpus, require_gpu=args.require_gpu)
    if args.json:
        print(json.dumps(dict(info, problems=found), indent=2))
    else:
        print(format_report(info, found))
    return 1 if found else 0


def add_commands(subparsers) -> None:
    """Add ``doctor`` to the ``srtod`` command."""
    parser = subparsers.add_parser(
        'doctor', help='torch build, CUDA, mmcv kernels and GPUs; exit 1 if a GPU job would fail')
    parser.add_argument('--gpus', type=int, default=0, metavar='N',
                        help='also check that N GPUs are visible (where there are GPUs)')
    parser.add_argument('--require-gpu', action='store_true',
                        help='a GPU must be visible, as paper-tier jobs check')
    parser.add_argument('--json', action='store_true', help='print the facts as JSON')
    parser.add_argument('--no-kernel', action='store_true',
                        help='do not run the RoIAlign check on the GPU')
    parser.set_defaults(func=_doctor)
