"""Difference-map figures of a trained SR-TOD run: the paper's Fig. 1, 3, 4 and supplement Fig. 1.

Two halves: :class:`MapExtractor` runs a trained model on test images and returns numpy views
of what the figures show (input image as the network saw it, ground-truth boxes in that frame,
P2 before and after DGFE, reconstruction, difference map, binarised map, threshold); the
``plot_*`` functions draw them with matplotlib (Agg) into PNG files. The paper's figures are
pictures only; :mod:`srtod.analysis.separation` measures what they claim.

Feature maps are shown as the channel mean of |P2| (the paper does not say how its heatmaps
are made; this is the usual choice). In Fig. 4, P2 before and after DGFE share a colour scale
(same model, P2' = M x P2); the baseline detector's P2 has its own (another training).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srtod.errors import InputError

TINY_AREA = 16.0 ** 2   # objects below this (original pixels) pick the zoomed crop
#: figure_panel.npz with the maps of the table reports' panels (older ones hold only supplement
#: Fig. 1's image, D and boxes).
PANEL_FORMAT = 2


@dataclass
class ImageMaps:
    """What the figures show for one test image, in the network input's pixel frame.

    Attributes:
        image_id: the test image's id; ``file``: its file name.
        image: (H, W, 3) RGB in [0, 1] (the reconstruction target, unpadded).
        boxes: (K, 4) ground-truth boxes (x1, y1, x2, y2) in this frame; ``areas``: (K,) their
            areas in original-image pixels; ``ignore_boxes``: (M, 4) ignored regions.
        diff_map: (H, W) the model's D (pixel, or high-frequency for the HFD variant, or the
            predicted map for PDM); ``diff_map_pixel``, ``diff_map_hf``: the pixel and the
            high-frequency map of the same reconstruction (None without one, as for PDM);
            ``binary_map``: the binarised map (None without DGFE).
        reconstruction: (H, W, 3) or None; ``feat``, ``feat_enhanced``: (C, h, w) P2 before / after DGFE.
        threshold: t (None without filtration); ``stride``: P2's stride.
        baseline_feat: (C, h, w) the baseline detector's P2 on the same image, if computed.
    """

    image_id: int
    file: str
    image: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    ignore_boxes: np.ndarray
    diff_map: np.ndarray
    diff_map_pixel: np.ndarray | None
    diff_map_hf: np.ndarray | None
    binary_map: np.ndarray | None
    reconstruction: np.ndarray | None
    feat: np.ndarray
    feat_enhanced: np.ndarray | None
    threshold: float | None
    stride: int = 4
    baseline_feat: np.ndarray | None = field(default=None)


def build_model(cfg, checkpoint: str | Path, device: str = 'cpu'):
    """Build the detector of an mmengine config and load a checkpoint into it (eval mode).

    The checkpoint goes through mmengine's ``load_checkpoint``, which ``srtod.engine`` makes
    safe (weights only), strictly: every weight of the model must come from the checkpoint
    with its shape, or an InputError says the checkpoint does not fit the config.
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmdet.registry import MODELS

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise InputError('checkpoint not found; expected the weights `srtod train` writes',
                         path=checkpoint)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    try:   # strict: a weight left at its random init would make a wrong figure, silently
        load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True,
                        logger='silent')
    except RuntimeError as err:
        first = str(err).strip().splitlines()[1:2] or [str(err)[:200]]
        raise InputError('the checkpoint does not fit the run\'s current config (was the config '
                         f'changed after training? retrain the run): {first[0].strip()}',
                         path=checkpoint) from None
    return model.to(device).eval()


def build_test_dataset(cfg):
    """The test dataset of a config, its pipeline applied on indexing."""
    from mmengine.registry import init_default_scope
    from mmdet.registry import DATASETS

    init_default_scope(cfg.get('default_scope', 'mmdet'))
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if loader is None:
        raise InputError('the run config has no test_dataloader; expected a resolved detector '
                         'config (srtod config RUN_ID --tier T)')
    return DATASETS.build(loader['dataset'])


def _instances(info: dict, scale) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes, ignore = [], []
    for inst in info.get('instances', []):
        (ignore if inst.get('ignore_flag', 0) else boxes).append(inst['bbox'])
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    ignore = np.asarray(ignore, np.float64).reshape(-1, 4)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    sx, sy = scale
    factor = np.array([sx, sy, sx, sy])
    return boxes * factor, areas, ignore * factor


class MapExtractor:
    """Runs a trained SR-TOD model (and optionally its baseline) on test images.

    Args:
        model: the SR-TOD detector (has ``srtod_maps``), eval mode.
        dataset: the test dataset (mmdet, pipeline applied on indexing).
        baseline: the baseline detector (plain mmdet), or None.
        hf_cutoff: cut-off of the high-frequency difference map drawn in Fig. 3 (cycles/pixel).
    """

    def __init__(self, model, dataset, baseline=None, hf_cutoff: float = 1 / 32):
        if not hasattr(model, 'srtod_maps'):
            raise InputError(f'{type(model).__name__} has no srtod_maps(); expected an SR-TOD '
                             'detector (a run id with +srtod)')
        self.model, self.dataset, self.baseline, self.hf_cutoff = model, dataset, baseline, hf_cutoff

    def __len__(self) -> int:
        return len(self.dataset)

    def __call__(self, index: int) -> ImageMaps:
        """The maps of test image ``index``."""
        import torch
        from mmengine.dataset import pseudo_collate
        from srtod.models.srtod.difference_map import (highfreq_difference_map,
                                                       pixel_difference_map)

        item = self.dataset[index]
        info = self.dataset.get_data_info(index)
        with torch.no_grad():
            data = self.model.data_preprocessor(pseudo_collate([item]), False)
            target = data.get('rec_targets')
            if target is None:   # PDM: no reconstruction target; show the de-normalised input
                pre = self.model.data_preprocessor
                target = ((data['inputs'] * pre.std + pre.mean) / 255.0).clamp(0, 1)
            maps = self.model.srtod_maps(data['inputs'], data.get('rec_targets'))
            base = None
            if self.baseline is not None:
                bdata = self.baseline.data_preprocessor(pseudo_collate([item]), False)
                base = self.baseline.extract_feat(bdata['inputs'])[0][0].float().cpu().numpy()
            rec = maps.get('reconstruction')
            hf = None if rec is None else highfreq_difference_map(rec, target, self.hf_cutoff)
            pixel = None if rec is None else pixel_difference_map(rec, target)
        meta = data['data_samples'][0].metainfo
        h, w = meta['img_shape'][:2]
        boxes, areas, ignore = _instances(info, meta.get('scale_factor', (1.0, 1.0)))
        feat = maps['feat'][0].float().cpu().numpy()
        stride = int(round(target.shape[-1] / feat.shape[-1]))

        def plane(t):
            return None if t is None else t[0, 0, :h, :w].float().cpu().numpy()

        def rgb(t):
            return None if t is None else t[0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy()

        # without DGFE (RH only) srtod_maps returns P2 itself as feat_enhanced and no binary map
        enhanced = maps.get('feat_enhanced') if maps.get('binary_map') is not None else None
        thr = maps.get('threshold')
        return ImageMaps(
            image_id=int(info.get('img_id', index)), file=Path(info.get('img_path', '')).name,
            image=rgb(target), boxes=boxes, areas=areas, ignore_boxes=ignore,
            diff_map=plane(maps['diff_map']), diff_map_pixel=plane(pixel),
            diff_map_hf=plane(hf),
            binary_map=plane(maps.get('binary_map')), reconstruction=rgb(rec), feat=feat,
            feat_enhanced=None if enhanced is None else enhanced[0].float().cpu().numpy(),
            threshold=None if thr is None else float(thr), stride=stride, baseline_feat=base)


# -- crop ----------------------------------------------------------------------------------------

def choose_crop(boxes, areas, height: int, width: int, size: int = 128) -> tuple[int, int, int, int]:
    """A ``size`` x ``size`` window (x0, y0, x1, y1) holding the most tiny objects.

    Candidate windows are centred on each tiny object (area < 16^2; all objects when there is
    no tiny one); the one holding most object centres wins (ties: the first) and is re-centred
    on the mean of those centres. Without objects the window is the image centre. The window
    is clipped to the image.
    """
    size = int(min(size, height, width))
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    tiny = centres[np.asarray(areas) < TINY_AREA] if len(boxes) else centres
    pool = tiny if len(tiny) else centres
    if len(pool) == 0:
        cx, cy = width / 2, height / 2
    else:
        half = size / 2
        members = [(np.abs(pool[:, 0] - x) <= half) & (np.abs(pool[:, 1] - y) <= half)
                   for x, y in pool]
        best = members[int(np.argmax([m.sum() for m in members]))]
        cx, cy = pool[best].mean(axis=0)   # centre the window on that cluster
    x0 = int(np.clip(round(cx - size / 2), 0, width - size))
    y0 = int(np.clip(round(cy - size / 2), 0, height - size))
    return x0, y0, x0 + size, y0 + size


def heat(feat: np.ndarray) -> np.ndarray:
    """The heatmap of a (C, h, w) feature map: channel mean of |feat|."""
    return np.abs(np.asarray(feat, np.float32)).mean(axis=0)


# -- drawing -------------------------------------------------------------------------------------

def _plt():
    import matplotlib
    matplotlib.use('Agg', force=True)
    import matplotlib.pyplot as plt
    return plt


def _boxes(ax, boxes, crop, color='yellow', dashed=True):
    from matplotlib.patches import Rectangle
    x0, y0, x1, y1 = crop
    for bx0, by0, bx1, by1 in boxes:
        if bx1 < x0 or bx0 > x1 or by1 < y0 or by0 > y1:
            continue
        ax.add_patch(Rectangle((bx0 - 0.5, by0 - 0.5), bx1 - bx0, by1 - by0, fill=False,
                               lw=0.8, ec=color, ls='--' if dashed else '-'))


def _show(ax, array, crop, title, cmap=None, vmin=None, vmax=None, stride=1, boxes=None):
    x0, y0, x1, y1 = crop
    if stride == 1:
        part, extent = array[y0:y1, x0:x1], (x0 - 0.5, x1 - 0.5, y1 - 0.5, y0 - 0.5)
    else:
        fy0, fx0 = y0 // stride, x0 // stride
        fy1, fx1 = -(-y1 // stride), -(-x1 // stride)
        part = array[fy0:fy1, fx0:fx1]
        extent = (fx0 * stride - 0.5, fx1 * stride - 0.5, fy1 * stride - 0.5, fy0 * stride - 0.5)
    im = ax.imshow(part, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation='nearest')
    ax.set_xlim(x0 - 0.5, x1 - 0.5)
    ax.set_ylim(y1 - 0.5, y0 - 0.5)
    if boxes is not None:
        _boxes(ax, boxes, crop)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def _save(fig, path: Path) -> Path:
    from srtod.io import atomic_open
    path = Path(path)
    with atomic_open(path, 'wb') as f:
        fig.savefig(f, format='png', dpi=110, bbox_inches='tight')
    _plt().close(fig)
    return path


def plot_fig1(m: ImageMaps, crop, path, title: str = '') -> Path:
    """Paper Fig. 1: image, zoomed crop, P2 heatmap, reconstruction, D, binarised D; GT boxes."""
    plt = _plt()
    from matplotlib.patches import Rectangle
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.6))
    h, w = m.diff_map.shape
    ax = axes[0, 0]
    ax.imshow(m.image)
    x0, y0, x1, y1 = crop
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec='red', lw=1.2))
    ax.set_title(f'a  {m.file} ({w}x{h})', fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    _show(axes[0, 1], m.image, crop, 'b  zoomed crop, GT boxes', boxes=m.boxes)
    _show(axes[0, 2], heat(m.feat), crop, 'c  P2 heatmap (mean |P2|, before DGFE)',
          cmap='jet', stride=m.stride, boxes=m.boxes)
    if m.reconstruction is not None:
        _show(axes[0, 3], m.reconstruction, crop, 'd  reconstruction $I_r$')
    else:
        axes[0, 3].set_axis_off()
        axes[0, 3].set_title('d  no reconstruction (predicted difference map)', fontsize=8)
    im = _show(axes[1, 0], m.diff_map, crop, 'e  difference map D', cmap='gray', vmin=0,
               boxes=m.boxes)
    fig.colorbar(im, ax=axes[1, 0], fraction=0.046)
    t = m.threshold
    if t is not None:
        binary = m.binary_map if m.binary_map is not None else (m.diff_map > t).astype(np.float32)
        _show(axes[1, 1], binary, crop, f'f  binarised map $D_b$ (t = {t * 255:.2f}/255)',
              cmap='gray', vmin=0, vmax=1, boxes=m.boxes)
    else:
        axes[1, 1].set_axis_off()
        axes[1, 1].set_title('f  no threshold in this variant', fontsize=8)
    ax = axes[1, 2]
    ax.imshow(m.diff_map, cmap='gray', vmin=0)
    _boxes(ax, m.boxes, (0, 0, w, h), color='red', dashed=False)
    ax.set_title('D, whole image, GT boxes', fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    axes[1, 3].hist([m.diff_map[_inside(m.boxes, h, w)], m.diff_map[~_inside(m.boxes, h, w)]],
                    bins=40, density=True, label=['inside GT boxes', 'background'],
                    histtype='step')
    if t is not None:
        axes[1, 3].axvline(t, color='k', ls=':', label='t')
    axes[1, 3].set_yscale('log')
    axes[1, 3].legend(fontsize=7)
    axes[1, 3].set_title('distribution of D', fontsize=8)
    fig.suptitle(title or 'Fig. 1: self-reconstruction and the difference map', fontsize=10)
    return _save(fig, path)


def _inside(boxes, h, w) -> np.ndarray:
    from srtod.analysis.separation import box_pixels
    mask = np.zeros((h, w), dtype=bool)
    for rows, cols in box_pixels(boxes, h, w):
        mask[rows, cols] = True
    return mask


def plot_fig3(m: ImageMaps, crop, path, cutoff: float, title: str = '') -> Path:
    """Paper Fig. 3: pixel vs high-frequency difference map on the same crop."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    _show(axes[0], m.image, crop, 'crop, GT boxes', boxes=m.boxes)
    if m.diff_map_pixel is not None and m.diff_map_hf is not None:
        im = _show(axes[1], m.diff_map_pixel, crop, 'pixel difference map (PD)', cmap='gray',
                   vmin=0)
        fig.colorbar(im, ax=axes[1], fraction=0.046)
        im = _show(axes[2], m.diff_map_hf, crop,
                   f'high-frequency difference map (HFD, cut-off {cutoff:.4g} c/px)',
                   cmap='gray', vmin=0)
        fig.colorbar(im, ax=axes[2], fraction=0.046)
    else:
        for ax in axes[1:]:
            ax.set_axis_off()
        axes[1].set_title('no reconstruction, no PD or HFD (predicted difference map)',
                          fontsize=8)
    fig.suptitle(title or 'Fig. 3: pixel vs high-frequency difference map', fontsize=10)
    return _save(fig, path)


def plot_fig4(items: list[tuple[ImageMaps, tuple]], path, title: str = '') -> Path:
    """Paper Fig. 4: per image (row) the crop, the baseline's P2, P2 before and after DGFE.

    Args:
        items: (maps, crop) per row.
        path: the PNG to write.
        title: figure title (the run's label).
    """
    plt = _plt()
    if not items:
        raise InputError('Fig. 4 needs at least one image')
    fig, axes = plt.subplots(len(items), 4, figsize=(12, 3.2 * len(items)), squeeze=False)
    for row, (m, crop) in enumerate(items):
        # SR-TOD before/after share a scale (P2' = M x P2, same model); the baseline is another
        # training with other feature magnitudes, so it gets its own
        maps = [heat(m.feat)] + ([heat(m.feat_enhanced)] if m.feat_enhanced is not None else [])
        vmax = max(float(np.percentile(x, 99.5)) for x in maps)
        _show(axes[row, 0], m.image, crop, f'{m.file}: crop, GT boxes', boxes=m.boxes)
        if m.baseline_feat is not None:
            base = heat(m.baseline_feat)
            _show(axes[row, 1], base, crop, 'baseline detector P2', cmap='jet', vmin=0,
                  vmax=float(np.percentile(base, 99.5)), stride=m.stride, boxes=m.boxes)
        else:
            axes[row, 1].set_axis_off()
            axes[row, 1].set_title('baseline not trained in this tier', fontsize=8)
        _show(axes[row, 2], heat(m.feat), crop, 'SR-TOD P2 before DGFE', cmap='jet', vmin=0,
              vmax=vmax, stride=m.stride, boxes=m.boxes)
        if m.feat_enhanced is not None:
            _show(axes[row, 3], heat(m.feat_enhanced), crop, "SR-TOD P2' after DGFE", cmap='jet',
                  vmin=0, vmax=vmax, stride=m.stride, boxes=m.boxes)
        else:
            axes[row, 3].set_axis_off()
            axes[row, 3].set_title('no DGFE in this variant (RH only)', fontsize=8)
    fig.suptitle((title or 'Fig. 4') + ': P2 of the baseline, and of SR-TOD before and after '
                 'DGFE (mean |P2|; before/after share a colour scale, the baseline has its own)',
                 fontsize=10)
    return _save(fig, path)


def plot_datasets(panels: list[dict], path, title: str = '') -> Path:
    """Supplement Fig. 1: one column per dataset, the crop above its difference map.

    Args:
        panels: dicts with ``label``, ``image`` (h, w, 3), ``diff_map`` (h, w), ``boxes``
            (K, 4, in crop coordinates).
    """
    plt = _plt()
    if not panels:
        raise InputError('supplement Fig. 1 needs the figures of at least one SR-TOD run')
    fig, axes = plt.subplots(2, len(panels), figsize=(3.4 * len(panels), 6.6), squeeze=False)
    for col, p in enumerate(panels):
        h, w = p['diff_map'].shape
        crop = (0, 0, w, h)
        _show(axes[0, col], p['image'], crop, p['label'], boxes=p['boxes'])
        _show(axes[1, col], p['diff_map'], crop, 'difference map D', cmap='gray', vmin=0,
              boxes=p['boxes'])
    fig.suptitle(title or 'Supplement Fig. 1: difference maps across datasets', fontsize=10)
    return _save(fig, path)


def _upsampled_crop(feat, stride: int, crop, shape) -> np.ndarray:
    """The heatmap of a (C, h, w) feature map, repeated to input pixels and cut to ``crop``."""
    x0, y0, x1, y1 = crop
    big = np.repeat(np.repeat(heat(feat), stride, axis=0), stride, axis=1)
    out = np.zeros(shape, np.float32)
    part = big[y0:y1, x0:x1]
    out[:part.shape[0], :part.shape[1]] = part
    return out


def crop_panel(m: ImageMaps, crop, label: str) -> dict:
    """The arrays of one run's panels, cut to ``crop`` (saved per run as ``figure_panel.npz``).

    Keys: ``label``, ``image``, ``diff_map``, ``boxes`` (in crop coordinates) for supplement
    Fig. 1; ``format`` (``PANEL_FORMAT``); ``reconstruction``, ``binary_map``, ``threshold``
    for the Fig. 1 panel of the table
    reports, ``p2_before``, ``p2_after``, ``p2_baseline`` (mean |P2| at input pixels) for their
    Fig. 4 panel; a key is left out where the variant has no such map.
    """
    x0, y0, x1, y1 = crop
    boxes = m.boxes - np.array([x0, y0, x0, y0])
    keep = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (boxes[:, 0] < x1 - x0) & (boxes[:, 1] < y1 - y0)
    diff = m.diff_map[y0:y1, x0:x1]
    panel = dict(label=label, image=m.image[y0:y1, x0:x1], diff_map=diff, boxes=boxes[keep],
                 format=np.int64(PANEL_FORMAT))
    if m.reconstruction is not None:
        panel['reconstruction'] = m.reconstruction[y0:y1, x0:x1]
    if m.threshold is not None:
        binary = m.binary_map if m.binary_map is not None else (m.diff_map > m.threshold)
        panel.update(binary_map=np.asarray(binary, np.float32)[y0:y1, x0:x1],
                     threshold=np.float64(m.threshold))
    for key, feat in (('p2_before', m.feat), ('p2_after', m.feat_enhanced),
                      ('p2_baseline', m.baseline_feat)):
        if feat is not None:
            panel[key] = _upsampled_crop(feat, m.stride, crop, diff.shape)
    return panel


def _missing(ax, text: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha='center', va='center', fontsize=7, wrap=True,
            transform=ax.transAxes)


def _panel_grid(rows: list[tuple[str, dict | None]], columns: list[str], draw, path,
                title: str) -> Path:
    """One row per run, one column per map, small enough for one screen."""
    plt = _plt()
    if not rows:
        raise InputError('a panel figure needs at least one SR-TOD row')
    fig, axes = plt.subplots(len(rows), len(columns), squeeze=False,
                             figsize=(1.6 * len(columns) + 0.3, 1.6 * len(rows) + 0.5))
    for i, (label, panel) in enumerate(rows):
        for j, name in enumerate(columns):
            ax = axes[i, j]
            if panel is None:
                _missing(ax, 'no figure panel' if j else f'{label}:\nno figure panel\n'
                         '(training failed, or\n`srtod figures` not run\nby this version)')
            else:
                draw(ax, j, panel)
                if j == 0:
                    ax.set_ylabel(label, fontsize=7)
            if i == 0:
                ax.set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _save(fig, path)


def _crop_of(panel) -> tuple[int, int, int, int]:
    h, w = panel['diff_map'].shape
    return 0, 0, w, h


def plot_table_maps(rows: list[tuple[str, dict | None]], path, title: str = '') -> Path:
    """The Fig. 1 panel of a table report: per SR-TOD row the crop, its reconstruction, D and
    D_b (from ``figure_panel.npz``); dashed boxes are the ground truth.

    Args:
        rows: (row label, panel dict or None) per SR-TOD row.
        path: the PNG to write.
        title: the figure title.
    """
    def draw(ax, j, p):
        crop = _crop_of(p)
        if j == 0:
            _show(ax, p['image'], crop, '', boxes=p['boxes'])
        elif j == 1:
            if 'reconstruction' in p:
                _show(ax, np.clip(p['reconstruction'], 0, 1), crop, '')
            else:
                _missing(ax, 'no reconstruction\n(predicted map)')
        elif j == 2:
            _show(ax, p['diff_map'], crop, '', cmap='gray', vmin=0, boxes=p['boxes'])
        elif 'binary_map' in p:
            _show(ax, p['binary_map'], crop, '', cmap='gray', vmin=0, vmax=1, boxes=p['boxes'])
            ax.set_xlabel(f't = {float(p["threshold"]) * 255:.1f}/255', fontsize=7)
        else:
            _missing(ax, 'no threshold\nin this variant')
    return _panel_grid(rows, ['image (crop)', 'reconstruction $I_r$', 'difference map D',
                              'binarised $D_b$'], draw, path,
                       title or 'Fig. 1 panel: self-reconstruction and difference map')


def plot_table_features(rows: list[tuple[str, dict | None]], path, title: str = '') -> Path:
    """The Fig. 4 panel of a table report: per SR-TOD row the crop, the baseline's P2 and
    SR-TOD's P2 before and after DGFE (mean |P2|; before and after share a colour scale)."""
    def draw(ax, j, p):
        crop = _crop_of(p)
        if j == 0:
            _show(ax, p['image'], crop, '', boxes=p['boxes'])
            return
        key = ('p2_baseline', 'p2_before', 'p2_after')[j - 1]
        if key not in p:
            _missing(ax, {'p2_baseline': 'baseline not\ntrained here',
                          'p2_after': 'no DGFE in\nthis variant'}.get(key, 'not recorded'))
            return
        shared = [p[k] for k in ('p2_before', 'p2_after') if k in p]
        scale = [p[key]] if key == 'p2_baseline' else shared
        vmax = max(float(np.percentile(x, 99.5)) for x in scale) or None
        _show(ax, p[key], crop, '', cmap='jet', vmin=0, vmax=vmax, boxes=p['boxes'])
    return _panel_grid(rows, ['image (crop)', 'baseline P2', 'SR-TOD P2', "SR-TOD P2' (DGFE)"],
                       draw, path, title or 'Fig. 4 panel: P2 features')


__all__ = ['ImageMaps', 'MapExtractor', 'build_model', 'build_test_dataset', 'choose_crop',
           'heat', 'plot_fig1', 'plot_fig3', 'plot_fig4', 'plot_datasets', 'crop_panel',
           'plot_table_maps', 'plot_table_features', 'TINY_AREA']
