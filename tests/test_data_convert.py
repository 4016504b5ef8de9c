"""Converters to COCO json: VisDrone2019, AI-TOD / DroneSwarms (COCO), DOTA with patches."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from srtod.cli import main as srtod_main
from srtod.data.convert import convert_coco, convert_visdrone
from srtod.data.dota import convert_dota, patch_origins
from srtod.errors import InputError

FIXTURES = Path(__file__).parent / 'fixtures' / 'data'


def _write_image(path: Path, width: int, height: int) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(path)


@pytest.fixture
def visdrone(tmp_path):
    src = tmp_path / 'VisDrone2019-DET-val'
    shutil.copytree(FIXTURES / 'visdrone' / 'annotations', src / 'annotations')
    for txt in (src / 'annotations').glob('*.txt'):
        _write_image(src / 'images' / f'{txt.stem}.jpg', 120, 90)
    return src


def test_visdrone_objects_ignore_regions_and_clipping(visdrone, tmp_path):
    out = tmp_path / 'val.json'
    summary = convert_visdrone(visdrone, out)
    data = json.loads(out.read_text())
    assert summary == {'images': 2, 'objects': 3, 'ignore_regions': 2, 'clipped': 1}
    assert [c['name'] for c in data['categories']][:3] == ['pedestrian', 'people', 'bicycle']
    assert [c['id'] for c in data['categories']] == list(range(1, 11))
    assert {im['file_name'] for im in data['images']} == {
        '0000001_00000_d_0000001.jpg', '0000002_00000_d_0000002.jpg'}
    objects = [a for a in data['annotations'] if not a['iscrowd']]
    assert sorted((a['category_id'], tuple(a['bbox'])) for a in objects) == [
        (1, (50.0, 40.0, 8.0, 6.0)), (4, (10.0, 12.0, 20.0, 15.0)), (10, (110.0, 85.0, 10.0, 5.0))]
    crowd = [a for a in data['annotations'] if a['iscrowd']]
    # each ignore region (category 0 and 11) once per category, flagged for pycocotools and mmdet
    assert len(crowd) == 2 * 10
    assert all(a['ignore'] == 1 for a in crowd)
    assert sorted({tuple(a['bbox']) for a in crowd}) == [(0.0, 0.0, 30.0, 20.0),
                                                         (70.0, 60.0, 15.0, 10.0)]
    assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])


@pytest.mark.parametrize('line, expected', [
    ('10,12,20', 'at least 6 comma-separated fields'),
    ('10,12,abc,15,1,4,0,0', 'expected numbers'),
    ('10,12,20,15,1,14,0,0', 'category 14'),
    ('10,12,0,15,1,4,0,0', 'positive width and height'),
    ('500,400,20,15,1,4,0,0', 'outside the image'),
])
def test_visdrone_bad_lines_name_file_and_line(visdrone, tmp_path, line, expected):
    txt = visdrone / 'annotations' / '0000002_00000_d_0000002.txt'
    txt.write_text('1,1,5,5,1,1,0,0\n' + line + '\n')
    out = tmp_path / 'val.json'
    with pytest.raises(InputError, match=expected) as err:
        convert_visdrone(visdrone, out)
    assert err.value.path == str(txt) and err.value.line == 2
    assert not out.exists()
    assert not list(tmp_path.glob('.val.json.*'))  # no temporary file left either


def test_visdrone_missing_image_or_annotation(visdrone, tmp_path):
    (visdrone / 'images' / '0000002_00000_d_0000002.jpg').unlink()
    with pytest.raises(InputError, match='annotation file without an image'):
        convert_visdrone(visdrone, tmp_path / 'a.json')
    _write_image(visdrone / 'images' / '0000002_00000_d_0000002.jpg', 120, 90)
    _write_image(visdrone / 'images' / '0000003_00000_d_0000003.jpg', 120, 90)
    with pytest.raises(InputError, match='no annotation file'):
        convert_visdrone(visdrone, tmp_path / 'a.json')
    assert not (tmp_path / 'a.json').exists()


def test_visdrone_cli_exit_status(visdrone, tmp_path, capsys):
    assert srtod_main(['convert', 'visdrone', str(visdrone), str(tmp_path / 'ok.json')]) == 0
    (visdrone / 'annotations' / '0000002_00000_d_0000002.txt').write_text('x\n')
    assert srtod_main(['convert', 'visdrone', str(visdrone), str(tmp_path / 'bad.json')]) == 2
    assert '0000002_00000_d_0000002.txt:1' in capsys.readouterr().err


def _coco(tmp_path, **overrides):
    data = {'images': [{'id': 1, 'file_name': './a.png', 'width': 40, 'height': 30}],
            'annotations': [{'id': 1, 'image_id': 1, 'category_id': 3, 'bbox': [1, 2, 10, 5]}],
            'categories': [{'id': 3, 'name': 'vehicle'}, {'id': 1, 'name': 'airplane'}]}
    data.update(overrides)
    path = tmp_path / 'src.json'
    path.write_text(json.dumps(data))
    return path


def test_aitod_is_normalised_and_keeps_category_order(tmp_path):
    src = _coco(tmp_path)
    _write_image(tmp_path / 'imgs' / 'a.png', 40, 30)
    summary = convert_coco(src, tmp_path / 'out.json', images_dir=tmp_path / 'imgs')
    data = json.loads((tmp_path / 'out.json').read_text())
    assert summary == {'images': 1, 'objects': 1, 'ignore_regions': 0}
    assert data['images'][0]['file_name'] == 'a.png'
    assert data['annotations'][0] == {'id': 1, 'image_id': 1, 'category_id': 3,
                                      'bbox': [1, 2, 10, 5], 'area': 50, 'iscrowd': 0,
                                      'ignore': 0}
    assert [c['name'] for c in data['categories']] == ['vehicle', 'airplane']


@pytest.mark.parametrize('overrides, expected', [
    ({'annotations': [{'id': 1, 'image_id': 1, 'category_id': 3, 'bbox': [35, 2, 10, 5]}]},
     'outside its image'),
    ({'annotations': [{'id': 1, 'image_id': 1, 'category_id': 3, 'bbox': [1, 2, 10, 5]},
                      {'id': 1, 'image_id': 1, 'category_id': 3, 'bbox': [1, 2, 10, 5]}]},
     'duplicate annotation id'),
    ({'annotations': [{'id': 1, 'image_id': 1, 'category_id': 7, 'bbox': [1, 2, 10, 5]}]},
     'category_id 7 is not in categories'),
    ({'images': [{'id': 1, 'file_name': '/abs/a.png', 'width': 40, 'height': 30}]},
     'relative to the image folder'),
])
def test_coco_validation_errors(tmp_path, overrides, expected):
    src = _coco(tmp_path, **overrides)
    with pytest.raises(InputError, match=expected) as err:
        convert_coco(src, tmp_path / 'out.json')
    assert err.value.path == str(src)
    assert not (tmp_path / 'out.json').exists()


def test_coco_missing_image_and_wrong_size(tmp_path):
    src = _coco(tmp_path)
    with pytest.raises(InputError, match='not found'):
        convert_coco(src, tmp_path / 'out.json', images_dir=tmp_path / 'imgs')
    _write_image(tmp_path / 'imgs' / 'a.png', 41, 30)
    with pytest.raises(InputError, match='41x30 px, the json says 40x30'):
        convert_coco(src, tmp_path / 'out.json', images_dir=tmp_path / 'imgs')
    src.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(InputError) as err:
        convert_coco(src, tmp_path / 'out.json')
    assert err.value.line == 2


@pytest.fixture
def dota(tmp_path):
    src = tmp_path / 'dota'
    shutil.copytree(FIXTURES / 'dota' / 'labelTxt', src / 'labelTxt')
    _write_image(src / 'images' / 'P0001.png', 160, 120)
    return src


def test_dota_horizontal_boxes(dota, tmp_path):
    summary = convert_dota(dota, tmp_path / 'test.json')
    data = json.loads((tmp_path / 'test.json').read_text())
    assert summary['images'] == 1 and summary['objects'] == 3
    names = [c['name'] for c in data['categories']]
    assert len(names) == 15 and names[0] == 'plane'
    boxes = {names[a['category_id'] - 1]: a['bbox'] for a in data['annotations']}
    assert boxes == {'small-vehicle': [10, 10, 20, 10], 'plane': [45, 5, 30, 30],
                     'ship': [140, 100, 20, 19]}


def test_dota_patches(dota, tmp_path):
    assert patch_origins(160, 100, 80) == [0, 60]
    assert patch_origins(100, 100, 80) == [0] and patch_origins(50, 100, 80) == [0]
    summary = convert_dota(dota, tmp_path / 'out' / 'train.json', patch_size=100, overlap=20)
    data = json.loads((tmp_path / 'out' / 'train.json').read_text())
    names = {im['id']: im['file_name'] for im in data['images']}
    assert sorted(names.values()) == ['P0001__0_0.png', 'P0001__0_20.png', 'P0001__60_0.png',
                                      'P0001__60_20.png']
    assert all((tmp_path / 'out' / 'images' / n).is_file() for n in names.values())
    by_patch = {}
    for a in data['annotations']:
        by_patch.setdefault(names[a['image_id']], []).append((a['category_id'], a['bbox'],
                                                              a['iscrowd']))
    # the plane (45..75) is whole in the patch at x=0 and cut to 15/30 of its width at x=60
    assert (1, [45, 5, 30, 30], 0) in by_patch['P0001__0_0.png']
    assert (1, [0, 5, 15, 30], 1) in by_patch['P0001__60_0.png']
    # the ship (140..160, 100..119) is whole in the bottom-right patch only
    assert (7, [80, 80, 20, 19], 0) in by_patch['P0001__60_20.png']
    assert summary['source_images'] == 1 and summary['images'] == 4
    assert not list((tmp_path / 'out').glob('.dota-patches.*'))


def test_dota_errors(dota, tmp_path):
    lbl = dota / 'labelTxt' / 'P0001.txt'
    lbl.write_text('10 10 30 10 30 20 10 20 spaceship 0\n')
    with pytest.raises(InputError, match="unknown category 'spaceship'") as err:
        convert_dota(dota, tmp_path / 'x.json', patch_size=100, overlap=20)
    assert err.value.line == 1
    lbl.write_text('gsd:0.1\n10 10 30 10 30 small-vehicle\n')
    with pytest.raises(InputError, match='fields') as err:
        convert_dota(dota, tmp_path / 'x.json')
    assert err.value.line == 2
    assert not (tmp_path / 'x.json').exists() and not (tmp_path / 'images').exists()
