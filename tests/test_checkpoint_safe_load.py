"""Safe checkpoint loading: real mmengine checkpoints load, pickles that would run code do not."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import srtod  # noqa: F401  (installs the safe local scheme)
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint

from srtod.engine.checkpoint import (CheckpointError, UnsafeCheckpointError, load_from_local_safe,
                                     safe_globals, safe_load)

TORCH_VERSION = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2])


class _Points(Dataset):
    def __init__(self, n=8):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 2, generator=gen)
        self.y = self.x @ torch.tensor([[1.5], [-2.0]]) + 0.3

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], target=self.y[i])


class _Linear(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, target=None, mode='tensor'):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.fc(inputs)
        if mode == 'loss':
            target = torch.stack(target) if isinstance(target, list) else target
            return dict(loss=((out - target) ** 2).mean())
        return out


def _runner(work_dir, max_iters, resume=False):
    return Runner(
        model=_Linear(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Points(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        resume=resume, default_scope='mmengine', experiment_name=f'toy{max_iters}{resume}')


@pytest.fixture(scope='module')
def real_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('toy')
    runner = _runner(work_dir, max_iters=4)
    runner.train()
    weight = runner.model.fc.weight.detach().clone()
    return work_dir, work_dir / 'iter_4.pth', weight


def test_scheme_is_installed():
    assert CheckpointLoader._get_checkpoint_loader('/any/local.pth') is load_from_local_safe


def test_real_checkpoint_with_message_hub_loads(real_checkpoint):
    _, path, weight = real_checkpoint
    ckpt = safe_load(path, map_location='cpu')
    torch.testing.assert_close(ckpt['state_dict']['fc.weight'], weight)
    hub = ckpt['message_hub']
    buffer = hub['log_scalars']['train/loss']
    assert type(buffer).__name__ == 'HistoryBuffer'
    history, counts = buffer.data
    assert isinstance(history, np.ndarray) and history.shape == (4,)
    assert np.all(np.isfinite(history)) and np.all(counts == 1)
    assert ckpt['meta']['iter'] == 4


@pytest.mark.skipif(not hasattr(torch.serialization, 'get_unsafe_globals_in_checkpoint'),
                    reason='torch < 2.5 cannot list the globals of a checkpoint')
def test_allow_list_covers_every_global_of_a_real_checkpoint(real_checkpoint):
    _, path, _ = real_checkpoint
    needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    assert needed, 'a message-hub checkpoint is expected to hold numpy objects'
    names = set()
    for entry in safe_globals():
        names.add(entry[1] if isinstance(entry, tuple) else
                  f'{entry.__module__}.{entry.__qualname__}')
    assert needed <= names, needed - names


@pytest.mark.skipif(TORCH_VERSION < (2, 6), reason='plain torch.load is weights_only from 2.6')
def test_plain_weights_only_load_fails_without_allow_list(real_checkpoint):
    _, path, _ = real_checkpoint
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu', weights_only=True)


def test_runner_resume_goes_through_safe_loader(real_checkpoint, tmp_path):
    work_dir, _, _ = real_checkpoint
    # resume in a copy of the work_dir so the module fixture stays untouched
    import shutil
    copy = tmp_path / 'work'
    shutil.copytree(work_dir, copy)
    (copy / 'last_checkpoint').write_text(str(copy / 'iter_4.pth'))
    runner = _runner(copy, max_iters=6, resume=True)
    runner.train()
    assert runner.iter == 6
    # the loss history restored from the checkpoint (4 values) plus 2 new iterations
    history, _ = runner.message_hub.get_scalar('train/loss').data
    assert history.shape == (6,)


class _Payload:
    """A pickle that, when loaded unsafely, creates a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import builtins
        return builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",)


class _GetattrPayload:
    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def _evil(tmp_path, payload):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': payload}, path)
    return path


def test_code_running_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned.txt'
    path = _evil(tmp_path, _Payload(marker))
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(path)
    assert str(path) in str(info.value)
    assert 'refused' in str(info.value)
    assert not marker.exists()
    # and through mmengine's own entry points
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(nn.Linear(2, 1), str(path), map_location='cpu')
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_getattr_outside_numpy_dtypes_is_refused(tmp_path):
    path = _evil(tmp_path, _GetattrPayload())
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(path)
    assert 'getattr' in str(info.value)


def test_history_buffer_cannot_swap_class_statistics(tmp_path):
    """A HistoryBuffer whose state would replace the class's ``mean`` statistic is refused."""
    import copyreg
    import types

    from mmengine.logging.history_buffer import HistoryBuffer
    buffer = HistoryBuffer([1.0], [1])  # also fills the class-level statistics table
    before = dict(HistoryBuffer._statistics_methods)
    state = {'max_length': 10, '_log_history': np.zeros(1), '_count_history': np.ones(1),
             'statistics_methods': {'mean': np.ndarray}}

    class _Tampering(pickle.Pickler):
        def reducer_override(self, obj):
            if obj is buffer:
                return copyreg.__newobj__, (HistoryBuffer,), state
            return NotImplemented

    path = tmp_path / 'tampered.pth'
    torch.save({'message_hub': {'log_scalars': {'loss': buffer}}}, path,
               pickle_module=types.SimpleNamespace(Pickler=_Tampering, __name__='tampering'))
    with pytest.raises(UnsafeCheckpointError, match='statistics'):
        safe_load(path)
    assert HistoryBuffer._statistics_methods == before


def test_truncated_checkpoint_is_a_clear_error(real_checkpoint, tmp_path):
    _, path, _ = real_checkpoint
    data = path.read_bytes()
    broken = tmp_path / 'iter_4.pth'
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        safe_load(broken)
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert str(broken) in str(info.value) and 'truncated or corrupt' in str(info.value)


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match='not found'):
        safe_load(tmp_path / 'nope.pth')


def test_numpy_scalars_and_dtypes_round_trip(tmp_path):
    obj = {'f': np.float64(1.25), 'i': np.int64(7), 'a': np.arange(6, dtype=np.int16),
           'b': np.zeros(2, dtype=np.bool_), 'u': np.array(['x'])}
    path = tmp_path / 'np.pth'
    torch.save(obj, path)
    back = safe_load(path)
    assert back['f'] == 1.25 and back['i'] == 7 and back['a'].dtype == np.int16
    np.testing.assert_array_equal(back['a'], np.arange(6))
    assert back['u'][0] == 'x'
    assert os.path.getsize(path) > 0


def test_remote_schemes_load_safely(tmp_path, monkeypatch, real_checkpoint):
    """torchvision:// and https:// go through mmengine's loaders, then the safe loader."""
    import shutil

    import torch.hub

    from mmengine.runner import checkpoint as mm_checkpoint
    marker = tmp_path / 'pwned.txt'
    sources = {'evil.pth': _evil(tmp_path, _Payload(marker)), 'good.pth': real_checkpoint[1]}
    downloads = []

    def fake_download(url, dst, hash_prefix=None, progress=True):  # no network in tests
        downloads.append(url)
        shutil.copy(sources[url.rsplit('/', 1)[1]], dst)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(mm_checkpoint, 'get_torchvision_models',
                        lambda: {'evil': 'https://download.invalid/evil.pth'})
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint('torchvision://evil', map_location='cpu')
    with pytest.raises(UnsafeCheckpointError):  # the cached copy is refused as well
        CheckpointLoader.load_checkpoint('https://download.invalid/evil.pth')
    assert not marker.exists()
    good = CheckpointLoader.load_checkpoint('https://download.invalid/good.pth')
    assert good['meta']['iter'] == 4
    assert downloads == ['https://download.invalid/evil.pth', 'https://download.invalid/good.pth']
