"""Dataset statistics in the form of supplement Fig. 2: counts per split, the absolute-size
histogram and the spatial scatter of object centres, as PNG and as JSON.

Absolute size is sqrt(w*h) in pixels (DroneSwarms: 7.9 px on average, 99.6% of the objects
below 32x32 px^2). Ignore regions (``iscrowd=1``) are counted apart and left out of the figures.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from srtod.data.coco import load_coco, validate_coco
from srtod.errors import InputError
from srtod.io import atomic_open, write_json

SIZE_BINS = np.arange(0, 65, 2.0)  # 2 px bins up to 64 px; larger objects go in the last bin
SCATTER_POINTS = 20000


def dataset_splits(path: str | os.PathLike) -> dict[str, Path]:
    """Split name -> json: a json file is one split; a folder gives each ``*.json`` in it."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob('*.json'))
        if not files:
            raise InputError('no *.json split file in this folder', path=path)
        return {f.stem: f for f in files}
    if not path.is_file():
        raise InputError('not found; expected a COCO json file or a folder of them', path=path)
    return {path.stem: path}


def _share(sizes: np.ndarray, lo: float, hi: float) -> float | None:
    """Share of sizes in [lo, hi) px (area ranges of the AI-TOD protocol), None if empty."""
    return float(((sizes >= lo) & (sizes < hi)).mean()) if len(sizes) else None


def split_stats(data: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    """Counts of one split, the sizes of its objects and their normalised centres (N, 2)."""
    sizes, centres = [], []
    imgs = {im['id']: im for im in data['images']}
    crowd = 0
    for a in data['annotations']:
        if a.get('iscrowd', 0):
            crowd += 1
            continue
        x, y, w, h = a['bbox']
        im = imgs[a['image_id']]
        sizes.append(np.sqrt(w * h))
        centres.append(((x + w / 2) / im['width'], (y + h / 2) / im['height']))
    sizes_a = np.asarray(sizes, float)
    n = len(sizes_a)
    counts = {
        'images': len(data['images']), 'objects': n, 'ignore_regions': crowd,
        'objects_per_image': n / max(1, len(data['images'])),
        'mean_size_px': float(sizes_a.mean()) if n else None,
        'median_size_px': float(np.median(sizes_a)) if n else None,
        'share_below_32px': float((sizes_a < 32).mean()) if n else None,
        'share_very_tiny': _share(sizes_a, 0, 8),
        'share_tiny': _share(sizes_a, 8, 16),
        'share_small': _share(sizes_a, 16, 32),
    }
    return counts, sizes_a, np.asarray(centres, float).reshape(-1, 2)


def dataset_stats(path: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Write ``stats.json``, ``size_histogram.png`` and ``spatial.png`` to ``out_dir``.

    Args:
        path: a COCO json, or a folder whose ``*.json`` files are the splits.
        out_dir: output folder.

    Returns:
        the object written to ``stats.json``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    result: dict = {'splits': {}, 'size_histogram': {}, 'spatial': {}}
    all_sizes, all_centres = [], []
    for name, file in dataset_splits(path).items():
        data = load_coco(file)
        validate_coco(data, file)
        counts, sizes, centres = split_stats(data)
        result['splits'][name] = counts
        hist, _ = np.histogram(np.minimum(sizes, SIZE_BINS[-1] - 1e-9), SIZE_BINS)
        result['size_histogram'][name] = hist.tolist()
        all_sizes.append(sizes)
        all_centres.append(centres)
    result['size_histogram']['bin_edges_px'] = SIZE_BINS.tolist()
    sizes = np.concatenate(all_sizes)
    centres = np.concatenate(all_centres)
    pick = np.random.default_rng(0).permutation(len(centres))[:SCATTER_POINTS]
    pick.sort()
    result['spatial'] = {'x': np.round(centres[pick, 0], 4).tolist(),
                         'y': np.round(centres[pick, 1], 4).tolist(),
                         'points': int(len(pick)), 'objects': int(len(centres))}
    write_json(out_dir / 'stats.json', result, indent=1)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(np.minimum(sizes, SIZE_BINS[-1] - 1e-9), SIZE_BINS, color='tab:blue')
    for edge in (8, 16, 32):
        ax.axvline(edge, color='grey', lw=.8, ls='--')
    ax.set_xlabel('absolute size sqrt(w*h) [px]')
    ax.set_ylabel('objects')
    ax.set_title(f'{len(sizes)} objects, mean {sizes.mean():.1f} px' if len(sizes)
                 else 'no objects')
    fig.tight_layout()
    with atomic_open(out_dir / 'size_histogram.png', 'wb') as f:
        fig.savefig(f, format='png', dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.scatter(centres[pick, 0], centres[pick, 1], s=1, alpha=.4)
    ax.set_xlim(0, 1)
    ax.set_ylim(1, 0)
    ax.set_xlabel('x / width')
    ax.set_ylabel('y / height')
    ax.set_title('object centres')
    fig.tight_layout()
    with atomic_open(out_dir / 'spatial.png', 'wb') as f:
        fig.savefig(f, format='png', dpi=120)
    plt.close(fig)
    return result
