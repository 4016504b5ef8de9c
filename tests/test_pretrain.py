"""Backbone pretraining of the slim tiers (srtod/engine/pretrain.py) on synthetic crops
(srtod/data/crops.py)."""
import json

import numpy as np
import pytest
import torch

from srtod.data import crops
from srtod.engine import pretrain
from srtod.errors import InputError


def test_crops_are_deterministic_and_labelled():
    a, la = crops.render_crop(0, 5)
    b, lb = crops.render_crop(0, 5)
    c, _ = crops.render_crop(1, 5)
    assert a.dtype == np.uint8 and a.shape == (64, 64, 3)
    assert np.array_equal(a, b) and la == lb
    assert not np.array_equal(a, c)
    images, labels = crops.make_crops(200, seed=0, size=48)
    assert images.shape == (200, 48, 48, 3)
    assert set(labels.tolist()) == set(range(crops.NUM_CLASSES))
    # half sky, half ground; about a fifth of each without an object
    assert 0.35 < np.mean(labels % 2) < 0.65
    assert 0.1 < np.mean(labels // 2 == 0) < 0.3
    assert crops.label_name(0) == 'none on sky' and crops.label_name(7) == 'wing on ground'
    with pytest.raises(InputError):
        crops.label_name(crops.NUM_CLASSES)
    with pytest.raises(InputError, match='at least 32'):
        crops.make_crops(2, size=16)


def test_an_object_crop_differs_from_its_background():
    # the same stream with the object painted or not: find a crop with an object and check
    # that its pixels are not those of an empty crop of the same background
    for index in range(40):
        img, label = crops.render_crop(3, index)
        if label // 2:
            break
    assert label // 2
    assert img.std() > 0


def test_crop_streams_are_not_synth_streams():
    # srtod synth draws image i of seed s from default_rng([s, i]); crops from a 3-word stream
    for seed in (0, 1, 7):
        for index in range(50):
            synth = np.random.default_rng([seed, index]).random(4)
            crop = np.random.default_rng([crops.CROP_STREAM, seed, index]).random(4)
            assert not np.allclose(synth, crop)


def test_families_match_the_slim_backbones():
    from mmdet.models.backbones import DetectoRS_ResNet, ResNet, TridentResNet

    r18 = pretrain.family_backbone('smoke', 'resnet18')
    r50 = pretrain.family_backbone('smoke', 'resnet50')
    assert (r18['depth'], r18['base_channels']) == (18, 32)
    assert (r50['depth'], r50['base_channels']) == (50, 8)
    assert pretrain.family_of(dict(type='ResNet', depth=18)) == 'resnet18'
    assert pretrain.family_of(dict(type='DetectoRS_ResNet')) == 'resnet50'
    assert pretrain.family_of(dict(type='TridentResNet')) == 'resnet50'
    with pytest.raises(InputError, match='no pretraining family'):
        pretrain.family_of(dict(type='SwinTransformer'))

    def plain(cfg):
        cfg = dict(cfg)
        cfg.pop('type')
        return ResNet(**cfg).state_dict()

    targets = {
        'resnet18': (r18, [ResNet(depth=18, base_channels=32)]),
        'resnet50': (r50, [DetectoRS_ResNet(depth=50, base_channels=8,
                                            conv_cfg=dict(type='ConvAWS'), output_img=True),
                           TridentResNet(depth=50, base_channels=8, num_branch=3, num_stages=3,
                                         out_indices=(2,), strides=(1, 2, 1),
                                         dilations=(1, 1, 1), test_branch_idx=1,
                                         trident_dilations=(1, 2, 3))]),
    }
    for family, (cfg, modules) in targets.items():
        source = plain(cfg)
        for module in modules:
            target = module.state_dict()
            shared = set(source) & set(target)
            for key in shared:
                assert target[key].shape == source[key].shape, (family, key)
            # every weight of the target's ResNet trunk comes from the checkpoint (DetectoRS'
            # rfp_conv and ConvAWS statistics are its own, TridentNet stops after stage 3)
            trunk = [k for k in target if not any(w in k for w in ('rfp_conv', 'weight_gamma',
                                                                    'weight_beta'))]
            assert set(trunk) <= shared, (family, sorted(set(trunk) - shared)[:5])


def test_caffe_stem_gives_the_same_stem_output():
    from mmdet.models.backbones import ResNet

    torch.manual_seed(0)
    net = ResNet(depth=18, base_channels=8)
    state = net.state_dict()
    caffe = pretrain.caffe_stem(state)
    rgb = torch.rand(1, 3, 16, 16) * 255
    py, cf = pretrain.NORMALISATIONS['pytorch'], pretrain.NORMALISATIONS['caffe']
    x_p = (rgb - torch.tensor(py['mean']).view(1, 3, 1, 1)) / torch.tensor(py['std']).view(1, 3, 1, 1)
    bgr = rgb.flip(1)
    x_c = (bgr - torch.tensor(cf['mean']).view(1, 3, 1, 1)) / torch.tensor(cf['std']).view(1, 3, 1, 1)
    out_p = torch.nn.functional.conv2d(x_p, state['conv1.weight'], stride=2, padding=3)
    out_c = torch.nn.functional.conv2d(x_c, caffe['conv1.weight'], stride=2, padding=3)
    torch.testing.assert_close(out_p, out_c, rtol=1e-4, atol=1e-3)
    assert torch.equal(caffe['layer1.0.conv1.weight'], state['layer1.0.conv1.weight'])


def test_normalisation_of_detector_inputs():
    assert pretrain.normalisation_of(dict(mean=[123.675, 116.28, 103.53],
                                          std=[58.395, 57.12, 57.375], bgr_to_rgb=True)) == 'pytorch'
    assert pretrain.normalisation_of(dict(mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0],
                                          bgr_to_rgb=False)) == 'caffe'
    with pytest.raises(InputError, match='no pretrained stem'):
        pretrain.normalisation_of(dict(mean=[0, 0, 0], std=[1, 1, 1], bgr_to_rgb=True))
    with pytest.raises(InputError, match='unknown normalisation'):
        pretrain.checkpoint_path('smoke', 'resnet18', 'bgr')


def test_pretrain_writes_loadable_checkpoints(tmp_path):
    from mmdet.models.backbones import TridentResNet
    from mmengine.runner import load_checkpoint

    rc = pretrain.main(['--tier', 'tiny', '--family', 'resnet50', '--results', str(tmp_path),
                        '--threads', '1'])
    assert rc == 0
    record = json.loads((tmp_path / 'tiny' / 'pretrain' / 'resnet50.json').read_text())
    assert record['family'] == 'resnet50' and 0.0 <= record['held_out_accuracy'] <= 1.0
    caffe_path = pretrain.checkpoint_path('tiny', 'resnet50', 'caffe', tmp_path)
    assert record['checkpoints']['caffe'] == str(caffe_path)
    saved = torch.load(caffe_path, weights_only=True)
    assert saved['meta']['normalisation'] == 'caffe'
    # loaded the way the slim configs load it (a Pretrained init_cfg goes through load_checkpoint)
    net = TridentResNet(depth=50, base_channels=8, num_branch=3, num_stages=3, out_indices=(2,),
                        strides=(1, 2, 1), dilations=(1, 1, 1), test_branch_idx=1,
                        trident_dilations=(1, 2, 3), style='caffe')
    load_checkpoint(net, str(caffe_path), map_location='cpu', strict=False, logger='silent')
    torch.testing.assert_close(net.state_dict()['layer3.0.conv2.weight'],
                               saved['state_dict']['layer3.0.conv2.weight'])
    torch.testing.assert_close(net.state_dict()['conv1.weight'], saved['state_dict']['conv1.weight'])


def test_unknown_tier_or_family_is_refused(tmp_path):
    with pytest.raises(InputError, match='no backbone pretraining'):
        pretrain.pretrain_family('paper', 'resnet18', tmp_path)
    with pytest.raises(InputError, match='unknown backbone family'):
        pretrain.family_backbone('smoke', 'vgg16')
    assert pretrain.main(['--tier', 'tiny', '--family', 'resnet18', '--threads', '0']) == 2


def test_slim_configs_load_the_pretrained_backbones():
    from srtod.registry import resolve_config
    from srtod.tiers import REC_HEAD_INIT, REC_LOSS_WEIGHT

    def ckpt(name):
        return str(pretrain.checkpoint_path('smoke', *name.split('-')))

    cfg = resolve_config('droneswarms/cascade_rcnn+srtod', 'smoke')
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=ckpt('resnet18-pytorch'))
    assert cfg.model.srtod.rec_head.init_cfg == REC_HEAD_INIT
    assert cfg.model.srtod.loss_rec == dict(type='mmdet.MSELoss', loss_weight=REC_LOSS_WEIGHT)
    paper = resolve_config('droneswarms/cascade_rcnn+srtod', 'paper').model.srtod.loss_rec
    assert REC_LOSS_WEIGHT != 1.0 and paper.loss_weight == 1.0   # the paper tier keeps 1.0
    # every other head stays at mmdet's random start
    assert cfg.model.rpn_head.get('init_cfg') == resolve_config(
        'droneswarms/cascade_rcnn+srtod', 'paper').model.rpn_head.get('init_cfg')
    detectors = resolve_config('droneswarms/detectors+srtod', 'smoke').model
    assert detectors.backbone.init_cfg.checkpoint == ckpt('resnet50-pytorch')
    assert detectors.neck.rfp_backbone.init_cfg.checkpoint == ckpt('resnet50-pytorch')
    assert resolve_config('droneswarms/tridentnet', 'smoke').model.backbone.init_cfg.checkpoint \
        == ckpt('resnet50-caffe')
    assert resolve_config('droneswarms/cascade_rpn', 'smoke').model.backbone.init_cfg.checkpoint \
        == ckpt('resnet18-caffe')
    # PDM has no reconstruction head; baselines get no head rule
    pdm = resolve_config('aitod/detectors+srtod-pdm', 'smoke')
    assert 'rec_head' not in (pdm.optim_wrapper.get('paramwise_cfg') or {}).get('custom_keys', {})
    assert not resolve_config('droneswarms/faster_rcnn', 'smoke').optim_wrapper.get('paramwise_cfg')
    # tiny starts from scratch (no pretraining job to wait for); the head rule holds there too
    tiny = resolve_config('droneswarms/cascade_rcnn+srtod', 'tiny')
    assert tiny.model.backbone.init_cfg is None
    assert tiny.model.srtod.rec_head.init_cfg == REC_HEAD_INIT
