"""`srtod figures` on a tiny SR-TOD run: the PNGs, panel and separation.json it writes.

The model is a slim Faster R-CNN (tests/conftest.py) with SR-TOD, built and saved untrained:
the figures and the separation only need weights of the right shapes, and an untrained model
keeps the test to seconds. The registry's config resolution is replaced by these configs.
"""
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')

RUN, BASE, TIER = 'droneswarms/cascade_rcnn+srtod', 'droneswarms/cascade_rcnn', 'tiny'
SIZE = 64


def _configs(tiny_faster_rcnn_config, data_root, work_dir):
    base = tiny_faster_rcnn_config(data_root, work_dir, size=SIZE)
    srtod = tiny_faster_rcnn_config(data_root, work_dir, size=SIZE)
    srtod.model.type = 'SRTODTwoStageDetector'
    srtod.model.data_preprocessor.type = 'SRTODDataPreprocessor'
    srtod.model.srtod = dict(
        level=0, rec_head=dict(type='ReconstructionHead', in_channels=64, stride=4),
        diff_map=dict(type='pixel'),
        dgfe=dict(type='DGFE', channels=64, reduction=16, threshold_init=40 / 255,
                  filtration='learnable', enhancement='ea', parts='rw+dm'),
        loss_rec=dict(type='mmdet.MSELoss', loss_weight=1.0))
    return {RUN: srtod, BASE: base}


def _save(cfg, run_dir, seed):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, run_dir / 'checkpoint.pth')
    thr = dict(init=40 / 255, final=40 / 255 * (1 - 1e-6)) if 'srtod' in cfg.model.type.lower() else None
    (run_dir / 'train.json').write_text(json.dumps(dict(status='ok', threshold=thr)))


@pytest.fixture()
def tiny_run(tmp_path, monkeypatch, make_tiny_coco, tiny_faster_rcnn_config):
    import srtod.registry as registry
    data = make_tiny_coco(tmp_path / 'data', images=4, size=SIZE, seed=1)
    configs = _configs(tiny_faster_rcnn_config, data, tmp_path / 'work')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, 'resolve_config', lambda run_id, tier, seed=0, **kw: configs[run_id])
    for run_id, cfg in configs.items():
        _save(cfg, registry.run_dir(TIER, run_id, 0), seed=0)
    return tmp_path, json.loads((data / 'test.json').read_text())


def test_figures_for_a_tiny_run(tiny_run):
    from srtod.analysis.figure_commands import (FIGURE_FILES, PANEL_FILE, make_dataset_figure,
                                                make_figures)
    root, coco = tiny_run
    import srtod.registry as registry
    from srtod.engine.evaluate import test_run
    # srtod test measures the mechanism (metrics.json); the figures copy it
    tested = test_run(registry.resolve_config(RUN, TIER), registry.run_dir(TIER, RUN, 0),
                      run_id=RUN, tier=TIER, seed=0)
    result = make_figures(RUN, TIER, seed=0, images=4, figure_images=2, crop=32, device='cpu')
    out = root / 'reports' / TIER / 'figures' / RUN
    for name in FIGURE_FILES:
        path = out / name
        assert path.is_file() and path.stat().st_size > 2000, name
        assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with np.load(root / 'results' / TIER / RUN / 'seed0' / PANEL_FILE) as data:
        panel = {key: data[key] for key in data.files}
    assert panel['image'].shape == (32, 32, 3) and panel['diff_map'].shape == (32, 32)
    # what the table reports' Fig. 1 and Fig. 4 panels show, on the same crop
    assert panel['reconstruction'].shape == (32, 32, 3)
    np.testing.assert_array_equal(panel['binary_map'],
                                  (panel['diff_map'] > panel['threshold']).astype(np.float32))
    for key in ('p2_before', 'p2_after', 'p2_baseline'):
        assert panel[key].shape == (32, 32) and (panel[key] >= 0).all(), key
    from srtod.analysis.figures import plot_table_features, plot_table_maps
    for plot in (plot_table_maps, plot_table_features):
        png = plot([('RH + DGFE', panel), ('RH', None)], root / f'{plot.__name__}.png')
        assert png.read_bytes()[:4] == b'\x89PNG'
    saved = json.loads((root / 'results' / TIER / RUN / 'seed0' / 'separation.json').read_text())
    assert saved['status'] == 'ok' and saved['images'] == 4 and saved['baseline'] == BASE
    sep = saved['separation']
    # every test object is counted once, in the bucket of its area (squares of side 6-13 px)
    assert sep['buckets']['all']['objects'] == len(coco['annotations'])
    expect_vt = sum(a['area'] < 64 for a in coco['annotations'])
    assert sep['buckets']['very_tiny']['objects'] == expect_vt
    # scale factor 1 (64 px images at 64 px): background = all pixels minus the union of boxes
    union = 0
    for img in coco['images']:
        mask = np.zeros((SIZE, SIZE), bool)
        for a in coco['annotations']:
            if a['image_id'] == img['id']:
                x, y, w, h = a['bbox']
                mask[y:y + h, x:x + w] = True
        union += mask.sum()
    assert sep['negative_pixels'] == 4 * SIZE * SIZE - union
    auc = sep['buckets']['all']['auc']
    assert 0.0 <= auc <= 1.0 and not math.isnan(auc)
    assert sep['threshold'] == pytest.approx(40 / 255, rel=1e-5)
    assert saved['threshold']['changed'] is True and saved['threshold']['moved'] is False
    assert saved['threshold']['change_255'] == pytest.approx(-40e-6, rel=1e-3)
    assert set(saved['feature_contrast']) == {'p2_before', 'p2_after', 'baseline_p2'}
    assert all(v is not None and v > 0 for v in saved['feature_contrast'].values())
    assert result['separation'] == sep
    # the mechanism: metrics.json's, measured by srtod test on the same 4 test images
    from srtod.analysis.mechanism import MECHANISM_KEYS, measure_mechanism
    mech = saved['mechanism']
    assert mech == tested['mechanism']
    assert mech == json.loads((root / 'results' / TIER / RUN / 'seed0' / 'metrics.json')
                              .read_text())['mechanism']
    assert set(MECHANISM_KEYS) <= set(mech) and mech['images'] == 4
    assert mech['objects_all'] == len(coco['annotations'])
    assert mech['objects_very_tiny'] == expect_vt
    # the mean colour is the best constant reconstruction: an untrained head does worse
    assert mech['rec_psnr'] < mech['rec_psnr_constant']
    assert mech['rec_psnr_gain'] == pytest.approx(mech['rec_psnr'] - mech['rec_psnr_constant'])
    # D itself is what separation.json's own pass measured
    assert mech['auc_all'] == pytest.approx(auc)
    # the pixel map of the constant reconstruction is the learning-free `constant` reference
    assert mech['auc_all_constant'] == pytest.approx(
        saved['separation_reference']['constant']['buckets']['all']['auc'], abs=1e-6)
    from srtod.analysis import figures as F
    cfg = registry.resolve_config(RUN, TIER)
    model = F.build_model(cfg, registry.run_dir(TIER, RUN, 0) / 'checkpoint.pth', 'cpu')
    alone = measure_mechanism(model, F.build_test_dataset(cfg))
    for key in MECHANISM_KEYS:
        assert mech[key] == pytest.approx(alone[key], abs=1e-6), key
    assert mech['negative_pixels'] == sep['negative_pixels']   # every background pixel
    # a bound on the pooled background: a uniform sample of it per image, the same for both maps
    bounded = measure_mechanism(model, F.build_test_dataset(cfg), max_negatives=400)
    assert bounded['negative_pixels'] == 400 and bounded['images'] == 4
    assert bounded['rec_psnr'] == pytest.approx(mech['rec_psnr'])
    assert 0.0 <= bounded['auc_all'] <= 1.0
    png = make_dataset_figure(TIER, [RUN])
    assert png.is_file() and png.read_bytes()[:4] == b'\x89PNG'


def test_figures_of_a_failed_run_are_placeholders(tiny_run):
    from srtod.analysis.figure_commands import make_figures
    root, _ = tiny_run
    train = root / 'results' / TIER / RUN / 'seed0' / 'train.json'
    train.write_text(json.dumps(dict(status='failed', failure=dict(reason='loss is NaN',
                                                                    iteration=3))))
    result = make_figures(RUN, TIER, seed=0, images=2)
    assert result['status'] == 'failed'
    assert (root / 'reports' / TIER / 'figures' / RUN / 'fig1_difference_map.png').is_file()


def test_crop_holds_the_most_tiny_objects():
    from srtod.analysis.figures import choose_crop
    boxes = np.array([[5, 5, 9, 9], [100, 100, 104, 104], [110, 96, 114, 100],
                      [120, 120, 124, 124], [10, 150, 60, 190]], float)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    x0, y0, x1, y1 = choose_crop(boxes, areas, 200, 300, size=40)
    assert (x1 - x0, y1 - y0) == (40, 40)
    inside = [(x0 <= b[0] and b[2] <= x1 and y0 <= b[1] and b[3] <= y1) for b in boxes[1:4]]
    assert all(inside)
    assert choose_crop(boxes[:0], areas[:0], 30, 50, size=40) == (10, 0, 40, 30)


def test_extracted_maps_are_what_the_figures_claim(tiny_run):
    """D shown = mean_c |I_r - I_o| on the unpadded image; boxes in the input frame."""
    import srtod.registry as registry
    from srtod.analysis import figures as F
    root, coco = tiny_run
    cfg = registry.resolve_config(RUN, TIER)
    model = F.build_model(cfg, registry.run_dir(TIER, RUN, 0) / 'checkpoint.pth')
    m = F.MapExtractor(model, F.build_test_dataset(cfg))(0)
    assert m.image.shape == (SIZE, SIZE, 3) and m.diff_map.shape == (SIZE, SIZE)
    np.testing.assert_allclose(m.diff_map, np.abs(m.reconstruction - m.image).mean(axis=2),
                               atol=1e-6)
    np.testing.assert_allclose(m.diff_map, m.diff_map_pixel, atol=1e-6)
    t = m.threshold
    np.testing.assert_array_equal(m.binary_map, (np.sign(m.diff_map - t) + 1) / 2)
    assert m.feat.shape[1:] == (SIZE // 4, SIZE // 4) and m.stride == 4
    first = [a['bbox'] for a in coco['annotations'] if a['image_id'] == coco['images'][0]['id']]
    x, y, w, h = np.array(first, float).T
    np.testing.assert_allclose(m.boxes, np.stack([x, y, x + w, y + h], 1))


def test_a_checkpoint_of_another_config_is_refused(tiny_run):
    import srtod.registry as registry
    from srtod.analysis import figures as F
    from srtod.errors import InputError
    cfg = registry.resolve_config(RUN, TIER).copy()
    cfg.model.neck.out_channels = 32     # the config changed after training
    with pytest.raises(InputError, match='does not fit'):
        F.build_model(cfg, registry.run_dir(TIER, RUN, 0) / 'checkpoint.pth')
