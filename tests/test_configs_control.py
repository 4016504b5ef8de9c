"""The control table C1: each anchor-based VisDrone2019 / AI-TOD baseline at SR-TOD's RPN anchor
scale (``<dataset>/<detector>-s<k>``). Its configs differ from the baseline by the anchor scale
only, and the SR-TOD run is that config plus SR-TOD. Its registry entries are still commented out
in configs/experiments.yaml (lines starting with ``#PENDING``) until the registry parses ``-s<k>``
run ids; these tests read them with the prefix removed."""
import copy
import types
from pathlib import Path

import pytest
import yaml

from srtod.registry import DEFAULT_REGISTRY, RUN_CONFIG_DIR, load_registry, resolve_config
from srtod.tiers import apply_tier

registry = load_registry()
SRTOD_ANCHOR_SCALE = {'visdrone': 6, 'aitod': 4}
PENDING = '#PENDING'


def _with_pending() -> dict:
    lines = DEFAULT_REGISTRY.read_text(encoding='utf-8').splitlines()
    return yaml.safe_load('\n'.join(l[len(PENDING):] if l.startswith(PENDING) else l
                                    for l in lines))


PENDING_DATA = _with_pending()
C1_RUNS = [row['run'] for row in PENDING_DATA['tables']['C1']['rows']]


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


def test_pending_block_is_complete():
    """C1 lists every anchor-based VisDrone / AI-TOD host of an SR-TOD run, nothing else; its runs
    are defined with their baseline, and DroneSwarms records 2 GPUs."""
    hosts = set()
    for run in registry.runs.values():
        if run.srtod and run.dataset in SRTOD_ANCHOR_SCALE and run.detector != 'rfla':
            hosts.add(f'{run.baseline}-s{SRTOD_ANCHOR_SCALE[run.dataset]}')
    assert set(C1_RUNS) == hosts and len(C1_RUNS) == 6
    table = PENDING_DATA['tables']['C1']
    assert set(table['dataset']) == set(SRTOD_ANCHOR_SCALE)
    for row in table['rows']:
        assert set(row['published']) == set(table['columns'])
        assert all(v is None for v in row['published'].values())  # nothing is published
    for run_id in C1_RUNS:
        entry = PENDING_DATA['runs'][run_id]
        assert entry['baseline'] == run_id.rsplit('-s', 1)[0]
        assert entry['baseline'] in registry.runs
        assert (RUN_CONFIG_DIR / f'{run_id}.py').is_file()
    assert PENDING_DATA['datasets']['droneswarms']['gpus'] == 2
    # the rest of the file is what the registry loads today
    assert len(PENDING_DATA['runs']) == len(registry.runs) + len(C1_RUNS)


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
