"""srtod.engine.provenance: what every result records, and the work_dir of a changed config."""
import json

import pytest

from srtod.engine.provenance import (claim_work_dir, config_hash, machine, machine_text,
                                     provenance, resolved_config_hash)


def test_machine_names_the_hardware_and_the_versions():
    import torch
    info = machine()
    assert info['torch'] == torch.__version__ and info['cpu']
    assert info['device'] == ('cuda' if torch.cuda.is_available() else 'cpu')
    if torch.cuda.is_available():
        assert info['gpu'] == torch.cuda.get_device_name(0) and info['cuda'] == torch.version.cuda
    else:
        assert info['gpu'] is None and info['gpus'] == 0
    if torch.backends.mkldnn.is_available():
        assert info['onednn'] and info['onednn'][0].isdigit()
    text = machine_text(info)
    assert f'torch {torch.__version__}' in text and 'oneDNN' in text
    assert machine_text(None) is None


def test_provenance_of_a_registry_run_matches_the_workflow_param():
    from srtod.registry import resolve_config
    run = 'droneswarms/cascade_rcnn+srtod-rh'
    cfg = resolve_config(run, 'tiny', 1, work_dir='/somewhere/else/train')
    prov = provenance(cfg, run)
    assert prov['run_version'] == 1 and prov['code_version'].startswith('srtod ')
    # the rule's param (resolved without a work_dir) equals what srtod train records
    assert prov['config_hash'] == resolved_config_hash(run, 'tiny', 1)
    assert resolved_config_hash(run, 'tiny', 0) != prov['config_hash']   # the seed is config
    assert provenance(cfg, None)['run_version'] is None


@pytest.mark.parametrize('tier', ['smoke', 'paper'])
def test_the_cached_hash_of_every_seed_equals_a_fresh_resolution(tier):
    from srtod.engine import provenance as prov
    from srtod.registry import resolve_config
    runs = ('visdrone/faster_rcnn', 'aitod/detectors+srtod-pdm', 'droneswarms/rfla+srtod')
    prov._SEED0_CONFIGS.clear()
    for run in runs:
        hashes = [resolved_config_hash(run, tier, seed) for seed in (2, 0, 1)]
        assert len(set(hashes)) == 3
        assert hashes == [config_hash(resolve_config(run, tier, seed)) for seed in (2, 0, 1)]
    assert len(prov._SEED0_CONFIGS) == len(runs)   # one resolution per run, not per seed


def _log():
    messages = []
    return messages, lambda text, level='info': messages.append((level, text))


def test_a_work_dir_of_another_config_is_moved_aside(tmp_path):
    work = tmp_path / 'train'
    messages, log = _log()
    claim_work_dir(work, 'aaaa', 1, log)
    (work / 'iter_2.pth').write_bytes(b'old checkpoint')
    claim_work_dir(work, 'aaaa', 1, log)        # same config and version: kept
    assert (work / 'iter_2.pth').exists() and not messages
    claim_work_dir(work, 'bbbb', 1, log)        # config changed: moved aside, nothing lost
    aside = tmp_path / 'train.stale-aaaa-v1'
    assert (aside / 'iter_2.pth').read_bytes() == b'old checkpoint'
    assert not (work / 'iter_2.pth').exists()
    assert json.loads((work / 'srtod_fingerprint.json').read_text()) == dict(
        config_hash='bbbb', run_version=1)
    claim_work_dir(work, 'bbbb', 2, log)        # version bumped: moved aside as well
    assert (tmp_path / 'train.stale-bbbb-v1').is_dir()
    assert len(messages) == 2 and all(level == 'warning' for level, _ in messages)


def test_without_restart_a_changed_work_dir_is_resumed_and_logged(tmp_path):
    work = tmp_path / 'train'
    messages, log = _log()
    claim_work_dir(work, 'aaaa', 1, log)
    (work / 'iter_2.pth').write_bytes(b'x')
    claim_work_dir(work, 'bbbb', 1, log, restart_on_change=False)
    assert (work / 'iter_2.pth').exists() and 'resuming from it' in messages[0][1]


def test_config_hash_ignores_where_to_write():
    assert config_hash(dict(a=1, work_dir='/x')) == config_hash(dict(a=1, work_dir='/y'))
    assert config_hash(dict(a=1)) != config_hash(dict(a=2))
