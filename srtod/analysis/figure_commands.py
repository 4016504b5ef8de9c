"""``srtod figures`` and ``srtod claims``: the commands the figures rules call.

``srtod figures RUN_ID --tier T [--seed S]`` loads ``results/<tier>/<run id>/seed<S>/checkpoint.pth``,
runs it on test images and writes, under ``reports/<tier>/figures/<run id>/``, the paper's
Fig. 1, 3 and 4 as PNGs, and to ``results/<tier>/<run id>/seed<S>/`` the measured separation
(``separation.json``) and ``figure_panel.npz`` (the crop that supplement Fig. 1 reuses).
separation.json's ``mechanism`` is copied from that seed's metrics.json, where ``srtod test``
measured it on the whole test split (srtod.engine.evaluate): one measurement, so runs.csv and
separation.json cannot disagree, and the figures pass does not pay for it a second time.
``srtod figures --tier T --datasets RUN_ID ...`` draws supplement Fig. 1 from those runs' panels.
``srtod claims --tier T`` writes ``reports/<tier>/claims.md`` (srtod.analysis.claims).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from srtod.errors import InputError
from srtod.io import atomic_open, write_json
from srtod.vocab import DATASETS, TIERS

#: The files ``srtod figures RUN_ID`` writes in ``reports/<tier>/figures/<run id>/``.
FIGURE_FILES = ('fig1_difference_map.png', 'fig3_pixel_vs_highfreq.png',
                'fig4_dgfe_features.png')
#: Beside separation.json: the arrays of the run's supplement-Fig. 1 column.
PANEL_FILE = 'figure_panel.npz'
DATASETS_FIGURE = 'difference_maps_datasets.png'
#: The training seed whose weights the figures rule draws (the panels the reports show).
FIGURES_SEED = 0
HF_CUTOFF = 1 / 32


def figures_dir(tier: str, run_id: str | None = None, reports_root='reports') -> Path:
    """``reports/<tier>/figures[/<run id>]``."""
    base = Path(reports_root) / tier / 'figures'
    return base / run_id if run_id else base


def _run_dir(tier: str, run_id: str, seed: int) -> Path:
    from srtod.registry import run_dir
    return Path(run_dir(tier, run_id, seed))


def dataset_panel_runs(run_ids) -> list[str]:
    """One SR-TOD run per dataset for supplement Fig. 1 (the paper's default variant first).

    Preference per dataset: ``<dataset>/cascade_rcnn+srtod`` (the host of the paper's
    ablations and figures), then any plain ``+srtod`` run, then any SR-TOD variant.
    """
    chosen = {}
    for run_id in sorted(r for r in run_ids if '+srtod' in r):
        dataset, model = run_id.split('/', 1)
        rank = 0 if model == 'cascade_rcnn+srtod' else 1 if model.endswith('+srtod') else 2
        if dataset not in chosen or rank < chosen[dataset][0]:
            chosen[dataset] = (rank, run_id)
    return [chosen[d][1] for d in sorted(chosen, key=lambda d: (DATASETS.index(d)
                                                                  if d in DATASETS else 9, d))]


def _threshold_summary(train: dict) -> dict:
    """t at the start and end of training; ``moved``: by at least 0.1/255 (as claims.md)."""
    thr = train.get('threshold') if isinstance(train.get('threshold'), dict) else {}
    init, final = thr.get('init'), thr.get('final')
    from srtod.analysis.claims import THRESHOLD_MOVE

    out = dict(init=init, final=final, changed=None, moved=None, change=None, change_255=None)
    if init is not None and final is not None:
        change = float(final) - float(init)
        out.update(changed=bool(change != 0.0), moved=bool(abs(change) >= THRESHOLD_MOVE),
                   change=change, change_255=change * 255.0,
                   relative_change=(change / float(init) if init else None))
    return out


def _placeholder(path: Path, text: str) -> None:
    from srtod.analysis.figures import _plt, _save
    fig = _plt().figure(figsize=(6, 2))
    fig.text(0.5, 0.5, text, ha='center', va='center', wrap=True)
    _save(fig, path)


def _read_train(tier: str, run_id: str, seed: int) -> dict:
    """train.json of the run, or an InputError telling to train it first."""
    path = _run_dir(tier, run_id, seed) / 'train.json'
    if not path.is_file():
        raise InputError('train.json not found; train the run first (srtod train '
                         f'{run_id} --tier {tier})', path=path)
    return json.loads(path.read_text(encoding='utf-8'))


def _write_failed(result: dict, train: dict, out_dir: Path, rdir: Path) -> dict:
    """A run whose training failed: placeholder figures, a failed panel and separation.json."""
    reason = (train.get('failure') or {}).get('reason', 'unknown reason')
    result.update(status='failed', failure=train.get('failure'))
    for name in FIGURE_FILES:
        _placeholder(out_dir / name, f'{result["run_id"]}: training failed ({reason}); no figure')
    with atomic_open(rdir / PANEL_FILE, 'wb') as f:
        np.savez_compressed(f, failed=np.array(True))
    write_json(rdir / 'separation.json', result)
    return result


def _load_models(run, tier: str, seed: int, device: str):
    """(config, SR-TOD model, baseline model or None when its training is absent or failed)."""
    from srtod.analysis import figures as F
    from srtod.registry import resolve_config

    cfg = resolve_config(run.run_id, tier, seed)
    model = F.build_model(cfg, _run_dir(tier, run.run_id, seed) / 'checkpoint.pth', device)
    if not run.baseline:
        return cfg, model, None
    bdir = _run_dir(tier, run.baseline, seed)
    btrain = bdir / 'train.json'
    if not ((bdir / 'checkpoint.pth').is_file() and btrain.is_file()) or json.loads(
            btrain.read_text(encoding='utf-8')).get('status') == 'failed':
        return cfg, model, None
    return cfg, model, F.build_model(resolve_config(run.baseline, tier, seed),
                                     bdir / 'checkpoint.pth', device)


class _Measurements:
    """Pools the separation of D (pixel, high-frequency, learning-free references), the P2
    feature contrast and the images with the most tiny objects over the test images."""

    def __init__(self, keep: int):
        from srtod.analysis.separation import SeparationAccumulator
        self._acc = SeparationAccumulator
        self.keep = keep
        self.diff = self.highfreq = None
        self.reference: dict = {}
        self.contrast = {'p2_before': [], 'p2_after': [], 'baseline_p2': []}
        self.kept: list = []   # (tiny objects, ImageMaps), most first

    def add(self, m) -> None:
        from srtod.analysis import figures as F
        from srtod.analysis.separation import feature_contrast, reference_maps
        if self.diff is None:
            self.diff, self.highfreq = self._acc(m.threshold), self._acc(None)
        self.diff.add(m.diff_map, m.boxes, m.areas, m.ignore_boxes)
        if m.diff_map_hf is not None:
            self.highfreq.add(m.diff_map_hf, m.boxes, m.areas, m.ignore_boxes)
        for name, ref in reference_maps(m.image).items():
            self.reference.setdefault(name, self._acc(None)).add(
                ref, m.boxes, m.areas, m.ignore_boxes)
        for key, feat in (('p2_before', m.feat), ('p2_after', m.feat_enhanced),
                          ('baseline_p2', m.baseline_feat)):
            if feat is not None and len(m.boxes):
                self.contrast[key].append(feature_contrast(feat, m.boxes, m.stride))
        self.kept = sorted(self.kept + [(int(np.sum(m.areas < F.TINY_AREA)), m)],
                           key=lambda x: -x[0])[:self.keep]

    def feature_contrast(self) -> dict:
        """Mean over images of (inside / outside), per feature map; None without images."""
        def ratio(pairs):
            pairs = [(i, o) for i, o in pairs if math.isfinite(i) and math.isfinite(o) and o > 0]
            return None if not pairs else float(np.mean([i / o for i, o in pairs]))
        return {k: ratio(v) for k, v in self.contrast.items()}


def _measure(extractor, count: int, keep: int) -> _Measurements:
    found = _Measurements(keep)
    for index in range(count):
        found.add(extractor(index))
    return found


def _draw(found: _Measurements, out_dir: Path, rdir: Path, run_id: str, label: str,
          crop: int) -> float | None:
    """Fig. 1, 3 and 4 and the run's panel (figure_panel.npz); returns t of the model."""
    from srtod.analysis import figures as F
    best = found.kept[0][1]
    box = F.choose_crop(best.boxes, best.areas, *best.diff_map.shape, crop)
    F.plot_fig1(best, box, out_dir / FIGURE_FILES[0], f'Fig. 1 - {label}')
    F.plot_fig3(best, box, out_dir / FIGURE_FILES[1], HF_CUTOFF, f'Fig. 3 - {label}')
    F.plot_fig4([(m, F.choose_crop(m.boxes, m.areas, *m.diff_map.shape, crop))
                 for _, m in found.kept], out_dir / FIGURE_FILES[2], f'Fig. 4 - {label}')
    panel = F.crop_panel(best, box, run_id.split('/')[0])
    with atomic_open(rdir / PANEL_FILE, 'wb') as f:
        np.savez_compressed(f, **{k: np.asarray(v) for k, v in panel.items()})
    return best.threshold


SEPARATION_METHOD = (
    'AUC: exact Mann-Whitney AUC of D inside GT boxes of a size bucket vs outside all GT boxes, '
    'pooled over the first `images` test images at network input resolution; hit_rate: share '
    'of objects whose box holds a pixel with D > t; separation_reference: the same for '
    'learning-free maps (constant: |I - mean colour|, local_contrast: |I - 9x9 box mean|); '
    'feature_contrast: mean over images of mean|P2| inside GT boxes / outside; mechanism: '
    'PSNR of the reconstruction and of the per-image mean colour, and the AUC of D and of the '
    'map the mean-colour reconstruction gives, per size bucket (srtod.analysis.mechanism), on '
    'every test image, copied from metrics.json of the same seed (srtod test).')


def read_mechanism(tier: str, run_id: str, seed: int) -> dict | None:
    """The mechanism ``srtod test`` wrote into metrics.json of a seed; None without one.

    Raises:
        InputError: metrics.json is not a JSON object, or its ``mechanism`` not an object.
    """
    from srtod.analysis.collect import read_result
    path = _run_dir(tier, run_id, seed) / 'metrics.json'
    metrics = read_result(path) or {}
    mechanism = metrics.get('mechanism')
    if mechanism is not None and not isinstance(mechanism, dict):
        raise InputError('expected `mechanism` to be an object (srtod test writes it) or absent',
                         path=path)
    return mechanism


def make_figures(run_id: str, tier: str, seed: int = 0, images: int = 100,
                 figure_images: int = 3, crop: int = 128, device: str | None = None,
                 reports_root='reports') -> dict:
    """Figures and separation of one SR-TOD run (the body of ``srtod figures RUN_ID``).

    Args:
        run_id: an SR-TOD run id (with ``+srtod``).
        tier: the tier.
        seed: the training seed whose checkpoint is used.
        images: how many test images (the first ones) the separation pools; all when fewer.
        figure_images: how many images Fig. 4 shows (those with the most tiny objects).
        crop: side of the zoomed crop, input pixels.
        device: torch device; default cuda when available, else cpu.
        reports_root: the folder holding ``<tier>/figures``.

    Returns:
        The separation.json object; its ``mechanism`` is that of metrics.json of the same seed
        (None when it has none: test the run first, ``srtod test``).
    """
    import torch

    from srtod.analysis import figures as F
    from srtod.registry import load_registry

    run = load_registry().get_run(run_id)
    if '+srtod' not in run_id:
        raise InputError(f'{run_id} is not an SR-TOD run; figures need a run id with +srtod')
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    rdir, out_dir = _run_dir(tier, run_id, seed), figures_dir(tier, run_id, reports_root)
    train = _read_train(tier, run_id, seed)
    result = dict(run_id=run_id, tier=tier, seed=seed, status='ok',
                  threshold=_threshold_summary(train),
                  figures=[str(out_dir / f) for f in FIGURE_FILES])
    if train.get('status') == 'failed':
        return _write_failed(result, train, out_dir, rdir)
    cfg, model, baseline_model = _load_models(run, tier, seed, device)
    extractor = F.MapExtractor(model, F.build_test_dataset(cfg), baseline_model,
                               hf_cutoff=HF_CUTOFF)
    count = min(images, len(extractor))
    if count == 0:
        raise InputError(f'the test set of {run_id} ({tier}) has no images')
    found = _measure(extractor, count, figure_images)
    threshold = _draw(found, out_dir, rdir, run_id, f'{run_id} ({tier}, seed {seed})', crop)
    result.update(
        images=count, device=device, threshold_model=threshold,
        separation=found.diff.result(),
        separation_highfreq=found.highfreq.result() if found.highfreq.images else None,
        separation_reference={name: a.result() for name, a in found.reference.items()},
        highfreq_cutoff=HF_CUTOFF, baseline=run.baseline if baseline_model else None,
        feature_contrast=found.feature_contrast(),
        mechanism=read_mechanism(tier, run_id, seed), method=SEPARATION_METHOD)
    write_json(rdir / 'separation.json', result)
    return result


def make_dataset_figure(tier: str, run_ids, reports_root='reports', seed: int = 0) -> Path:
    """Supplement Fig. 1 from the panels of ``run_ids`` (written by ``make_figures``)."""
    from srtod.analysis.figures import plot_datasets

    panels = []
    for run_id in run_ids:
        path = _run_dir(tier, run_id, seed) / PANEL_FILE
        if not path.is_file():
            raise InputError(f'no panel for {run_id}; run `srtod figures {run_id} --tier '
                             f'{tier}` first', path=path)
        with np.load(path) as data:
            if 'failed' in data:
                continue
            panels.append(dict(label=f'{run_id}', image=data['image'],
                               diff_map=data['diff_map'], boxes=data['boxes']))
    out = figures_dir(tier, None, reports_root) / DATASETS_FIGURE
    if not panels:
        _placeholder(out, 'supplement Fig. 1: no trained SR-TOD run in this tier')
        return out
    return plot_datasets(panels, out, f'Supplement Fig. 1 - difference maps across datasets '
                                      f'({tier} tier)')


def _figures(args) -> int:
    if args.datasets:
        run_ids = args.run_ids
        if not run_ids:
            from srtod.registry import load_registry
            run_ids = dataset_panel_runs(load_registry().runs)
        print(make_dataset_figure(args.tier, run_ids))
        return 0
    if len(args.run_ids) != 1:
        raise InputError('expected exactly one RUN_ID (or --datasets RUN_ID ...)')
    result = make_figures(args.run_ids[0], args.tier, args.seed, images=args.images,
                          figure_images=args.figure_images, crop=args.crop, device=args.device)
    sep = result.get('separation', {}).get('buckets', {})
    for name, b in sep.items():
        auc = 'n/a' if b['auc'] is None else f"{b['auc']:.3f}"
        hit = 'n/a' if b['hit_rate'] is None else f"{b['hit_rate']:.3f}"
        print(f'{name:10s} objects {b["objects"]:6d}  AUC {auc}  hit rate {hit}')
    mech = result.get('mechanism') or {}
    if not mech and result.get('status') == 'ok':
        print('mechanism: none in metrics.json of this seed; run `srtod test` first')
    if mech:
        from srtod.analysis.format import fmt
        print(f'reconstruction PSNR {fmt(mech["rec_psnr"], 2)} dB, mean colour '
              f'{fmt(mech["rec_psnr_constant"], 2)} dB; AUC very tiny D '
              f'{fmt(mech["auc_very_tiny"], 3)}, constant map '
              f'{fmt(mech["auc_very_tiny_constant"], 3)}')
    return 0


def _claims(args) -> int:
    from srtod.analysis.claims import write_claims
    print(write_claims(args.tier, runs_csv=args.runs, out=args.out, n=args.bootstrap))
    return 0


def add_commands(subparsers) -> None:
    """Add ``figures`` and ``claims`` to the ``srtod`` command."""
    p = subparsers.add_parser(
        'figures', help='difference-map figures and separation of an SR-TOD run',
        description='Paper Fig. 1, 3, 4 of a trained SR-TOD run (reports/<tier>/figures/<run id>/) '
                    'and the measured separation of D (results/.../separation.json); with '
                    '--datasets, supplement Fig. 1 across runs.')
    p.add_argument('run_ids', nargs='*', metavar='RUN_ID')
    p.add_argument('--tier', required=True, choices=TIERS)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--images', type=int, default=100,
                   help='test images pooled for the separation (default 100)')
    p.add_argument('--figure-images', type=int, default=3, help='images in Fig. 4 (default 3)')
    p.add_argument('--crop', type=int, default=128, help='zoomed crop side, pixels (default 128)')
    p.add_argument('--device', default=None, help='torch device (default cuda if available)')
    p.add_argument('--datasets', action='store_true',
                   help='draw supplement Fig. 1 from the panels of the given runs')
    p.set_defaults(func=_figures)
    c = subparsers.add_parser(
        'claims', help="the paper's claims with this run's evidence (reports/<tier>/claims.md)")
    c.add_argument('--tier', required=True, choices=TIERS)
    c.add_argument('--runs', default=None, help='runs.csv (default results/<tier>/runs.csv)')
    c.add_argument('--out', default=None, help='output (default reports/<tier>/claims.md)')
    c.add_argument('--bootstrap', type=int, default=1000, help='bootstrap resamples (1000)')
    c.set_defaults(func=_claims)


__all__ = ['FIGURE_FILES', 'PANEL_FILE', 'DATASETS_FIGURE', 'FIGURES_SEED', 'figures_dir',
           'dataset_panel_runs', 'make_figures', 'make_dataset_figure', 'add_commands']
