"""srtod.workflow: config normalisation, run selection, paper data checks, data staging."""
import json
import re
from pathlib import Path

import pytest
import yaml

from srtod import vocab
from srtod import workflow as wf
from srtod.errors import InputError
from srtod.registry import load_registry

SCHEMA = Path(__file__).resolve().parent.parent / 'workflow' / 'schemas' / 'config.schema.yaml'


@pytest.fixture(scope='module')
def registry():
    return load_registry()


def test_dotted_keys_and_table_strings_are_normalised():
    config = {'data.visdrone': '/d/vd', 'data.aitod': 3, 'tables': 'T1, T4', 'tier': 'paper'}
    wf.normalize_config(config)
    assert config == {'data': {'visdrone': '/d/vd', 'aitod': '3'}, 'tables': ['T1', 'T4'],
                      'tier': 'paper'}
    assert wf.normalize_config({'tables': '[S2]'})['tables'] == ['S2']
    with pytest.raises(InputError, match='not a mapping'):
        wf.normalize_config({'tier': 'smoke', 'tier.x': 1})


def test_schema_rejects_unknown_keys_and_sets_defaults():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate
    config = {}
    validate(config, str(SCHEMA))
    assert config == {'tier': 'smoke', 'tables': ['all'], 'data': {},
                      'threads': 1, 'synth_seed': 0, 'fps': 'tables'}
    assert wf.tier_defaults(config)['seeds'] == 3   # the seeds' default depends on the tier
    for bad in ({'teir': 'paper'}, {'seeds': 0}, {'data': {'visdrone': 3}}):
        with pytest.raises(WorkflowError):
            validate(dict(bad), str(SCHEMA))
    schema = yaml.safe_load(SCHEMA.read_text())
    for key, spec in schema['properties'].items():
        assert {'type', 'description'} <= set(spec), key
        assert ('default' in spec) != ('x-default' in spec), key   # x-default: set later


def test_seeds_default_per_tier_and_explicit_seeds_win():
    from snakemake.utils import validate
    assert set(vocab.TIER_SEEDS) == set(vocab.TIERS)
    for tier, seeds in (('smoke', 3), ('tiny', 1), ('paper', 1), ('check', 1)):
        config = {'tier': tier}
        wf.normalize_config(config)
        wf.check_config_keys(config, SCHEMA)
        validate(config, str(SCHEMA))
        assert wf.tier_defaults(config)['seeds'] == seeds, tier
    for tier in vocab.TIERS:   # --config seeds=N wins, whatever the tier
        assert wf.tier_defaults({'tier': tier, 'seeds': 2})['seeds'] == 2


def test_choices_come_from_the_vocabulary():
    # the schema file leaves them out; check_config_keys fills them from srtod.vocab
    for good in ({'tier': 'tiny', 'tables': ['all', 'C1'], 'data': {'dota': '/d'}},
                 {'tables': list(vocab.TABLE_IDS)}, {'tier': vocab.TIERS[-1]}):
        wf.check_config_keys(good, SCHEMA)
    for bad, message in (({'tier': 'huge'}, "--config tier: 'huge' is not one of"),
                         ({'tables': ['T9']}, "--config tables.0: 'T9' is not one of"),
                         ({'seeds': 0}, '--config seeds: 0 is less than the minimum of 1'),
                         ({'data': {'visdrone2019': '/x'}}, "unknown dataset in data"),
                         ({'data': {'visdrone': 3}}, "--config data.visdrone: 3 is not of type")):
        with pytest.raises(InputError, match=re.escape(message)):
            wf.check_config_keys(bad, SCHEMA)


def test_unknown_keys_suggest_the_key_meant():
    wf.check_config_keys({'tier': 'tiny', 'data': {'aitod': '/a'}}, SCHEMA)
    with pytest.raises(InputError, match=r"unknown config key 'seed' \(did you mean seeds\?\)"):
        wf.check_config_keys({'seed': 2}, SCHEMA)
    with pytest.raises(InputError, match="unknown dataset in data 'visdrone2019'"):
        wf.check_config_keys({'data': {'visdrone2019': '/v'}}, SCHEMA)


def test_table_selection(registry):
    assert wf.select_tables(registry, ['all']) == list(registry.tables)
    assert wf.select_tables(registry, []) == list(registry.tables)
    assert wf.select_tables(registry, ['S1', 'T4']) == ['T4', 'S1']  # registry order
    with pytest.raises(InputError, match="unknown table 'T8'"):
        wf.select_tables(registry, ['T8'])


def test_runs_are_unique_and_include_baselines(registry):
    every = wf.select_runs(registry, list(registry.tables))
    assert len(every) == len(set(every)) == len(registry.runs) == 57  # 51 paper runs + 6 controls
    t5 = wf.select_runs(registry, ['T5'])
    # the three threshold variants, and their baseline for the gain (not a row of T5)
    assert t5 == ['visdrone/cascade_rcnn+srtod-thr_none', 'visdrone/cascade_rcnn',
                  'visdrone/cascade_rcnn+srtod-thr_fixed', 'visdrone/cascade_rcnn+srtod']
    s4 = wf.select_runs(registry, ['S4'])
    assert all(r.startswith('dota/') for r in s4) and len(s4) == 3  # CZ Det is external
    assert wf.datasets_of(registry, wf.select_runs(registry, ['T1', 'T5'])) == [
        'droneswarms', 'visdrone']
    assert wf.fps_runs(registry, ['T1', 'S5'], every, 'tables') == [
        'aitod/detectors', 'aitod/detectors+srtod-pdm', 'aitod/detectors+srtod']
    assert wf.fps_runs(registry, ['T1'], every, 'tables') == []


def test_wildcard_alternation_matches_whole_run_ids(registry):
    pattern = re.compile(f'^({wf.alternation(registry.runs)})$')
    assert pattern.match('droneswarms/cascade_rcnn+srtod-rh')
    assert not pattern.match('droneswarms/cascade_rcnnXsrtod')  # '+' is escaped
    assert not pattern.match('droneswarms/cascade_rcnn+srtod-rh/seed0')


def _release(root, dataset):
    for split in wf.PAPER_SOURCES[dataset].values():
        for rel in split:
            path = root / rel
            if rel.endswith('.json'):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text('{}')
            else:
                path.mkdir(parents=True, exist_ok=True)


def test_paper_sources_checked_before_anything_runs(tmp_path):
    _release(tmp_path / 'vd', 'visdrone')
    (tmp_path / 'at').mkdir()
    sources = wf.paper_sources({'visdrone': str(tmp_path / 'vd')}, ['visdrone'])
    assert sources['visdrone']['test'][1] == str(tmp_path / 'vd/VisDrone2019-DET-val/images')
    with pytest.raises(InputError) as err:
        wf.paper_sources({'visdrone': str(tmp_path / 'vd'), 'aitod': str(tmp_path / 'at')},
                         ['droneswarms', 'visdrone', 'aitod'])
    message = str(err.value)
    assert 'droneswarms: no path given; add "data={droneswarms: PATH}" to --config' in message
    assert 'aitod (train)' in message and 'aitod_trainval_v1.json not found' in message
    assert 'visdrone' not in message


def test_stage_split_links_images_and_prefixes_names(tmp_path):
    images = tmp_path / 'release' / 'val' / 'images'
    images.mkdir(parents=True)
    raw = tmp_path / 'raw.json'
    raw.write_text(json.dumps({'images': [{'id': 1, 'file_name': 'a.jpg'}],
                               'annotations': [], 'categories': []}))
    out = tmp_path / 'data' / 'test.json'
    assert wf.stage_split(raw, out, 'test', images) == 1
    assert json.loads(out.read_text())['images'][0]['file_name'] == 'test/a.jpg'
    link = tmp_path / 'data' / 'images' / 'test'
    assert link.is_symlink() and link.resolve() == images.resolve()
    wf.stage_split(raw, out, 'test', images)  # idempotent
    other = tmp_path / 'other'
    other.mkdir()
    with pytest.raises(InputError, match='expected a link to'):
        wf.stage_split(raw, out, 'test', other)
    wf.stage_split(raw, tmp_path / 'dota.json', 'train', None)  # DOTA: names kept
    assert json.loads((tmp_path / 'dota.json').read_text())['images'][0]['file_name'] == 'a.jpg'


def test_synth_options_follow_the_tier_spec():
    from srtod.tiers import tier_data_spec
    spec = tier_data_spec('tiny')
    opts = wf.synth_options('tiny').split()
    assert opts[opts.index('--images') + 1] == str(spec['images'])
    assert float(opts[opts.index('--test-fraction') + 1]) * spec['images'] == pytest.approx(
        spec['test_images'])
    assert opts[opts.index('--width') + 1] == str(spec['width'])


def test_tier_resources():
    assert wf.resources('paper', 'train') == {'mem_mb': 32000, 'runtime': 2880}
    assert tuple(wf.TIER_RESOURCES) == vocab.TIERS
    for tier in vocab.TIERS:
        assert set(wf.TIER_RESOURCES[tier]) == {'data', 'train', 'test', 'fps'}


def test_convert_options_follow_the_dataset_converter(tmp_path):
    sources = {d: {s: (f'/r/{d}/{s}.src', f'/r/{d} {s}/images') for s in ('train', 'test')}
               for d in vocab.DATASETS}
    assert wf.convert_options('dota', 'train', sources) == (
        '--dota-version v1 --patch-size 1024 --overlap 200')
    assert wf.convert_options('aitod', 'test', sources) == "--images '/r/aitod test/images'"
    assert wf.convert_options('visdrone', 'test', sources) == ''
    assert wf.stage_images('dota', 'train', sources) == ''
    assert wf.stage_images('visdrone', 'train', sources) == "--images '/r/visdrone train/images'"


def test_control_tables_bring_the_runs_their_split_needs(registry):
    """C1 splits each VisDrone SR-TOD gain: its controls, their baselines (scale 8) and the
    SR-TOD runs (scale 6) are all scheduled by `tables=[C1]` alone."""
    runs = wf.select_runs(registry, ['C1'])
    for detector in ('faster_rcnn', 'cascade_rcnn', 'detectors'):
        for run_id in (f'visdrone/{detector}-s6', f'visdrone/{detector}',
                       f'visdrone/{detector}+srtod'):
            assert run_id in runs
    assert len(runs) == 9
    assert all(r.startswith('visdrone/') for r in runs)
