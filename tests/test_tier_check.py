"""The check tier: every paper config, unchanged but for its initialisation, at paper size for 2
iterations on synthetic images (srtod/tiers.py), and what it measures (train.json, srtod plan)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srtod import vocab
from srtod import workflow as wf
from srtod.errors import InputError
from srtod.registry import load_registry, resolve_config
from srtod.registry_commands import check_measurement, make_plan, plan_table
from srtod.tiers import (CHECK_SPEC, label_check_data, random_init, tier_data_spec,
                         train_frozen_statistics)

REPO = Path(__file__).resolve().parent.parent
#: the cheapest paper config: Faster R-CNN at AI-TOD's 800 x 800 (the smallest paper input)
CHEAPEST = 'aitod/faster_rcnn'


def _scales(loader) -> list:
    return [step.get('scale') for step in loader['dataset']['pipeline'] if 'scale' in step]


def test_check_is_a_tier_of_the_vocabulary_and_the_workflow():
    assert 'check' in vocab.TIERS
    assert wf.resources('check', 'train')['mem_mb'] >= 16000
    spec = tier_data_spec('check', 'visdrone')
    assert (spec['width'], spec['height']) == vocab.DATASET_SPECS['visdrone'].image_size
    assert spec['train_images'] == CHECK_SPEC.max_iters * 2 and spec['test_images'] == 2
    assert wf.synth_options('check', 'visdrone') == ('--images 6 --test-fraction 0.333333 '
                                                     '--width 2000 --height 1500')
    with pytest.raises(InputError, match='needs a dataset'):
        tier_data_spec('check')


def test_every_run_resolves_in_the_check_tier_with_the_paper_model_but_its_init():
    registry = load_registry()
    run_ids = registry.run_ids(None)
    assert len(run_ids) == 57  # 51 paper runs + 6 control runs
    for run_id in run_ids:
        paper = resolve_config(run_id, 'paper', registry=registry)
        check = resolve_config(run_id, 'check', registry=registry)
        model = paper.model.to_dict()
        removed = random_init(model)
        assert removed, run_id  # every paper config starts from ImageNet weights
        # DetectoRS only: its BN statistics train (no ImageNet statistics to freeze)
        assert bool(train_frozen_statistics(model)) == (
            vocab.RUN_ID_RE.match(run_id)['detector'] == 'detectors'), run_id
        assert check.model.to_dict() == model, run_id
        assert 'Pretrained' not in json.dumps(check.model.to_dict()), run_id
        assert 'pretrained' not in json.dumps(check.model.to_dict()), run_id
        # the paper's input size, batch per GPU, optimizer and classes
        for key in ('train_dataloader', 'test_dataloader'):
            assert _scales(check[key]) == _scales(paper[key]), (run_id, key)
            assert check[key]['batch_size'] == paper[key]['batch_size'], (run_id, key)
            assert check[key]['num_workers'] == 0
        assert check.optim_wrapper.to_dict() == paper.optim_wrapper.to_dict(), run_id
        assert tuple(check.metainfo['classes']) == vocab.DATASET_SPECS[check_ds(run_id)].classes
        # 2 iterations, no validation in training, one checkpoint (the last)
        assert check.train_cfg.to_dict() == dict(type='IterBasedTrainLoop', max_iters=2,
                                                 val_interval=2, val_begin=3)
        assert all(s['by_epoch'] is False for s in check.param_scheduler)
        assert check.default_hooks.checkpoint.interval == 2
        assert check.data_root == f'data/check/{check_ds(run_id)}/'


def check_ds(run_id: str) -> str:
    return vocab.RUN_ID_RE.match(run_id)['dataset']


def test_random_init_keeps_other_initialisers():
    model = dict(backbone=dict(type='ResNet', init_cfg=[
        dict(type='Pretrained', checkpoint='torchvision://resnet50'),
        dict(type='Constant', val=0, layer='BatchNorm2d')]),
        neck=dict(rfp_backbone=dict(pretrained='torchvision://resnet50')),
        head=dict(init_cfg=dict(type='Normal', std=0.01)))
    assert random_init(model) == ['torchvision://resnet50', 'torchvision://resnet50']
    assert model == dict(backbone=dict(type='ResNet', init_cfg=[
        dict(type='Constant', val=0, layer='BatchNorm2d')]), neck=dict(rfp_backbone={}),
        head=dict(init_cfg=dict(type='Normal', std=0.01)))


def test_label_check_data_gives_the_dataset_classes(tmp_path):
    for split, n in (('train', 5), ('test', 3)):
        (tmp_path / f'{split}.json').write_text(json.dumps(dict(
            images=[], categories=[dict(id=1, name='drone')],
            annotations=[dict(id=i + 1, category_id=1) for i in range(n)])))
    counts = label_check_data(tmp_path, 'aitod')
    classes = vocab.DATASET_SPECS['aitod'].classes
    data = json.loads((tmp_path / 'train.json').read_text())
    assert [c['name'] for c in data['categories']] == list(classes)
    assert [a['category_id'] for a in data['annotations']] == [1, 2, 3, 4, 5]
    assert counts['test'] == dict(zip(classes, [1, 1, 1] + [0] * 5))
    with pytest.raises(InputError, match='synthetic train split'):
        label_check_data(tmp_path / 'missing', 'aitod')


def _write_train_json(root: Path, run_id: str, **fields):
    path = root / run_id / 'seed0' / 'train.json'
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(dict(run_id=run_id, tier='check', seed=0, status='ok', **fields)))


def test_plan_shows_check_measurements_beside_the_estimate_without_mixing(tmp_path):
    registry = load_registry()
    measured = tmp_path / 'check'
    _write_train_json(measured, 'aitod/faster_rcnn', device='cpu', device_name='cpu',
                      seconds_per_iter=10.0, peak_memory_mb=3000.0,
                      memory_measure='cpu_ru_maxrss')
    _write_train_json(measured, 'aitod/cascade_rcnn', device='cuda', device_name='H200',
                      seconds_per_iter=0.5, peak_memory_mb=9000.0,
                      memory_measure='cuda_max_memory_allocated')
    plan = make_plan(registry, 'paper', tables=['T3'], flops=False,
                     cache_path=tmp_path / 'flops.json', measured_root=measured)
    runs = {r['run_id']: r for r in plan['runs']}
    cpu, gpu = runs['aitod/faster_rcnn'], runs['aitod/cascade_rcnn']
    iters = cpu['iterations']
    assert iters == 12 * -(-14018 // 2)  # 12 epochs of AI-TOD trainval at batch 2
    assert cpu['measured']['cpu_hours'] == pytest.approx(10.0 * iters / 3600)
    assert cpu['measured']['gpu_hours'] is None
    assert gpu['measured']['gpu_hours'] == pytest.approx(0.5 * gpu['iterations'] / 3600)
    assert gpu['measured']['cpu_hours'] is None
    assert runs['aitod/detectors']['measured'] is None
    total = plan['total']
    assert total['measured_gpu_runs'] == 1 and total['measured_cpu_runs'] == 1
    assert total['measured_gpu_hours'] == pytest.approx(gpu['measured']['gpu_hours'])
    assert total['gpu_hours'] == 0.0  # the FLOP estimate (not counted here) stays apart
    text = plan_table(plan)
    assert 'cpu   10.00     3000' in text and 'C' in text.split('aitod/faster_rcnn')[1][:200]
    assert 'not GPU-hours' in text
    # a train.json of another tier, or without a timing, is no measurement
    _write_train_json(tmp_path / 'other', 'aitod/faster_rcnn', device='cpu')
    assert check_measurement('aitod/faster_rcnn', tmp_path / 'other') is None
    bad = tmp_path / 'bad' / 'aitod/faster_rcnn' / 'seed0'
    bad.mkdir(parents=True)
    (bad / 'train.json').write_text('{')
    with pytest.raises(InputError, match='unreadable train.json'):
        check_measurement('aitod/faster_rcnn', tmp_path / 'bad')


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.mark.slow
def test_the_cheapest_check_run_trains_and_tests_at_paper_size(tmp_path):
    """aitod/faster_rcnn through the CLI: 800 x 800 synthetic images, 2 iterations, a test."""
    spec = tier_data_spec('check', 'aitod')
    data = f'data/check/{check_ds(CHEAPEST)}'
    # 2 train images (one batch of 2, used twice) and 1 test image keep it short
    _cli(tmp_path, '-m', 'srtod.cli', 'synth', data, '--profile', 'aitod', '--images', '3',
         '--test-fraction', '0.34', '--width', str(spec['width']), '--height', str(spec['height']))
    _cli(tmp_path, '-m', 'srtod.tiers', 'label-check-data', data, 'aitod')
    _cli(tmp_path, '-m', 'srtod.cli', 'train', CHEAPEST, '--tier', 'check', '--threads', '2')
    _cli(tmp_path, '-m', 'srtod.cli', 'test', CHEAPEST, '--tier', 'check', '--threads', '2')
    run_dir = tmp_path / 'results' / 'check' / CHEAPEST / 'seed0'
    train = json.loads((run_dir / 'train.json').read_text())
    assert train['status'] == 'ok' and train['iterations'] == train['max_iterations'] == 2
    assert train['device'] == 'cpu' and train['memory_measure'] == 'cpu_ru_maxrss'
    assert train['peak_memory_mb'] == train['peak_rss_mb'] > 500  # a ResNet-50 at 800 x 800
    assert train['seconds_per_iter'] > 0 and train['timed_iterations'] == 1
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    assert metrics['status'] == 'ok' and 'AP' in metrics['metrics'], metrics
    # the train/ folder holds the final checkpoint only
    assert sorted(p.name for p in (run_dir / 'train').glob('*.pth')) == ['iter_2.pth']
    cfg = json.loads(_cli(tmp_path, '-m', 'srtod.cli', 'config', CHEAPEST, '--tier', 'check',
                          '--format', 'json').stdout)
    assert cfg['test_dataloader']['dataset']['pipeline'][1]['scale'] == [800, 800]


def test_train_json_keeps_the_measured_cost_when_a_run_resumes(tmp_path, make_tiny_coco,
                                                                tiny_faster_rcnn_config):
    """A run resumed from its final checkpoint (a workflow rerun after an interruption) keeps
    the seconds per iteration and peak memory measured by the attempt that trained it."""
    from srtod.engine.train import train_run

    data = make_tiny_coco(tmp_path / 'coco', images=2)
    run_dir = tmp_path / 'run'
    cfg = tiny_faster_rcnn_config(data, run_dir / 'train', max_iters=3, checkpoint_interval=3)
    first = train_run(cfg, run_dir, run_id=CHEAPEST, tier='check', seed=0)
    assert first['timed_iterations'] == 2 and first['seconds_per_iter'] > 0
    assert first['device'] == 'cpu' and first['peak_memory_mb'] == first['peak_rss_mb'] > 0
    (run_dir / 'train.json').unlink()
    again = train_run(cfg, run_dir, run_id=CHEAPEST, tier='check', seed=0)
    assert again['resumed_from'] and again['iterations'] == 3
    assert again['seconds_per_iter'] == first['seconds_per_iter']
    assert again['timed_iterations'] == 2
    assert again['peak_memory_mb'] >= first['peak_memory_mb']
