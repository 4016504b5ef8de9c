"""SRTODThresholdHook: t appears in the training log line and in the visualizer scalars."""
import json

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from srtod.models.srtod import DGFE


class _ToyData(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.full((4,), float(i)))


class _ToyModel(BaseModel):
    """A linear model with a DGFE whose threshold learns (STE) and moves with every step."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 8)
        self.dgfe = DGFE(8, reduction=2, threshold_init=0.3, filtration='ste')

    def srtod_threshold(self):
        return self.dgfe.threshold_value()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        feat = self.linear(inputs)[:, :, None, None].expand(-1, -1, 2, 2)
        d = torch.linspace(0, 1, 4).view(1, 1, 2, 2).expand(inputs.shape[0], -1, -1, -1)
        return dict(loss=self.dgfe(feat, d).square().mean())


def test_threshold_is_logged_every_interval(tmp_path):
    runner = Runner(
        model=_ToyModel(), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=_ToyData(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=100),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=2), checkpoint=None),
        custom_hooks=[dict(type='mmdet.SRTODThresholdHook')],
        default_scope='mmdet', visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]))
    runner.train()
    final = runner.model.srtod_threshold()
    assert final != 0.3  # the STE threshold moved
    hub = runner.message_hub
    assert hub.get_info('srtod/threshold_init') == pytest.approx(0.3)
    assert hub.get_info('srtod/threshold_final') == final
    assert hub.get_scalar('train/srtod/threshold').current() == final
    scalars = [json.loads(line) for line in next(tmp_path.rglob('scalars.json')).read_text().splitlines()]
    logged = [s for s in scalars if 'srtod/threshold' in s]
    assert [s['iter'] for s in logged] == [2, 4]
    assert logged[-1]['srtod/threshold'] == final
    log_text = next(tmp_path.rglob('*.log')).read_text()
    assert 'srtod/threshold' in log_text
