"""The synthetic stand-ins: deterministic, valid COCO, shaped like the datasets they stand for."""
import hashlib
import json

import numpy as np
import pytest

from srtod.cli import main as srtod_main
from srtod.data.coco import load_coco, validate_coco
from srtod.data.stats import dataset_stats
from srtod.data.synth import PROFILES, make_synthetic, render_image


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob('*')):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_identical_bytes(tmp_path):
    for name in ('a', 'b'):
        assert srtod_main(['synth', str(tmp_path / name), '--images', '6', '--seed', '3',
                           '--width', '96', '--height', '64']) == 0
    make_synthetic(tmp_path / 'c', 6, seed=4, width=96, height=64)
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
    assert _digest(tmp_path / 'a') != _digest(tmp_path / 'c')
    train, test = load_coco(tmp_path / 'a' / 'train.json'), load_coco(tmp_path / 'a' / 'test.json')
    assert len(train['images']) + len(test['images']) == 6 and len(test['images']) == 2
    ids = [im['id'] for im in train['images'] + test['images']]
    assert sorted(ids) == list(range(1, 7))


@pytest.mark.parametrize('profile', sorted(PROFILES))
def test_profiles_are_valid_coco_with_one_category(tmp_path, profile):
    counts = make_synthetic(tmp_path, 8, seed=0, width=160, height=96, profile=profile)
    assert counts['train_objects'] > 0 and counts['test_objects'] > 0
    for split in ('train', 'test'):
        data = load_coco(tmp_path / f'{split}.json')
        validate_coco(data, tmp_path / f'{split}.json', images_dir=tmp_path / 'images')
        assert data['categories'] == [{'id': 1, 'name': 'drone', 'supercategory': 'drone'}]


def test_droneswarms_sizes_and_spread(tmp_path):
    """DroneSwarms: ~8 px on average, almost all under 32 px, scattered over the whole frame."""
    make_synthetic(tmp_path / 'ds', 40, seed=1, profile='droneswarms')
    stats = dataset_stats(tmp_path / 'ds', tmp_path / 'stats')
    sizes = [np.sqrt(a['bbox'][2] * a['bbox'][3]) for split in ('train', 'test')
             for a in load_coco(tmp_path / 'ds' / f'{split}.json')['annotations']]
    assert len(sizes) > 300
    assert 6.5 < np.mean(sizes) < 9.5
    assert np.mean(np.array(sizes) < 32) > 0.99
    x, y = np.array(stats['spatial']['x']), np.array(stats['spatial']['y'])
    assert x.min() < .1 and x.max() > .9 and y.min() < .1 and y.max() > .9
    assert sum(stats['splits'][s]['objects'] for s in ('train', 'test')) == len(sizes)
    hist = stats['size_histogram']
    assert sum(hist['train']) + sum(hist['test']) == len(sizes)
    assert (tmp_path / 'stats' / 'size_histogram.png').read_bytes()[:4] == b'\x89PNG'
    assert (tmp_path / 'stats' / 'spatial.png').stat().st_size > 1000
    on_disk = json.loads((tmp_path / 'stats' / 'stats.json').read_text())
    assert on_disk['splits'] == stats['splits']


def test_profiles_differ_in_size(tmp_path):
    def mean_size(profile):
        sizes = []
        for i in range(12):
            _, boxes = render_image(0, i, PROFILES[profile], 320, 192)
            sizes += [np.sqrt(b[2] * b[3]) for b in boxes]
        return np.mean(sizes)
    assert mean_size('droneswarms') < mean_size('aitod') < mean_size('dota')


def test_drones_are_visible_where_boxed():
    """Pixels inside boxes differ from the background around them (the task is learnable)."""
    img, boxes = render_image(0, 0, PROFILES['droneswarms'], 320, 192)
    contrast = []
    for x, y, w, h in boxes:
        x0, y0, x1, y1 = int(x), int(y), int(np.ceil(x + w)), int(np.ceil(y + h))
        inner = img[y0:y1, x0:x1].astype(float)
        ring = img[max(0, y0 - 3):y1 + 3, max(0, x0 - 3):x1 + 3].astype(float)
        contrast.append(abs(inner.mean() - ring.mean()) + inner.std())
    assert np.median(contrast) > 5


def test_bad_arguments(tmp_path, capsys):
    assert srtod_main(['synth', str(tmp_path), '--images', '1']) == 2
    assert 'at least 2' in capsys.readouterr().err
