"""SR-TOD inside mmdet detectors: slim models (ResNet-18 or a narrow DetectoRS ResNet-50, 64-channel
FPN) on 64x96 images, CPU, a few seconds each."""
import copy
import os

import mmdet
import pytest
import torch
from mmengine.config import Config, ConfigDict

from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs

from mmdet.utils import register_all_modules

import srtod  # noqa: F401  (registers the modules)
from srtod.errors import InputError
from srtod.models.srtod import gt_box_mask

register_all_modules()  # default scope mmdet, as in every mmdet config

C = 64
SHAPE = (3, 64, 96)
CONFIGS = os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'configs')
BASE = {
    'faster': 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'cascade': 'cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py',
    'detectors': 'detectors/detectors_cascade-rcnn_r50_1x_coco.py',
    'detectors_nosac': 'detectors/detectors_cascade-rcnn_r50_1x_coco.py',
    'retinanet': 'retinanet/retinanet_r50_fpn_1x_coco.py',
    'rfla': 'cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py',
}


def srtod_cfg(stride=4, **dgfe):
    d = dict(type='DGFE', channels=C, reduction=16, threshold_init=40 / 255, filtration='learnable',
             enhancement='ea', parts='rw+dm')
    d.update(dgfe)
    return dict(level=0, rec_head=dict(type='ReconstructionHead', in_channels=C, stride=stride),
                diff_map=dict(type='pixel'), dgfe=d, loss_rec=dict(type='mmdet.MSELoss', loss_weight=1.0),
                predicted=False)


def model_cfg(kind, srtod='default'):
    """The mmdet config of ``kind``, slimmed; ``srtod='plain'`` keeps mmdet's own detector type."""
    model = Config.fromfile(os.path.join(CONFIGS, BASE[kind])).model
    model.backbone = ConfigDict(type='ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                                norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch',
                                init_cfg=None)
    model.neck.update(in_channels=[64, 128, 256, 512], out_channels=C)
    if kind.startswith('detectors'):
        sac = dict(sac=None, stage_with_sac=(False,) * 4) if kind == 'detectors_nosac' else {}
        model.backbone = ConfigDict(type='DetectoRS_ResNet', depth=50, base_channels=16, conv_cfg=dict(type='ConvAWS'),
                                    sac=dict(type='SAC', use_deform=True), stage_with_sac=(False, True, True, True),
                                    output_img=True, init_cfg=None, norm_eval=False)
        model.backbone.update(sac)
        model.neck.aspp_out_channels = 16
        model.neck.rfp_backbone.update(base_channels=16, rfp_inplanes=C, pretrained=None, norm_eval=False, **sac)
    if kind == 'retinanet':
        model.bbox_head.update(in_channels=C, feat_channels=C, stacked_convs=1, num_classes=2)
        model.test_cfg.update(nms_pre=100, max_per_img=20)
    else:
        model.rpn_head.update(in_channels=C, feat_channels=C)
        model.rpn_head.anchor_generator.scales = [2]
        model.roi_head.bbox_roi_extractor.out_channels = C
        heads = model.roi_head.bbox_head
        for head in heads if isinstance(heads, list) else [heads]:
            head.update(in_channels=C, fc_out_channels=C, num_classes=2)
        model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
        model.test_cfg.rcnn.max_per_img = 20
        model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    if kind == 'rfla':
        model.rpn_head.anchor_generator = ConfigDict(type='RFGenerator', fpn_layer='p2', fraction=0.5,
                                                     strides=[4, 8, 16, 32, 64])
        model.train_cfg.rpn.assigner = ConfigDict(type='HieAssigner', ignore_iof_thr=-1, gpu_assign_thr=512,
                                                  iou_calculator=dict(type='BboxDistanceMetric'),
                                                  assign_metric='kl', topk=[3, 1], ratio=0.9)
    if srtod == 'plain':
        return model
    model.type = 'SRTODSingleStageDetector' if kind == 'retinanet' else 'SRTODTwoStageDetector'
    model.data_preprocessor.type = 'SRTODDataPreprocessor'
    model.srtod = srtod_cfg(stride=8 if kind == 'retinanet' else 4) if srtod == 'default' else srtod
    return model


def build(kind, srtod='default', seed=0):
    torch.manual_seed(seed)
    return MODELS.build(model_cfg(kind, srtod))


def batch(model, training, seed=0, shape=SHAPE):
    data = demo_mm_inputs(batch_size=2, image_shapes=[shape, shape], num_items=[3, 2], num_classes=2)
    torch.manual_seed(seed)
    return model.data_preprocessor(copy.deepcopy(data), training)


def total_loss(model, losses):
    return model.parse_losses(losses)[0]


# ------------------------------------------------------------------ every detector with SR-TOD
@pytest.mark.parametrize('kind', ['faster', 'cascade', 'detectors', 'detectors_nosac', 'retinanet',
                                  'rfla'])
def test_loss_predict_and_one_step_train_the_reconstruction_head(kind):
    # SAC's reflect padding needs at least 3x3 at stride 32
    shape = (3, 128, 160) if kind.startswith('detectors') else SHAPE
    model = build(kind)
    model.train()
    data = batch(model, True, shape=shape)
    assert 'rec_targets' in data
    losses = model(**data, mode='loss')
    assert 'loss_rec' in losses and torch.isfinite(losses['loss_rec'])
    assert 0.0 < float(losses['loss_rec']) < 1.0
    before = {k: v.detach().clone() for k, v in model.rec_head.named_parameters()}
    t_before = model.srtod_threshold()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    opt.zero_grad()
    total_loss(model, losses).backward()
    assert float(model.dgfe.threshold.grad) == 0.0  # sign(): the paper's "learnable" t gets no gradient
    opt.step()
    changed = [k for k, v in model.rec_head.named_parameters() if not torch.equal(v, before[k])]
    assert {k for k in before if k.endswith('weight')} <= set(changed)  # (a bias may move by < 1 ulp)
    assert model.srtod_threshold() == t_before  # no weight decay here, so t did not move

    model.eval()
    with torch.no_grad():
        results = model(**batch(model, False, shape=shape), mode='predict')
    assert len(results) == 2
    assert results[0].pred_instances.bboxes.shape[-1] == 4


def test_reconstruction_head_learns_from_loss_rec_only():
    model = build('faster')
    model.train()
    losses = model(**batch(model, True), mode='loss')
    rec_params = list(model.rec_head.parameters())
    others = total_loss(model, {k: v for k, v in losses.items() if k != 'loss_rec'})
    grads = torch.autograd.grad(others, rec_params, allow_unused=True, retain_graph=True)
    assert all(g is None or float(g.abs().sum()) == 0.0 for g in grads)
    grads = torch.autograd.grad(losses['loss_rec'], rec_params + [p for p in model.neck.parameters()],
                                allow_unused=True)
    assert all(g is not None and float(g.abs().sum()) > 0 for g in grads[:len(rec_params)])
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads[len(rec_params):])  # not detached


# ------------------------------------------------------------------ srtod=None is the parent detector
@pytest.mark.parametrize('kind', ['faster', 'retinanet'])
def test_srtod_none_equals_the_plain_detector(kind):
    plain = build(kind, 'plain')
    ours = build(kind, None, seed=1)
    assert set(ours.state_dict()) == set(plain.state_dict())
    ours.load_state_dict(plain.state_dict())
    plain.eval(), ours.eval()
    with torch.no_grad():
        expected = plain(**batch(plain, False), mode='predict')
        got = ours(**batch(ours, False), mode='predict')
    for e, g in zip(expected, got):
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(e.pred_instances[key], g.pred_instances[key])
    plain.train(), ours.train()
    expected = plain(**batch(plain, True, seed=3), mode='loss')
    got = ours(**batch(ours, True, seed=3), mode='loss')
    assert set(expected) == set(got)
    assert torch.equal(total_loss(plain, expected), total_loss(ours, got))


def test_rh_only_trains_the_head_and_leaves_inference_unchanged():
    cfg = srtod_cfg()
    cfg['dgfe'] = None
    ours = build('faster', cfg)
    plain = build('faster', 'plain')
    ours.train()
    assert 'loss_rec' in ours(**batch(ours, True), mode='loss')
    plain.load_state_dict({k: v for k, v in ours.state_dict().items() if not k.startswith('rec_head.')})
    assert ours.srtod_threshold() is None
    ours.eval(), plain.eval()
    with torch.no_grad():
        e = plain(**batch(plain, False), mode='predict')[0].pred_instances
        g = ours(**batch(ours, False), mode='predict')[0].pred_instances
    assert torch.equal(e.bboxes, g.bboxes) and torch.equal(e.scores, g.scores)


# ------------------------------------------------------------------ the fast paths equal the reference
@pytest.mark.parametrize('diff_map', [dict(type='pixel'), dict(type='highfreq', cutoff=1 / 16)])
@pytest.mark.parametrize('mode', ['predict', 'loss'])
def test_enhanced_level_equals_full_resolution_reference(diff_map, mode):
    cfg = srtod_cfg(threshold_init=0.3)
    cfg['diff_map'] = diff_map
    model = build('faster', cfg)
    model.train(mode == 'loss')
    data = batch(model, mode == 'loss')
    with model._srtod_scope(mode, data['rec_targets'], data['data_samples']) as state:
        feats = model.extract_feat(data['inputs'])
    maps = model.srtod_maps(data['inputs'], data['rec_targets'])
    torch.testing.assert_close(feats[0], maps['feat_enhanced'], rtol=1e-5, atol=1e-5)
    assert ('loss_rec' in state.losses) == (mode == 'loss')
    # the reference itself: D from the full reconstruction, DGFE's own nearest resize
    d = model.diff_map(maps['reconstruction'], data['rec_targets'])
    torch.testing.assert_close(maps['diff_map'], d)
    binary = maps['binary_map']
    assert set(binary.unique().tolist()) <= {0.0, 0.5, 1.0} and 0 < float(binary.mean()) < 1
    assert maps['reconstruction'].shape == data['rec_targets'].shape
    assert maps["threshold"] == pytest.approx(0.3)
    # the direct computation (the benchmark's "before") gives the same enhanced level
    model.srtod_shortcuts = False
    with model._srtod_scope(mode, data['rec_targets'], data['data_samples']):
        direct = model.extract_feat(data['inputs'])
    torch.testing.assert_close(direct[0], feats[0], rtol=1e-5, atol=1e-5)
    # without rec_targets the target is recovered from the normalised input (padding zeroed)
    recovered = model._srtod_targets(data['inputs'], None, data['data_samples'])
    torch.testing.assert_close(recovered, data['rec_targets'], rtol=0, atol=1e-5)


# ------------------------------------------------------------------ switches and PDM
@pytest.mark.parametrize('dgfe', [dict(filtration='ste'), dict(filtration='none'), dict(filtration='fixed'),
                                  dict(enhancement='em'), dict(enhancement='concat'), dict(parts='rw'),
                                  dict(parts='dm')])
def test_dgfe_switches_run_in_a_detector(dgfe):
    model = build('faster', srtod_cfg(**dgfe))
    model.train()
    losses = model(**batch(model, True), mode='loss')
    total_loss(model, losses).backward()
    if dgfe.get('filtration') == 'ste':
        assert float(model.dgfe.threshold.grad) != 0.0
    model.eval()
    with torch.no_grad():
        assert len(model(**batch(model, False), mode='predict')) == 2


def test_predicted_difference_map_variant():
    cfg = srtod_cfg(threshold_init=0.5)
    cfg['predicted'] = True
    model = build('faster', cfg)
    assert not hasattr(model, 'rec_head')
    model.train()
    losses = model(**batch(model, True), mode='loss')
    assert 'loss_pdm' in losses and 'loss_rec' not in losses and torch.isfinite(losses['loss_pdm'])
    head = list(model.pdm_head.parameters())
    total_loss(model, losses).backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in head)
    model.eval()
    data = batch(model, False)
    with torch.no_grad():
        assert len(model(**data, mode='predict')) == 2
    maps = model.srtod_maps(data['inputs'], data['rec_targets'])
    assert maps['reconstruction'] is None and maps['diff_map'].shape == (2, 1, 64, 96)


def test_gt_box_mask_marks_every_overlapped_cell():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    sample = DetDataSample()
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[5., 5., 7., 7.], [13., 1., 19., 9.]]),
                                       labels=torch.tensor([0, 0]))
    mask = gt_box_mask([sample], (4, 6), 4)[0, 0]
    expected = torch.zeros(4, 6)
    expected[1, 1] = 1
    expected[0:3, 3:5] = 1
    assert torch.equal(mask, expected)


# ------------------------------------------------------------------ bad input
def test_level_of_the_wrong_size_is_refused():
    model = build('faster', srtod_cfg(stride=8))  # level 0 is P2 (stride 4), not stride 8
    model.train()
    with pytest.raises(InputError, match=r'expected neck level 0 at stride 8, of size input/8 = \(8, 12\)'):
        model(**batch(model, True), mode='loss')
    cfg = model_cfg('faster')
    cfg.data_preprocessor.pad_size_divisor = 1
    model = MODELS.build(cfg)
    data = demo_mm_inputs(batch_size=1, image_shapes=[(3, 66, 98)], num_items=[2], num_classes=2)
    with pytest.raises(InputError, match='Pad the input to a multiple of 32'):
        model(**model.data_preprocessor(data, True), mode='loss')


def test_unknown_srtod_key_is_refused():
    cfg = srtod_cfg()
    cfg['treshold'] = 0.1
    with pytest.raises(InputError, match='unknown srtod config keys'):
        build('faster', cfg)
