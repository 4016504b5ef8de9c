"""scripts/mmcv_plan.py and `scripts/install.sh --plan`: when mmcv gets CUDA kernels, and the
wheel cache folder that says so. torch's report is replaced by a stand-in (a GPU node, a login
node without a GPU, a CPU machine); nothing is built."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('mmcv_plan', REPO / 'scripts' / 'mmcv_plan.py')
mmcv_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mmcv_plan)

CPU_TORCH = dict(torch='2.13.0+cpu', cuda=None, gpus=[], cuda_home=None)
# A login node: the CUDA build of torch, no GPU; with or without the CUDA toolkit loaded.
LOGIN = dict(torch='2.13.0+cu128', cuda='12.8', gpus=[], cuda_home=None)
LOGIN_TOOLKIT = dict(LOGIN, cuda_home='/opt/cuda-12.8')
H100 = dict(name='NVIDIA H100 80GB HBM3', capability='9.0')
GPU_NODE = dict(LOGIN, gpus=[H100, H100], cuda_home='/opt/cuda-12.8')


def test_cpu_torch_builds_cpu_kernels_under_its_own_key():
    plan = mmcv_plan.plan(CPU_TORCH, {})
    assert plan['with_cuda'] is False and plan['arch_list'] is None
    assert plan['cache_key'] == 'torch-2.13.0+cpu/cpu'
    assert plan['warnings'] == []


def test_cuda_asked_with_a_cpu_torch_is_refused():
    for env in ({'FORCE_CUDA': '1'}, {'TORCH_CUDA_ARCH_LIST': '8.0'}):
        with pytest.raises(mmcv_plan.PlanError, match='CPU build'):
            mmcv_plan.plan(CPU_TORCH, env)


def test_gpu_node_builds_for_the_visible_gpus():
    plan = mmcv_plan.plan(GPU_NODE, {})
    assert plan['with_cuda'] is True and plan['arch_list'] == ['9.0']
    assert plan['cache_key'] == 'torch-2.13.0+cu128/cuda-12.8_arch-9.0'
    assert plan['build_env'] == {'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '9.0',
                                 'CUDA_HOME': '/opt/cuda-12.8'}


def test_login_node_without_anything_asked_warns_and_never_shares_the_gpu_key():
    plan = mmcv_plan.plan(LOGIN, {})
    assert plan['with_cuda'] is False
    assert plan['cache_key'] == 'torch-2.13.0+cu128/cpu'
    assert plan['cache_key'] != mmcv_plan.plan(GPU_NODE, {})['cache_key']
    (warning,) = plan['warnings']
    assert 'CPU only' in warning and 'TORCH_CUDA_ARCH_LIST' in warning


def test_login_node_with_toolkit_needs_the_architectures():
    for env in ({}, {'FORCE_CUDA': '1'}, {'CUDA_HOME': '/opt/cuda-12.8'}):
        with pytest.raises(mmcv_plan.PlanError, match='TORCH_CUDA_ARCH_LIST'):
            mmcv_plan.plan(LOGIN_TOOLKIT, env)


def test_login_node_asked_for_cuda_shares_the_gpu_node_key():
    # Built on the login node for the cluster's GPUs, the wheel is the one a GPU node wants.
    plan = mmcv_plan.plan(LOGIN_TOOLKIT, {'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '9.0'})
    assert plan['with_cuda'] is True
    assert plan['cache_key'] == mmcv_plan.plan(GPU_NODE, {})['cache_key']


def test_cuda_without_toolkit_is_refused():
    with pytest.raises(mmcv_plan.PlanError, match='toolkit'):
        mmcv_plan.plan(dict(GPU_NODE, cuda_home=None), {})
    with pytest.raises(mmcv_plan.PlanError, match='toolkit'):
        mmcv_plan.plan(LOGIN, {'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '9.0'})


def test_key_depends_on_torch_cuda_and_arch_list_only():
    env = {'TORCH_CUDA_ARCH_LIST': '9.0;8.0 8.0'}
    base = mmcv_plan.plan(LOGIN_TOOLKIT, env)
    assert base['arch_list'] == ['8.0', '9.0']
    assert base['cache_key'] == 'torch-2.13.0+cu128/cuda-12.8_arch-8.0-9.0'
    # the spelling of the list does not matter, its content does
    assert mmcv_plan.plan(LOGIN_TOOLKIT, {'TORCH_CUDA_ARCH_LIST': '8.0,9.0'})['cache_key'] == \
        base['cache_key']
    others = {
        mmcv_plan.plan(dict(LOGIN_TOOLKIT, torch='2.13.1+cu128'), env)['cache_key'],
        mmcv_plan.plan(dict(LOGIN_TOOLKIT, torch='2.13.0+cu126', cuda='12.6'), env)['cache_key'],
        mmcv_plan.plan(LOGIN_TOOLKIT, {'TORCH_CUDA_ARCH_LIST': '8.0;9.0+PTX'})['cache_key'],
        mmcv_plan.plan(LOGIN_TOOLKIT, {'TORCH_CUDA_ARCH_LIST': '8.0'})['cache_key'],
    }
    assert len(others) == 4 and base['cache_key'] not in others


def test_arch_list_mismatching_the_visible_gpus_warns_and_bad_tokens_fail():
    plan = mmcv_plan.plan(GPU_NODE, {'TORCH_CUDA_ARCH_LIST': '8.0'})
    assert plan['arch_list'] == ['8.0'] and '9.0' in plan['warnings'][0]
    with pytest.raises(mmcv_plan.PlanError, match='not a compute capability'):
        mmcv_plan.plan(GPU_NODE, {'TORCH_CUDA_ARCH_LIST': 'sm_90'})


def _install_plan(tmp_path, info=None, **env):
    cache = tmp_path / 'wheels'
    full_env = {k: v for k, v in os.environ.items()
                if k not in ('FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME')}
    full_env.update(VENV=sys.prefix, SRTOD_WHEEL_CACHE=str(cache), **env)
    if info is not None:
        path = tmp_path / 'torch-info.json'
        path.write_text(json.dumps(info))
        full_env['SRTOD_TORCH_INFO'] = str(path)
    proc = subprocess.run(['bash', str(REPO / 'scripts' / 'install.sh'), '--plan'],
                          capture_output=True, text=True, env=full_env, timeout=120)
    values = dict(line.split('=', 1) for line in proc.stdout.splitlines() if '=' in line)
    return proc, values, cache


def test_install_script_plan_uses_the_key_and_builds_nothing(tmp_path):
    proc, values, cache = _install_plan(tmp_path, GPU_NODE)
    assert proc.returncode == 0, proc.stderr
    assert values['wheel_cache'] == f'{cache}/torch-2.13.0+cu128/cuda-12.8_arch-9.0'
    assert values['mmcv_kernels'] == 'CUDA 9.0'
    assert not cache.exists()

    proc, values, _ = _install_plan(tmp_path, LOGIN)
    assert proc.returncode == 0 and values['wheel_cache'].endswith('/torch-2.13.0+cu128/cpu')
    assert 'warning' in proc.stderr and 'TORCH_CUDA_ARCH_LIST' in proc.stderr

    proc, values, _ = _install_plan(tmp_path, CPU_TORCH, FORCE_CUDA='1')
    assert proc.returncode == 2 and 'CPU build' in proc.stderr and not values


def test_install_script_plan_with_this_venvs_torch(tmp_path):
    import torch
    proc, values, cache = _install_plan(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert values['torch'] == torch.__version__
    if not torch.version.cuda:
        assert values['wheel_cache'] == f'{cache}/torch-{torch.__version__}/cpu'
        assert values['mmcv_kernels'] == 'CPU only'
    # the venv's mmcv (this one runs the tests, with its ops) is kept
    assert values['keep_installed'] == '1'
