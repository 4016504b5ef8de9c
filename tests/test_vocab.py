"""srtod.vocab: one vocabulary; the schemas, the registry, the workflow and the CLI read it.

The last tests add a made-up dataset and a made-up detector to a copy of the repository through
the vocabulary, count the files that took, and check that the copy's registry, tiers, workflow
and ``srtod synth`` / ``srtod convert`` know them with no other change.
"""
import ast
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from srtod import vocab
from srtod.errors import InputError
from srtod.registry import DEFAULT_REGISTRY, load_registry, parse_run_id, run_dir

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = (ROOT / 'configs' / 'experiments.schema.yaml',
           ROOT / 'workflow' / 'schemas' / 'config.schema.yaml')
SNAKEMAKE = Path(sys.executable).parent / 'snakemake'


# ------------------------------------------------------------------------------ the module
def test_vocab_imports_only_the_standard_library():
    tree = ast.parse((ROOT / 'srtod' / 'vocab.py').read_text())
    imported = {alias.name.split('.')[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split('.')[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {'__future__', 'dataclasses', 're', 'pathlib'}, imported
    # loaded on its own (not through srtod/__init__, which registers the models)
    code = ("import importlib.util, sys;"
            "s = importlib.util.spec_from_file_location('v', sys.argv[1]);"
            "m = importlib.util.module_from_spec(s); sys.modules['v'] = m;"
            "s.loader.exec_module(m);"
            "print(sorted(k for k in ('torch', 'mmengine', 'mmdet', 'numpy', 'cv2', 'yaml')"
            " if k in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code, str(ROOT / 'srtod' / 'vocab.py')],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]'


def test_datasets_are_complete_records():
    assert vocab.DATASETS == ('droneswarms', 'visdrone', 'aitod', 'dota')
    for name, spec in vocab.DATASET_SPECS.items():
        assert spec.name == name and spec.converter in vocab.CONVERTERS
        assert set(spec.paper_sources) == {'train', 'test'}
        assert len(spec.image_size) == 2 and len(spec.paper_images) == 2
        assert spec.classes and len(set(spec.classes)) == len(spec.classes)
        assert 0 < spec.synthetic.min_size <= spec.synthetic.mean_size <= spec.synthetic.max_size


@pytest.mark.parametrize('name', vocab.DATASETS)
def test_dataset_configs_name_the_vocabulary_classes(name):
    from mmengine.config import Config
    cfg = Config.fromfile(str(ROOT / 'configs' / 'mmdet' / 'datasets' / f'{name}.py'))
    assert tuple(cfg.metainfo['classes']) == vocab.DATASET_SPECS[name].classes


def test_table_ids_and_kinds():
    assert vocab.TABLE_IDS[:7] == tuple(f'T{i}' for i in range(1, 8))
    assert 'S6' in vocab.TABLE_IDS and 'C1' in vocab.TABLE_IDS and 'T8' not in vocab.TABLE_IDS
    assert [vocab.table_kind(t) for t in ('T3', 'S2', 'C1')] == ['paper', 'supplement', 'control']


# ------------------------------------------------------------------------------ run ids
def test_run_id_grammar_with_anchor_scale_controls():
    registry = load_registry()
    for run_id, run in registry.runs.items():  # every id of the registry stays valid
        assert vocab.RUN_ID_RE.match(run_id)
        assert (run.anchor_scale is None) == ('-s' not in run_id)
    m = vocab.RUN_ID_RE.match('visdrone/cascade_rcnn+srtod-t6')
    assert m.groups() == ('visdrone', 'cascade_rcnn', '+srtod-t6', 't6', None)  # by number too
    assert parse_run_id('visdrone/cascade_rcnn-s6') == ('visdrone', 'cascade_rcnn', None, 6)
    assert parse_run_id('aitod/rfla-s12').anchor_scale == 12
    assert parse_run_id('aitod/rfla+srtod') == ('aitod', 'rfla', '', None)
    for bad in ('visdrone/cascade_rcnn-s0', 'visdrone/cascade_rcnn-s',
                'visdrone/cascade_rcnn-s6+srtod', 'visdrone/cascade_rcnn+srtod-s6', 'visdrone/yolo-s6', 'coco/cascade_rcnn-s6'):
        with pytest.raises(InputError):
            parse_run_id(bad)
    assert run_dir('paper', 'visdrone/cascade_rcnn-s6', 0) == Path(
        'results/paper/visdrone/cascade_rcnn-s6/seed0')


def test_one_run_directory_layout(tmp_path):
    assert vocab.run_dir('smoke', 'aitod/rfla+srtod', 1) == Path(
        'results/smoke/aitod/rfla+srtod/seed1')
    assert run_dir('tiny', 'aitod/rfla', 2, root=tmp_path) == vocab.run_dir('tiny', 'aitod/rfla', 2,
                                                                              tmp_path)
    for bad in (('huge', 'aitod/rfla', 0), ('tiny', 'aitod/rfla', -1)):
        with pytest.raises(InputError):
            run_dir(*bad)


@pytest.mark.parametrize('run_id', ['../../etc/passwd', 'droneswarms/../../x', '/abs/path',
                                    'droneswarms/faster_rcnn/../../..', 'mars/faster_rcnn'])
def test_run_ids_cannot_leave_the_results_root(tmp_path, run_id, capsys):
    with pytest.raises(InputError):
        run_dir('tiny', run_id, 0, root=tmp_path)
    from srtod.cli import main
    assert main(['train', run_id, '--tier', 'tiny', '--results', str(tmp_path)]) == 2
    assert 'run id' in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------ schemas
def _choices(node, out):
    if isinstance(node, dict):
        out += [tuple(map(str, node['enum']))] if 'enum' in node else []
        out += [node['pattern']] if 'pattern' in node else []
        for value in node.values():
            _choices(value, out)
    elif isinstance(node, list):
        for value in node:
            _choices(value, out)
    return out


@pytest.mark.parametrize('path', SCHEMAS, ids=lambda p: p.name)
def test_schema_files_leave_the_choices_to_the_vocabulary(path):
    schema = yaml.safe_load(path.read_text())
    names = set(vocab.DATASETS) | set(vocab.TABLE_IDS) | set(vocab.TIERS) | set(vocab.COLUMNS)
    for choice in _choices(schema, []):
        assert not names & set(choice if isinstance(choice, tuple) else
                               re.findall(r'[A-Za-z0-9_]+', choice)), (path.name, choice)
    filled = vocab.fill_schema(schema)
    assert filled != schema and 'x-vocab' in json.dumps(schema)


def test_filled_schemas_hold_the_vocabulary():
    registry_schema = vocab.fill_schema(yaml.safe_load(SCHEMAS[0].read_text()))
    assert registry_schema['$defs']['dataset']['enum'] == list(vocab.DATASETS)
    assert registry_schema['$defs']['column']['enum'] == list(vocab.COLUMNS)
    assert registry_schema['properties']['tables']['propertyNames']['enum'] == list(vocab.TABLE_IDS)
    run_ids = registry_schema['properties']['runs']['propertyNames']
    assert run_ids['pattern'] == vocab.RUN_ID_RE.pattern
    config_schema = vocab.fill_schema(yaml.safe_load(SCHEMAS[1].read_text()))
    props = config_schema['properties']
    assert props['tier']['enum'] == list(vocab.TIERS)
    assert props['tables']['items']['enum'] == ['all', *vocab.TABLE_IDS]
    assert list(props['data']['properties']) == list(vocab.DATASETS)
    assert 'VisDrone2019-DET-val/images' in props['data']['properties']['visdrone']['description']
    with pytest.raises(KeyError):
        vocab.fill_schema({'x-vocab': 'colours'})


# ------------------------------------------------------------------------------ registry contracts
def _registry_copy(tmp_path, edit):
    data = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    edit(data)
    path = tmp_path / 'experiments.yaml'
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _control(data, published=None):
    data['runs']['visdrone/cascade_rcnn-s6'] = {'version': 1, 'baseline': 'visdrone/cascade_rcnn',
                                                'decisions': ['RPN anchor scale 6 (control).']}
    data['tables']['C1'] = {
        'title': 'Anchor-scale control', 'source': 'this project (control)', 'dataset': 'visdrone',
        'columns': ['AP', 'APvt'],
        'rows': [{'label': 'Cascade R-CNN, scale 6', 'run': 'visdrone/cascade_rcnn-s6',
                  'published': {} if published is None else published},
                 {'label': 'Cascade R-CNN', 'run': 'visdrone/cascade_rcnn', 'published': {}}]}


def test_control_table_and_anchor_scale_run(tmp_path):
    registry = load_registry(_registry_copy(tmp_path, _control))
    run = registry.get_run('visdrone/cascade_rcnn-s6')
    assert (run.dataset, run.detector, run.variant, run.anchor_scale) == (
        'visdrone', 'cascade_rcnn', None, 6)
    assert not run.srtod
    assert run.config_path == ROOT / 'configs/mmdet/runs/visdrone/cascade_rcnn-s6.py'
    rows = registry.get_table('C1').rows
    assert [r.published for r in rows] == [{'AP': None, 'APvt': None}] * 2
    assert registry.run_ids(['C1']) == ['visdrone/cascade_rcnn-s6', 'visdrone/cascade_rcnn']
    # a paper table may not leave its numbers out
    def empty_t2(data):
        data['tables']['T2']['rows'][0]['published'] = {}
    with pytest.raises(InputError, match=r"table T2 row 'Faster R-CNN': published columns"):
        load_registry(_registry_copy(tmp_path, empty_t2))
    # C8 is not a table id of the vocabulary
    with pytest.raises(InputError, match="at tables: 'C8' is not one of"):
        load_registry(_registry_copy(tmp_path, lambda d: (
            _control(d), d['tables'].__setitem__('C8', d['tables'].pop('C1')))))


def test_dataset_gpus(tmp_path):
    def gpus(data):
        data['datasets']['visdrone']['gpus'] = 2
    registry = load_registry(_registry_copy(tmp_path, gpus))
    assert registry.dataset_gpus('visdrone') == 2 and registry.dataset_gpus('aitod') == 1
    with pytest.raises(InputError, match='unknown dataset'):
        registry.dataset_gpus('visdrone2019')
    for bad in (0, 'two'):
        with pytest.raises(InputError, match='datasets/visdrone/gpus'):
            load_registry(_registry_copy(
                tmp_path, lambda d: d['datasets']['visdrone'].__setitem__('gpus', bad)))


# ------------------------------------------------------------------------------ a new dataset
NEW_DATASET = '''\
    DatasetSpec(
        name='fogcity', title='FogCity', converter='coco',
        paper_sources={'train': ('ann/train.json', 'img/train'),
                       'test': ('ann/test.json', 'img/test')},
        image_size=(640, 480), paper_images=(100, 40), classes=('drone', 'bird'),
        synthetic=SynthProfile(sky_fraction=0.5, ground_band=0.5, mean_size=6.0, size_sigma=0.3,
                               min_size=2.0, max_size=20.0, mean_objects=5),
        source='made up by tests/test_vocab.py'),
'''
DATASET_CONFIG = '''\
_base_ = './droneswarms.py'
data_root = 'data/paper/fogcity/'
metainfo = dict(classes=('drone', 'bird'))
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test.json')
test_evaluator = val_evaluator
'''
RUN_CONFIG = '''\
_base_ = ['../../models/{model}.py', '../../datasets/fogcity.py',
          '../../schedules/sgd_12e_rfla.py', '../../default_runtime.py']
'''
DETECTOR_CONFIG = '''\
_base_ = './faster_rcnn.py'
model = dict(rpn_head=dict(anchor_generator=dict(ratios=[1.0])))
'''
CHECK = '''\
import json, sys
from pathlib import Path
from srtod import workflow as wf
from srtod.registry import load_registry, resolve_config
from srtod.registry_commands import make_plan
run_id = sys.argv[1]
registry = load_registry()
run = registry.get_run(run_id)
out = dict(dataset=run.dataset, detector=run.detector, table=registry.get_table('C9').dataset)
for tier in ('smoke', 'tiny', 'paper'):
    cfg = resolve_config(run_id, tier, registry=registry)
    out[tier] = dict(data_root=cfg.data_root, classes=list(cfg.metainfo['classes']),
                     num_classes=cfg.model.roi_head.bbox_head.num_classes,
                     ratios=list(cfg.model.rpn_head.anchor_generator.ratios))
wf.check_config_keys({'tier': 'paper', 'tables': ['C9'], 'data': {'fogcity': 'rel'}},
                     sys.argv[2])
runs = wf.select_runs(registry, ['C9'])
out['datasets'] = wf.datasets_of(registry, runs)
for split in wf.PAPER_SOURCES['fogcity'].values():
    Path('rel', split[0]).parent.mkdir(parents=True, exist_ok=True)
    Path('rel', split[0]).write_text('{}')
    Path('rel', split[1]).mkdir(parents=True, exist_ok=True)
sources = wf.paper_sources({'fogcity': 'rel'}, ['fogcity'])
out['convert'] = wf.convert_options('fogcity', 'train', sources)
out['plan'] = [r['train_images'] for r in make_plan(registry, 'tiny', ['C9'], flops=False)['runs']]
print(json.dumps(out))
'''

CLI_CHECK = """\
from srtod.cli import main
assert main(['synth', 'syn', '--profile', 'fogcity', '--images', '3', '--width', '64',
             '--height', '48']) == 0
assert main(['validate', 'syn/train.json', '--images', 'syn/images']) == 0
assert main(['convert', 'fogcity', 'syn/test.json', 'conv.json', '--images', 'syn/images']) == 0
"""


def _copy_repo(dst: Path) -> Path:
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    for part in ('srtod', 'configs', 'workflow'):
        shutil.copytree(ROOT / part, dst / part, ignore=ignore)
    for name in ('Snakefile', 'pyproject.toml'):
        shutil.copy2(ROOT / name, dst / name)
    shutil.copytree(ROOT / 'profiles', dst / 'profiles')
    return dst


def _touched(copy: Path, base: Path) -> list[str]:
    """Files of ``copy`` that are new or differ from ``base``."""
    out = []
    for path in sorted(copy.rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts:
            rel = path.relative_to(copy)
            if not (base / rel).is_file() or not filecmp.cmp(path, base / rel, shallow=False):
                out.append(rel.as_posix())
    return out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def _run(repo: Path, cwd: Path, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS='1',
               PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}')
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _check(repo: Path, work: Path, run_id: str) -> dict:
    (work / 'check.py').write_text(CHECK)
    out = _run(repo, work, sys.executable, 'check.py', run_id,
               str(repo / 'workflow' / 'schemas' / 'config.schema.yaml'))
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def new_dataset(tmp_path_factory):
    """A copy of the repository with the made-up dataset ``fogcity`` and its registry rows."""
    base = _copy_repo(tmp_path_factory.mktemp('base'))  # the unchanged copy, to compare with
    repo = _copy_repo(tmp_path_factory.mktemp('repo'))
    # 1. the vocabulary: the dataset's record and its table id
    vocab_py = repo / 'srtod' / 'vocab.py'
    _edit(vocab_py, '\n)}\n\n#: Dataset names', '\n' + NEW_DATASET + ')}\n\n#: Dataset names')
    _edit(vocab_py, "'C2')", "'C2', 'C9')")
    # 2. its mmdet dataset config; 3. a run config
    (repo / 'configs/mmdet/datasets/fogcity.py').write_text(DATASET_CONFIG)
    (repo / 'configs/mmdet/runs/fogcity').mkdir()
    (repo / 'configs/mmdet/runs/fogcity/faster_rcnn.py').write_text(
        RUN_CONFIG.format(model='faster_rcnn'))
    # 4. the registry rows
    registry = repo / 'configs' / 'experiments.yaml'
    data = yaml.safe_load(registry.read_text())
    data['datasets']['fogcity'] = {'decisions': ['Made up to test the vocabulary.'], 'gpus': 2}
    data['runs']['fogcity/faster_rcnn'] = {'version': 1}
    data['tables']['C9'] = {'title': 'FogCity', 'source': 'tests/test_vocab.py',
                            'dataset': 'fogcity', 'columns': ['AP'],
                            'rows': [{'label': 'Faster R-CNN', 'run': 'fogcity/faster_rcnn',
                                      'published': {}}]}
    registry.write_text(yaml.safe_dump(data, sort_keys=False))
    return base, repo


def test_a_new_dataset_takes_four_files(new_dataset, tmp_path):
    base, repo = new_dataset
    touched = _touched(repo, base)
    assert touched == ['configs/experiments.yaml', 'configs/mmdet/datasets/fogcity.py',
                       'configs/mmdet/runs/fogcity/faster_rcnn.py', 'srtod/vocab.py']
    out = _check(repo, tmp_path, 'fogcity/faster_rcnn')
    assert out['dataset'] == out['table'] == 'fogcity' and out['datasets'] == ['fogcity']
    for tier in ('smoke', 'tiny'):  # the synthetic stand-in: one class
        assert out[tier]['data_root'] == f'data/{tier}/fogcity/' and out[tier]['num_classes'] == 1
    assert out['paper']['classes'] == ['drone', 'bird'] and out['paper']['num_classes'] == 2
    assert out['convert'].startswith('--images ') and out['convert'].endswith('img/train')
    assert out['plan'] == [6]  # the tiny tier's synthetic train split
    # srtod synth and srtod convert know it; the stand-in validates (one process: the CLI's
    # imports take seconds)
    _run(repo, tmp_path, sys.executable, '-c', CLI_CHECK)
    meta = json.loads((tmp_path / 'syn' / 'train.json').read_text())
    assert meta['info']['profile'] == 'fogcity' and meta['images']
    assert json.loads((tmp_path / 'conv.json').read_text())['images']


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason='snakemake not installed')
def test_the_workflow_plans_the_new_dataset(new_dataset, tmp_path):
    _, repo = new_dataset
    out = _run(repo, tmp_path, str(SNAKEMAKE), '-s', str(repo / 'Snakefile'), '-d', str(tmp_path),
               '-n', '-p', '--config', 'tier=tiny', 'tables=[C9]')
    assert 'srtod synth data/tiny/fogcity --profile fogcity' in out
    assert re.search(r"srtod train '?fogcity/faster_rcnn'? --tier tiny --seed 0", out)


def test_a_new_detector_takes_four_files(new_dataset, tmp_path):
    _, dataset_repo = new_dataset
    ignore = shutil.ignore_patterns('__pycache__')
    base = shutil.copytree(dataset_repo, tmp_path / 'base', ignore=ignore)  # to compare with
    repo = shutil.copytree(dataset_repo, tmp_path / 'repo', ignore=ignore)
    # 1. the vocabulary; 2. its model config; 3. a run config; 4. the registry rows
    _edit(repo / 'srtod' / 'vocab.py', "'rfla', 'nasfpn')", "'rfla', 'nasfpn', 'tinydet')")
    (repo / 'configs/mmdet/models/tinydet.py').write_text(DETECTOR_CONFIG)
    (repo / 'configs/mmdet/runs/fogcity/tinydet.py').write_text(RUN_CONFIG.format(model='tinydet'))
    registry = repo / 'configs' / 'experiments.yaml'
    data = yaml.safe_load(registry.read_text())
    data['runs']['fogcity/tinydet'] = {'version': 1}
    data['tables']['C9']['rows'].append({'label': 'TinyDet', 'run': 'fogcity/tinydet',
                                         'published': {}})
    registry.write_text(yaml.safe_dump(data, sort_keys=False))
    assert _touched(repo, base) == ['configs/experiments.yaml', 'configs/mmdet/models/tinydet.py',
                                    'configs/mmdet/runs/fogcity/tinydet.py', 'srtod/vocab.py']
    work = tmp_path / 'work'
    work.mkdir()
    out = _check(repo, work, 'fogcity/tinydet')
    assert out['detector'] == 'tinydet'
    for tier in ('smoke', 'tiny', 'paper'):
        assert out[tier]['ratios'] == [1.0]  # the detector's own setting in every tier
    # without its vocabulary entry the id is refused, naming the detectors it knows
    _edit(repo / 'srtod' / 'vocab.py', "'rfla', 'nasfpn', 'tinydet')", "'rfla', 'nasfpn')")
    proc = subprocess.run([sys.executable, '-c', 'from srtod.registry import load_registry; '
                           'load_registry()'], cwd=work, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(repo)))
    assert proc.returncode != 0 and "unknown detector 'tinydet'" in proc.stderr
