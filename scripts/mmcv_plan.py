"""How scripts/install.sh builds mmcv's compiled ops on this machine, and where it caches the wheel.

mmcv 2.1.0 compiles its CUDA kernels (RoIAlign and the other ops every two-stage detector needs)
only when its setup.py sees a GPU or ``FORCE_CUDA=1``; a wheel built on a login node without a
GPU has CPU kernels only, and a GPU job using it fails at its first iteration. This script
decides, from the venv's torch and the environment, whether to build the CUDA kernels and for
which GPU architectures, and names the wheel cache folder after exactly that: torch version,
CUDA version and architecture list, so a CPU-only wheel is never reused where CUDA is wanted.

It needs only torch (it runs before srtod's other dependencies are installed) and prints shell
assignments for install.sh to ``eval``::

    python scripts/mmcv_plan.py [--torch-info FILE] [--mmcv-version V]

``--torch-info`` replaces what torch reports by a JSON file with the keys of ``torch_info()``
(the tests use it to pretend to be a GPU node or a login node). Exit status 2 with a message on
stderr when the requested build cannot work (e.g. CUDA asked for with a CPU build of torch).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys

__all__ = ['PlanError', 'torch_info', 'normalize_arch_list', 'plan', 'cache_key', 'main']

_ARCH_TOKEN = re.compile(r'^(\d+\.\d+[a-z]?(\+PTX)?|[A-Z][a-z]+(\+PTX)?)$')


class PlanError(Exception):
    """The requested mmcv build cannot work here; the message says what to change."""


def torch_info() -> dict:
    """What the installed torch reports: version, CUDA it was built with, GPUs, CUDA toolkit.

    Returns:
        ``torch``: version string; ``cuda``: ``torch.version.cuda`` (None for a CPU build);
        ``gpus``: ``[{name, capability}]`` of the GPUs torch can use now; ``cuda_home``: the
        CUDA toolkit torch's extension builder would use (None when it finds no nvcc).
    """
    import torch
    from torch.utils import cpp_extension

    gpus = []
    if torch.version.cuda and torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append(dict(name=props.name, capability=f'{props.major}.{props.minor}'))
    return dict(torch=torch.__version__, cuda=torch.version.cuda, gpus=gpus,
                cuda_home=cpp_extension.CUDA_HOME)


def normalize_arch_list(text: str) -> list[str]:
    """``TORCH_CUDA_ARCH_LIST`` as a sorted list without duplicates ('9.0 8.0;8.0' -> 8.0, 9.0).

    Raises:
        PlanError: a token that is neither ``X.Y[+PTX]`` nor an architecture name (``Ampere``).
    """
    tokens = [t for t in re.split(r'[;,\s]+', text.strip()) if t]
    for token in tokens:
        if not _ARCH_TOKEN.match(token):
            raise PlanError(f'TORCH_CUDA_ARCH_LIST: {token!r} is not a compute capability; '
                            "expected e.g. '8.0;9.0' (A100 and H100) or '8.6+PTX'")
    return sorted(set(tokens), key=lambda t: (not t[0].isdigit(), t))


def cache_key(torch_version: str, cuda: str | None, arch_list: list[str] | None) -> str:
    """The wheel cache folder, relative to the cache root: what the wheel's kernels depend on.

    ``torch-<version>/cpu`` for CPU kernels only, ``torch-<version>/cuda-<C>_arch-<A>`` for CUDA
    kernels built with CUDA ``C`` for the architectures ``A`` (joined with ``-``).
    """
    if not arch_list:
        return f'torch-{torch_version}/cpu'
    return f'torch-{torch_version}/cuda-{cuda}_arch-{"-".join(arch_list)}'


def plan(info: dict, env: dict) -> dict:
    """Decide the mmcv build.

    CUDA kernels are built when torch is a CUDA build and CUDA is present (a GPU visible, or a
    CUDA toolkit found) or asked for (``FORCE_CUDA=1``, ``CUDA_HOME`` or
    ``TORCH_CUDA_ARCH_LIST`` set). The architectures are ``TORCH_CUDA_ARCH_LIST`` when set,
    else those of the visible GPUs.

    Args:
        info: :func:`torch_info` (or a stand-in).
        env: the environment (``os.environ``).

    Returns:
        ``with_cuda`` (bool), ``arch_list`` (list or None), ``cache_key``, ``build_env``
        (variables to set for mmcv's setup.py) and ``warnings`` (list of str).

    Raises:
        PlanError: CUDA asked for with a CPU build of torch, no CUDA toolkit, or no
            architecture known (no GPU visible and ``TORCH_CUDA_ARCH_LIST`` unset).
    """
    force = env.get('FORCE_CUDA', '') == '1'
    arch_env = env.get('TORCH_CUDA_ARCH_LIST', '').strip()
    asked = force or bool(arch_env) or bool(env.get('CUDA_HOME'))
    torch_version, cuda = info['torch'], info.get('cuda')
    gpus = info.get('gpus') or []
    warnings: list[str] = []

    if not cuda:
        if force or arch_env:
            raise PlanError(
                f'CUDA kernels were asked for (FORCE_CUDA=1 or TORCH_CUDA_ARCH_LIST), but torch '
                f'{torch_version} is a CPU build. Install a CUDA build of torch first (remove '
                'the venv and run make install with TORCH_INDEX_URL set, see the README).')
        return dict(with_cuda=False, arch_list=None, build_env={'FORCE_CUDA': '0'},
                    cache_key=cache_key(torch_version, None, None), warnings=warnings)

    if not (gpus or asked or info.get('cuda_home')):
        warnings.append(
            f'torch {torch_version} is a CUDA build, but no GPU is visible and no CUDA toolkit '
            "was found: mmcv's ops are built for the CPU only, and every GPU job will stop at "
            'its start check (srtod doctor). To build the CUDA kernels here, load the CUDA '
            f'{cuda} toolkit (or set CUDA_HOME) and set TORCH_CUDA_ARCH_LIST to the compute '
            "capabilities of the cluster's GPUs, then run make install again.")
        return dict(with_cuda=False, arch_list=None, build_env={'FORCE_CUDA': '0'},
                    cache_key=cache_key(torch_version, None, None), warnings=warnings)

    if not info.get('cuda_home'):
        raise PlanError(
            f"mmcv's CUDA kernels need the CUDA {cuda} toolkit (nvcc), and none was found: "
            'load it (e.g. `module load cuda/' + str(cuda) + '`) or set CUDA_HOME to its folder.')
    if arch_env:
        arch_list = normalize_arch_list(arch_env)
    elif gpus:
        arch_list = normalize_arch_list(' '.join(g['capability'] for g in gpus))
    else:
        raise PlanError(
            'building CUDA kernels without a visible GPU needs the target architectures: set '
            "TORCH_CUDA_ARCH_LIST to the compute capabilities of the cluster's GPUs, e.g. "
            "'7.0' (V100), '8.0' (A100), '8.6' (RTX 3090, A40), '8.9' (L40S), '9.0' (H100, "
            "H200), several separated by ';'.")
    if gpus and arch_env:
        seen = {g['capability'] for g in gpus}
        covered = {a.split('+')[0] for a in arch_list}
        missing = sorted(seen - covered)
        if missing and all(a[0].isdigit() for a in arch_list):
            warnings.append(f'TORCH_CUDA_ARCH_LIST={";".join(arch_list)} does not include the '
                            f'visible GPUs\' capability {", ".join(missing)}: their jobs will '
                            'fail the start check')
    return dict(with_cuda=True, arch_list=arch_list,
                build_env={'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': ';'.join(arch_list),
                           'CUDA_HOME': info['cuda_home']},
                cache_key=cache_key(torch_version, cuda, arch_list), warnings=warnings)


def installed_mmcv(version: str) -> dict:
    """The venv's mmcv: ``ok`` (the version, ops importable) and ``cuda`` (ops have CUDA)."""
    try:
        import mmcv
        from mmcv.ops import get_compiling_cuda_version
        compiled = get_compiling_cuda_version()
    except Exception:  # noqa: BLE001 - absent, broken, or without ops: reinstall
        return dict(ok=False, cuda=False)
    return dict(ok=mmcv.__version__ == version, cuda=compiled not in ('', 'not available'))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python scripts/mmcv_plan.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--torch-info', metavar='FILE',
                        help='JSON standing in for what torch reports (tests)')
    parser.add_argument('--mmcv-version', default='2.1.0')
    args = parser.parse_args(argv)
    if args.torch_info:
        with open(args.torch_info, encoding='utf-8') as f:
            info = json.load(f)
    else:
        info = torch_info()
    try:
        decided = plan(info, dict(os.environ))
    except PlanError as err:
        print(f'[install] error: {err}', file=sys.stderr)
        return 2
    for warning in decided['warnings']:
        print(f'[install] warning: {warning}', file=sys.stderr)
    have = installed_mmcv(args.mmcv_version)
    keep = have['ok'] and (have['cuda'] or not decided['with_cuda'])
    values = dict(MMCV_WITH_CUDA=int(decided['with_cuda']),
                  MMCV_ARCH_LIST=';'.join(decided['arch_list'] or []),
                  MMCV_CACHE_KEY=decided['cache_key'],
                  MMCV_KEEP_INSTALLED=int(keep),
                  MMCV_INSTALLED_CUDA=int(have['cuda']),
                  TORCH_IS_CPU_BUILD=int(not info.get('cuda')),
                  TORCH_VERSION_FOUND=info['torch'])
    for key, value in values.items():
        print(f'{key}={shlex.quote(str(value))}')
    for key, value in decided['build_env'].items():
        print(f'export {key}={shlex.quote(str(value))}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
