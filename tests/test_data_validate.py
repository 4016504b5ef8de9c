"""``srtod validate`` and ``srtod stats`` from the command line."""
import json

from srtod.cli import main as srtod_main
from srtod.data.coco import collect_problems
from srtod.data.synth import make_synthetic


def test_validate_ok_and_every_problem_listed(tmp_path, capsys):
    make_synthetic(tmp_path / 'd', 4, seed=0, width=96, height=64)
    test_json = tmp_path / 'd' / 'test.json'
    assert srtod_main(['validate', str(test_json), '--images', str(tmp_path / 'd' / 'images')]) == 0
    assert ': ok (' in capsys.readouterr().out
    data = json.loads(test_json.read_text())
    data['images'].append(dict(data['images'][0]))                     # duplicate id and file
    data['annotations'][0]['bbox'] = [90, 10, 20, 5]                  # outside a 96 px image
    data['annotations'].append(dict(data['annotations'][1], bbox=[1, 1, 0, 3]))  # no width
    data['annotations'].append(dict(data['annotations'][1], id=99, category_id=5))
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(data))
    problems = collect_problems(data)
    assert len(problems) == 6, problems
    assert srtod_main(['validate', str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and '6 problem(s)' in err
    for text in ('duplicate image id', 'lies outside its image', 'positive width and height',
                 'duplicate annotation id', 'category_id 5 is not in categories',
                 'used by two images'):
        assert text in err, text


def test_validate_missing_image(tmp_path, capsys):
    make_synthetic(tmp_path / 'd', 3, seed=0, width=64, height=48)
    data = json.loads((tmp_path / 'd' / 'train.json').read_text())
    (tmp_path / 'd' / 'images' / data['images'][0]['file_name']).unlink()
    assert srtod_main(['validate', str(tmp_path / 'd' / 'train.json'),
                       '--images', str(tmp_path / 'd' / 'images')]) == 2
    assert 'not found' in capsys.readouterr().err


def test_stats_cli(tmp_path, capsys):
    make_synthetic(tmp_path / 'd', 6, seed=0, width=128, height=96, profile='visdrone')
    assert srtod_main(['stats', str(tmp_path / 'd' / 'train.json'), str(tmp_path / 's')]) == 0
    splits = json.loads(capsys.readouterr().out)
    assert list(splits) == ['train'] and splits['train']['images'] == 4
    assert {p.name for p in (tmp_path / 's').iterdir()} == {'stats.json', 'size_histogram.png',
                                                          'spatial.png'}
