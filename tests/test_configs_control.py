"""The control tables C1 (VisDrone2019) and C2 (AI-TOD): each anchor-based baseline at SR-TOD's RPN
anchor scale (``<dataset>/<detector>-s<k>``). Its configs differ from the baseline by the anchor
scale only, and the SR-TOD run is that config plus SR-TOD."""
import copy
import types
from pathlib import Path

import pytest
import yaml

from srtod.registry import DEFAULT_REGISTRY, RUN_CONFIG_DIR, load_registry, resolve_config
from srtod.tiers import apply_tier

registry = load_registry()
SRTOD_ANCHOR_SCALE = {'visdrone': 6, 'aitod': 4}
CONTROL_TABLES = {'visdrone': 'C1', 'aitod': 'C2'}
DATA = yaml.safe_load(DEFAULT_REGISTRY.read_text(encoding='utf-8'))
C1_RUNS = [row['run'] for table in CONTROL_TABLES.values() for row in DATA['tables'][table]['rows']]


def _paper(run_id: str) -> dict:
    """The paper-tier config of a run, through the registry once it defines the run."""
    if run_id in registry.runs:
        cfg = resolve_config(run_id, 'paper', registry=registry)
    else:
        from mmengine.config import Config

        dataset = run_id.split('/')[0]
        run = types.SimpleNamespace(run_id=run_id, version=1)
        cfg = apply_tier(Config.fromfile(str(RUN_CONFIG_DIR / f'{run_id}.py')), run, 'paper',
                         seed=0, work_dir='unused', data_root=Path('data/paper') / dataset)
    out = copy.deepcopy(cfg.to_dict())
    for key in ('work_dir', 'srtod_run'):
        out.pop(key)
    return out


def test_control_tables_are_complete():
    """C1/C2 list every anchor-based VisDrone / AI-TOD host of an SR-TOD run, nothing else; their
    runs are defined with their baseline, and DroneSwarms records 2 GPUs."""
    hosts = set()
    for run in registry.runs.values():
        if run.srtod and run.dataset in SRTOD_ANCHOR_SCALE and run.detector != 'rfla':
            hosts.add(f'{run.baseline}-s{SRTOD_ANCHOR_SCALE[run.dataset]}')
    assert set(C1_RUNS) == hosts and len(C1_RUNS) == 6
    for dataset, table_id in CONTROL_TABLES.items():
        table = registry.tables[table_id]
        assert table.dataset == dataset
        for row in table.rows:
            assert row.run_id.startswith(f'{dataset}/')
            assert all(v is None for v in row.published.values())  # nothing is published
    for run_id in C1_RUNS:
        run = registry.get_run(run_id)
        assert run.baseline == run_id.rsplit('-s', 1)[0]
        assert run.anchor_scale == SRTOD_ANCHOR_SCALE[run.dataset]
        assert run.baseline in registry.runs
        assert (RUN_CONFIG_DIR / f'{run_id}.py').is_file()
    assert registry.dataset_gpus('droneswarms') == 2
    assert registry.dataset_gpus('visdrone') == 1


@pytest.mark.parametrize('run_id', C1_RUNS)
def test_control_is_baseline_at_srtod_anchor_scale(run_id):
    dataset = run_id.split('/')[0]
    scale = SRTOD_ANCHOR_SCALE[dataset]
    baseline_id = run_id.rsplit('-s', 1)[0]
    control, baseline = _paper(run_id), _paper(baseline_id)
    assert control['model']['rpn_head']['anchor_generator'].pop('scales') == [scale]
    assert baseline['model']['rpn_head']['anchor_generator'].pop('scales') == [8]
    assert control == baseline
    # the SR-TOD run of that detector is this control plus SR-TOD
    srtod = _paper(f'{baseline_id}+srtod')
    srtod['model'].pop('srtod')
    for cfg in (srtod['model'], srtod['model']['data_preprocessor']):
        assert cfg.pop('type').startswith('SRTOD')
    control = _paper(run_id)
    control['model'].pop('type')
    control['model']['data_preprocessor'].pop('type')
    assert srtod == control


def test_control_slim_tier_keeps_the_scale():
    from mmengine.config import Config

    run_id = C1_RUNS[0]
    run = types.SimpleNamespace(run_id=run_id, version=1)
    cfg = apply_tier(Config.fromfile(str(RUN_CONFIG_DIR / f'{run_id}.py')), run, 'tiny')
    assert cfg.model.rpn_head.anchor_generator.scales == [SRTOD_ANCHOR_SCALE['visdrone']]
    assert cfg.model.backbone.depth == 18
