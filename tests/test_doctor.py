"""srtod doctor and the start check of GPU jobs: this CPU build as it is, and a GPU simulated
by making torch report one (torch.cuda.* replaced), with this venv's real mmcv (CPU kernels)."""
from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

import srtod  # noqa: F401
from srtod import doctor
from srtod.cli import main

H200 = SimpleNamespace(name='NVIDIA H200', major=9, minor=0, total_memory=141 * 2**30)


def _mmcv_has_cuda() -> bool:
    from mmcv.ops import get_compiling_cuda_version
    return get_compiling_cuda_version() != 'not available'


@pytest.fixture
def simulated_gpu(monkeypatch):
    """torch reports a CUDA 12.8 build with one H200 visible; nothing runs on it."""
    monkeypatch.setattr(torch.version, 'cuda', '12.8')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'get_device_properties', lambda index: H200)
    monkeypatch.setattr(torch.cuda, 'get_arch_list', lambda: ['sm_80', 'sm_90'])
    monkeypatch.setattr(torch.backends.cudnn, 'version', lambda: 91000)
    monkeypatch.setattr(doctor, '_driver_gpus', lambda: ['GPU 0: NVIDIA H200 (UUID: GPU-0)'])


def test_doctor_on_this_machine_reports_the_cpu_build():
    proc = subprocess.run([sys.executable, '-m', 'srtod.cli', 'doctor', '--json'],
                          capture_output=True, text=True, timeout=120)
    info = json.loads(proc.stdout)
    assert info['torch'] == torch.__version__ and info['torch_cuda'] == torch.version.cuda
    assert info['mmcv_ops'] is True
    assert (info['mmcv_cuda'] is not None) == _mmcv_has_cuda()
    if not torch.cuda.is_available():
        assert info['gpus'] == [] and info['roi_align_gpu'] is None
    # No GPU and no driver: nothing a GPU job could trip on; with a GPU, its verdict.
    assert proc.returncode == (1 if info['problems'] else 0)
    if not info['gpus'] and not info['driver_gpus']:
        assert info['problems'] == []
    text = subprocess.run([sys.executable, '-m', 'srtod.cli', 'doctor'], capture_output=True,
                          text=True, timeout=120).stdout
    assert f'torch {torch.__version__}' in text and 'mmcv' in text and 'GPUs seen by torch' in text


@pytest.mark.skipif(_mmcv_has_cuda(), reason="this venv's mmcv has CUDA kernels")
def test_simulated_gpu_with_cpu_only_mmcv_is_a_problem(simulated_gpu):
    info = doctor.gather()
    assert info['gpus'] == [dict(index=0, name='NVIDIA H200', capability='9.0',
                                 memory_gib=141.0)]
    assert info['mmcv_ops'] is True and info['mmcv_cuda'] is None
    assert info['roi_align_gpu'] is None  # not run: mmcv has no CUDA kernel to run
    (problem,) = doctor.problems(info)
    assert 'without CUDA kernels' in problem and 'RoIAlign' in problem
    assert 'TORCH_CUDA_ARCH_LIST' in problem
    report = doctor.format_report(info, [problem])
    assert 'CPU kernels only' in report and 'PROBLEMS' in report and 'H200' in report


@pytest.mark.skipif(_mmcv_has_cuda(), reason="this venv's mmcv has CUDA kernels")
def test_gpu_jobs_stop_before_training_on_a_simulated_gpu(simulated_gpu, tmp_path, capsys,
                                                          monkeypatch):
    built = []
    monkeypatch.setattr('mmengine.runner.Runner.from_cfg',
                        classmethod(lambda cls, cfg: built.append(cfg)))
    results = tmp_path / 'results'
    for command in ('train', 'test', 'fps'):
        code = main([command, 'droneswarms/faster_rcnn', '--tier', 'tiny', '--results',
                     str(results)])
        err = capsys.readouterr().err
        assert code == 2, (command, err)
        assert f'srtod {command}: error: this machine cannot run the job on its GPUs' in err
        assert 'without CUDA kernels' in err
    assert not built and not results.exists()


def test_problems_of_simulated_stacks():
    good = dict(torch='2.13.0+cu128', torch_cuda='12.8', gpus=[
        dict(index=0, name='NVIDIA A100', capability='8.0', memory_gib=80.0)],
        driver_gpus=['GPU 0: NVIDIA A100'], cuda_visible_devices='0', mmcv='2.1.0',
        mmcv_ops=True, mmcv_cuda='12.8', roi_align_gpu='ok')
    assert doctor.problems(good) == []
    assert doctor.ensure_gpu_stack(info=good) is good

    arch = doctor.problems(dict(good, roi_align_gpu='RuntimeError: no kernel image is '
                                                     'available for execution on the device'))
    assert len(arch) == 1 and 'RoIAlign fails' in arch[0] and '8.0' in arch[0]
    cuda = doctor.problems(dict(good, mmcv_cuda='11.8'))
    assert len(cuda) == 1 and 'CUDA 11.8' in cuda[0]
    count = doctor.problems(good, gpus=2)
    assert len(count) == 1 and 'asks for 2 GPUs' in count[0]

    # A CPU build of torch on a GPU node: the driver lists GPUs that torch cannot use.
    cpu_torch = dict(good, torch='2.13.0+cpu', torch_cuda=None, gpus=[], mmcv_cuda=None,
                     roi_align_gpu=None, cuda_visible_devices=None)
    (problem,) = doctor.problems(cpu_torch)
    assert 'CPU build' in problem and 'CUDA_VISIBLE_DEVICES=' in problem
    # ... unless the GPUs are hidden on purpose, and a CPU machine is fine.
    assert doctor.problems(dict(cpu_torch, cuda_visible_devices='')) == []
    assert doctor.problems(dict(cpu_torch, driver_gpus=None), gpus=2) == []
    with pytest.raises(doctor.GPUStackError, match='CPU build'):
        doctor.ensure_gpu_stack(info=cpu_torch)

    # The paper tier needs a GPU: a job step without one (no driver GPU seen either) stops.
    no_gpu = dict(cpu_torch, driver_gpus=[])
    assert doctor.problems(no_gpu) == []
    (problem,) = doctor.problems(no_gpu, require_gpu=True)
    assert 'paper tier runs on GPUs' in problem
    assert doctor.problems(dict(no_gpu, cuda_visible_devices=''), require_gpu=True) == []
    assert len(doctor.problems(cpu_torch, require_gpu=True)) == 1  # the driver's, not twice


def test_paper_tier_job_without_gpu_stops_here(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    info = doctor.gather()
    if info['gpus']:
        pytest.skip('this machine has a GPU')
    code = main(['test', 'visdrone/cascade_rcnn', '--tier', 'paper', '--results',
                 str(tmp_path / 'results')])
    assert code == 2 and 'paper tier runs on GPUs' in capsys.readouterr().err
