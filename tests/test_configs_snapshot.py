"""Every run's resolved paper config against the snapshot taken before the configs were rewritten
as overrides (tests/fixtures/paper_configs.json): equal, except for the fidelity changes listed in
CHANGES, each as (run ids, key path, old value, new value). Any other difference fails.

The snapshot stores each config once as plain JSON (tuples as lists), ``work_dir`` left out, with
every sub-tree that several runs share stored once under ``objects`` and referenced as
``{"$ref": id}``. Write it with ``python tests/test_configs_snapshot.py --write`` (only when a
change of the resolved configs is meant; then CHANGES starts empty again).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent / 'fixtures' / 'paper_configs.json'
#: sub-trees of at least this many characters (compact JSON) are stored once and referenced
MIN_SHARED = 120
MISSING = '<absent>'
#: an old value replaced as a whole: only its presence is checked
ANY = '<any>'

VISDRONE_AITOD_ANCHOR_BASELINES = ('visdrone/faster_rcnn', 'visdrone/cascade_rcnn',
                                   'visdrone/detectors', 'aitod/faster_rcnn',
                                   'aitod/cascade_rcnn', 'aitod/detectors')
DRONESWARMS_RETINANET = ('droneswarms/retinanet', 'droneswarms/retinanet+srtod')

# The fidelity changes of the paper tier (configs/experiments.yaml gives each reason and source).
CHANGES = [
    # Baselines at mmdet's anchor scale 8, as the authors' base models and RFLA's baselines.
    (VISDRONE_AITOD_ANCHOR_BASELINES[:3], 'model.rpn_head.anchor_generator.scales', [6], [8]),
    (VISDRONE_AITOD_ANCHOR_BASELINES[3:], 'model.rpn_head.anchor_generator.scales', [4], [8]),
    # DroneSwarms: anchor scale 2 for the one-stage detectors too (P 4.1); RetinaNet's test
    # settings as the authors' RetinaNet model.
    (DRONESWARMS_RETINANET, 'model.bbox_head.anchor_generator.octave_base_scale', 4, 2),
    (DRONESWARMS_RETINANET, 'model.test_cfg.nms_pre', 1000, 3000),
    (DRONESWARMS_RETINANET, 'model.test_cfg.max_per_img', 100, 3000),
    (('droneswarms/atss', 'droneswarms/dyhead'),
     'model.bbox_head.anchor_generator.octave_base_scale', 8, 2),
    # NAS-FPN (supplement Table 6): RetinaNet + NAS-FPN on P3-P7, as the authors' config.
    (('visdrone/nasfpn', ), 'model.type', 'CascadeRCNN', 'RetinaNet'),
    (('visdrone/nasfpn', ), 'model.data_preprocessor.pad_size_divisor', 64, 128),
    (('visdrone/nasfpn', ), 'model.neck.start_level', 0, 1),
    (('visdrone/nasfpn', ), 'model.rpn_head', ANY, MISSING),
    (('visdrone/nasfpn', ), 'model.roi_head', ANY, MISSING),
    (('visdrone/nasfpn', ), 'model.bbox_head', MISSING, dict(
        type='RetinaHead', num_classes=10, in_channels=256, stacked_convs=4, feat_channels=256,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
                        target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0))),
    (('visdrone/nasfpn', ), 'model.train_cfg', ANY, dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
                      ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False)),
    (('visdrone/nasfpn', ), 'model.test_cfg', ANY, dict(
        nms_pre=3000, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=3000)),
    # the runs whose meaning changed carry a new version (configs/experiments.yaml)
    (VISDRONE_AITOD_ANCHOR_BASELINES + DRONESWARMS_RETINANET
     + ('droneswarms/atss', 'droneswarms/dyhead', 'visdrone/nasfpn'), 'srtod_run.version', 1, 2),
]


# ------------------------------------------------------------------------------ the snapshot
def plain(cfg) -> dict:
    """A resolved config as plain JSON data (tuples become lists), without ``work_dir``."""
    data = cfg.to_dict()
    data.pop('work_dir', None)
    return json.loads(json.dumps(data, sort_keys=True))


def _compact(node) -> str:
    return json.dumps(node, sort_keys=True, separators=(',', ':'))


def pack(node, objects: dict):
    """Replace every large dict or list of ``node`` by a reference into ``objects``."""
    if isinstance(node, dict):
        node = {k: pack(v, objects) for k, v in node.items()}
    elif isinstance(node, list):
        node = [pack(v, objects) for v in node]
    else:
        return node
    text = _compact(node)
    if len(text) < MIN_SHARED:
        return node
    key = hashlib.sha1(text.encode()).hexdigest()[:12]
    objects[key] = node
    return {'$ref': key}


def unpack(node, objects: dict):
    """The inverse of :func:`pack`."""
    if isinstance(node, dict):
        if set(node) == {'$ref'}:
            return unpack(objects[node['$ref']], objects)
        return {k: unpack(v, objects) for k, v in node.items()}
    if isinstance(node, list):
        return [unpack(v, objects) for v in node]
    return node


def write_snapshot(path: Path = FIXTURE) -> None:
    """Resolve every run's paper config and write the snapshot."""
    from srtod.registry import load_registry, resolve_config

    registry = load_registry()
    objects: dict = {}
    runs = {run_id: pack(plain(resolve_config(run_id, 'paper', registry=registry)), objects)
            for run_id in registry.runs}
    about = (f'the resolved paper configs of {len(runs)} runs, written by '
             'python tests/test_configs_snapshot.py --write')
    lines = ['{', f'"about": {json.dumps(about)},', '"objects": {']
    lines += [f'{json.dumps(k)}: {_compact(v)},' for k, v in sorted(objects.items())]
    lines[-1] = lines[-1].rstrip(',')
    lines += ['},', '"runs": {']
    lines += [f'{json.dumps(k)}: {_compact(v)},' for k, v in runs.items()]
    lines[-1] = lines[-1].rstrip(',')
    lines += ['}', '}']
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')


def read_snapshot(path: Path = FIXTURE) -> dict:
    """run id -> its plain paper config as recorded."""
    data = json.loads(path.read_text(encoding='utf-8'))
    return {run_id: unpack(node, data['objects']) for run_id, node in data['runs'].items()}


# ---------------------------------------------------------------------------- comparing
def _get(data: dict, path: str):
    node = data
    for key in path.split('.'):
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


def _set(data: dict, path: str, value) -> None:
    *parents, last = path.split('.')
    node = data
    for key in parents:
        node = node[key]
    if value == MISSING:
        del node[last]
    else:
        node[last] = value


def flat_diff(a, b, prefix: str = '') -> list[str]:
    """Every key path where ``a`` and ``b`` differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += flat_diff(a.get(key, MISSING), b.get(key, MISSING), f'{prefix}{key}.')
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += flat_diff(x, y, f'{prefix}{i}.')
        return out
    return [] if a == b else [f'{prefix.rstrip(".")}: {a!r} -> {b!r}']


def expected(run_id: str, recorded: dict) -> dict:
    """The recorded config with this run's CHANGES applied (each old value checked)."""
    out = json.loads(json.dumps(recorded))
    for runs, path, old, new in CHANGES:
        if run_id not in runs:
            continue
        before = _get(out, path)
        ok = before != MISSING if old == ANY else before == old
        assert ok, f'{run_id}: snapshot has {path} = {before!r}, CHANGES says {old!r}'
        _set(out, path, json.loads(json.dumps(new)) if new != MISSING else MISSING)
    return out


@pytest.fixture(scope='module')
def recorded():
    return read_snapshot()


def test_snapshot_round_trip(recorded):
    objects: dict = {}
    for config in list(recorded.values())[:5]:
        assert unpack(pack(config, objects), objects) == config


def test_changes_name_known_runs(recorded):
    for runs, path, old, new in CHANGES:
        assert set(runs) <= set(recorded), runs
        assert old != new, path


def test_every_paper_config_as_recorded_except_the_listed_changes(recorded):
    from srtod.registry import load_registry, resolve_config

    registry = load_registry()
    # every recorded run still exists; new runs (the control table) are checked elsewhere
    assert set(recorded) <= set(registry.runs)
    failures = []
    for run_id, config in recorded.items():
        diff = flat_diff(expected(run_id, config),
                         plain(resolve_config(run_id, 'paper', registry=registry)))
        failures += [f'{run_id}: {line}' for line in diff]
    assert not failures, '\n'.join(failures[:40])


if __name__ == '__main__':
    if sys.argv[1:] != ['--write']:
        sys.exit(f'usage: python {sys.argv[0]} --write   (rewrites {FIXTURE})')
    write_snapshot()
    print(f'wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)')
