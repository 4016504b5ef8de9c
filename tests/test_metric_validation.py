"""``srtod eval`` on malformed files, as a user meets them: each gets an error naming the file, the
record and the field, and the output is strict JSON (null where there is no box of a size)."""
import copy
import json
import math

import numpy as np
import pytest

from srtod.cli import main
from srtod.errors import InputError
from srtod.evaluation.backends import Detections, GroundTruth, evaluate

GT = {'images': [{'id': 1, 'file_name': 'a.png', 'width': 100, 'height': 80},
                 {'id': 2, 'file_name': 'b.png', 'width': 100, 'height': 80}],
      'categories': [{'id': 1, 'name': 'drone'}, {'id': 2, 'name': 'bird'}],
      'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 6, 5],
                       'area': 30.0, 'iscrowd': 0},
                      {'id': 2, 'image_id': 2, 'category_id': 2, 'bbox': [40, 20, 12, 12],
                       'area': 144.0, 'iscrowd': 0}]}
DT = [{'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 6, 5], 'score': 0.9},
      {'image_id': 2, 'category_id': 2, 'bbox': [41, 20, 12, 12], 'score': 0.8}]


def _run(tmp_path, capsys, gt=GT, dt=DT, gt_text=None, dt_text=None):
    (tmp_path / 'gt.json').write_text(gt_text if gt_text is not None else json.dumps(gt))
    (tmp_path / 'dt.json').write_text(dt_text if dt_text is not None else json.dumps(dt))
    code = main(['eval', '--gt', str(tmp_path / 'gt.json'), '--dt', str(tmp_path / 'dt.json'),
                 '--all'])
    out, err = capsys.readouterr()
    return code, out, err


def _strict(text):
    def no_constant(name):
        raise ValueError(f'{name} is not strict JSON')
    return json.loads(text, parse_constant=no_constant)


def test_valid_files_give_strict_json_with_null(tmp_path, capsys):
    code, out, err = _run(tmp_path, capsys)
    assert code == 0, err
    metrics = _strict(out)
    assert metrics['APm'] is None  # no box of 32x32 px or more
    assert metrics['APvt'] == pytest.approx(100) and 0 < metrics['APt'] < 100
    from srtod.evaluation.records import load_records
    for backend in ('numpy', 'pycocotools'):
        assert main(['eval', '--gt', str(tmp_path / 'gt.json'), '--dt', str(tmp_path / 'dt.json'),
                     '--backend', backend, '--records', str(tmp_path / f'{backend}.npz')]) == 0
        assert _strict(capsys.readouterr().out)['AP'] == metrics['AP']
        assert load_records(tmp_path / f'{backend}.npz').ap() == metrics['AP']


def _gt(change):
    data = copy.deepcopy(GT)
    change(data)
    return data


@pytest.mark.parametrize('change, expected', [
    (lambda d: d['annotations'][0].pop('area'), 'annotations[0] (id 1): field area'),
    (lambda d: d['annotations'][1].pop('bbox'), 'annotations[1] (id 2): field bbox'),
    (lambda d: d.pop('categories'), "top-level key 'categories'"),
    (lambda d: d['annotations'][0].pop('iscrowd'), 'annotations[0] (id 1): field iscrowd'),
    (lambda d: d['annotations'][1].update(id=1), 'annotations[1] (id 1): duplicate annotation id'),
    (lambda d: d['images'][1].update(id='2'), "images[1]: field id: expected a non-negative "
                                              "integer id, got '2'"),
    (lambda d: d['images'][1].update(id=2.0), 'images[1]: field id'),
    (lambda d: d['annotations'][0].update(image_id=True), 'annotations[0] (id 1): field image_id'),
    (lambda d: d['annotations'][0].update(image_id=1.0), 'annotations[0] (id 1): field image_id: '
                                                         'expected a non-negative integer id'),
    (lambda d: d['annotations'][1].update(category_id=2.0), 'annotations[1] (id 2): field '
                                                            'category_id: expected a non-negative'),
    (lambda d: d['annotations'][0].update(area=-1), 'annotations[0] (id 1): field area'),
    (lambda d: d['annotations'][0].update(iscrowd=2), 'annotations[0] (id 1): field iscrowd'),
])
def test_malformed_ground_truth(tmp_path, capsys, change, expected):
    code, out, err = _run(tmp_path, capsys, gt=_gt(change))
    assert code == 2 and out == ''
    assert str(tmp_path / 'gt.json') in err and expected in err, err


def test_nan_in_ground_truth_is_a_json_error_with_its_line(tmp_path, capsys):
    text = json.dumps(GT, indent=1).replace('30.0', 'NaN')
    code, _, err = _run(tmp_path, capsys, gt_text=text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if 'NaN' in s)
    assert code == 2 and f'gt.json:{line}: invalid JSON' in err
    assert 'NaN and Infinity are not JSON numbers' in err


@pytest.mark.parametrize('record, expected', [
    ({'image_id': '1'}, 'record [1]: field image_id: Expected int, got str'),
    ({'image_id': 1.0}, 'record [1]: field image_id: Expected int, got float'),
    ({'category_id': True}, 'record [1]: field category_id: Expected int, got bool'),
    ({'bbox': [1, 2, 3]}, 'record [1]: field bbox: Expected array of length 4'),
    ({'bbox': [1, 2, '3', 4]}, 'record [1]: field bbox[2]: Expected float, got str'),
    ({'score': None}, 'record [1]: field score: Expected float, got null'),
    ({'bbox': [1, 2, -3, 4]}, 'record [1]: field bbox = [1.0, 2.0, -3.0, 4.0]: expected '
                              '[x, y, w, h] with w, h >= 0'),
    ({'image_id': 7}, 'record [1]: field image_id = 7: not an image of the ground truth'),
    ({'category_id': 0}, 'record [1]: field category_id = 0: not a category of the ground truth'),
    ({'score': 1e999}, 'Number out of range'),
])
def test_malformed_detections(tmp_path, capsys, record, expected):
    dt = copy.deepcopy(DT)
    dt[1].update(record)
    code, out, err = _run(tmp_path, capsys, dt=dt,
                          dt_text=json.dumps(dt).replace('Infinity', '1e999'))
    assert code == 2 and out == ''
    assert str(tmp_path / 'dt.json') in err and expected in err, err


def test_missing_field_nan_score_and_wrong_shape(tmp_path, capsys):
    dt = copy.deepcopy(DT)
    del dt[0]['score']
    code, _, err = _run(tmp_path, capsys, dt=dt)
    assert code == 2 and 'record [0]: Object missing required field score' in err
    dt = copy.deepcopy(DT)
    dt[1]['score'] = float('nan')  # Python's json writes NaN, which strict JSON does not have
    code, _, err = _run(tmp_path, capsys, dt=dt)
    assert code == 2 and 'dt.json:1: invalid JSON' in err and 'NaN and Infinity' in err
    code, _, err = _run(tmp_path, capsys, dt_text='{"image_id": 1}')
    assert code == 2 and 'Expected array, got object' in err
    (tmp_path / 'missing.json').unlink(missing_ok=True)
    assert main(['eval', '--gt', str(tmp_path / 'gt.json'), '--dt',
                 str(tmp_path / 'missing.json')]) == 2
    assert 'missing.json: file not found' in capsys.readouterr().err


def test_python_api_rejects_non_finite_values():
    gt = GroundTruth(GT)
    for bad in ('bbox', 'score'):
        dets = Detections.from_coco_results(copy.deepcopy(DT))
        getattr(dets, bad)[0] = np.nan
        with pytest.raises(InputError, match=f'record \\[0\\]: field {bad} = '):
            evaluate(gt, dets)
    with pytest.raises(InputError, match=r'record \[0\]: field image_id: Expected int, got float'):
        Detections.from_coco_results([dict(DT[0], image_id=1.0)])


def test_metric_rejects_nan_predictions(tmp_path):
    import torch
    from mmdet.registry import METRICS
    (tmp_path / 'gt.json').write_text(json.dumps(GT))
    metric = METRICS.build(dict(type='AITODMetric', ann_file=str(tmp_path / 'gt.json')))
    metric.dataset_meta = {'classes': ('drone', 'bird')}
    metric.process({}, [{'img_id': 1, 'pred_instances': {
        'bboxes': torch.tensor([[10., 10., 16., 15.]]), 'scores': torch.tensor([math.nan]),
        'labels': torch.tensor([0])}}])
    with pytest.raises(InputError, match='field score = nan'):
        metric.evaluate(1)


def test_metric_validates_its_ground_truth(tmp_path):
    from mmdet.registry import METRICS
    (tmp_path / 'gt.json').write_text(json.dumps(_gt(lambda d: d['annotations'][0].pop('area'))))
    with pytest.raises(InputError, match='field area') as err:
        METRICS.build(dict(type='AITODMetric', ann_file=str(tmp_path / 'gt.json')))
    assert str(tmp_path / 'gt.json') in str(err.value)
