"""srtod.io: result files are strict JSON (no NaN), written atomically."""
import json
import math

from srtod.io import write_json


def test_write_json_turns_non_finite_numbers_into_null(tmp_path):
    path = tmp_path / 'metrics.json'
    write_json(path, {'metrics': {'AP': 12.5, 'APm': math.nan, 'x': [math.inf, -math.inf, 1.0]},
                      'status': 'ok', 'n': 3})
    text = path.read_text(encoding='utf-8')
    assert 'NaN' not in text and 'Infinity' not in text
    # a strict parser (no NaN constants) reads it
    obj = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert obj == {'metrics': {'AP': 12.5, 'APm': None, 'x': [None, None, 1.0]},
                   'status': 'ok', 'n': 3}


def test_write_json_keeps_the_old_file_when_it_fails(tmp_path):
    path = tmp_path / 'train.json'
    write_json(path, {'status': 'ok'})
    try:
        write_json(path, {'bad': object()})
    except TypeError:
        pass
    assert json.loads(path.read_text(encoding='utf-8')) == {'status': 'ok'}
    assert [p.name for p in tmp_path.iterdir()] == ['train.json']
