"""DOTA v1.0 / v1.5 / v2.0 (``SRC/images/*.png``, ``SRC/labelTxt/*.txt``) to COCO json.

Each label line is ``x1 y1 x2 y2 x3 y3 x4 y4 category difficult``; the optional header lines
``imagesource:...`` and ``gsd:...`` are skipped. The oriented polygon becomes its horizontal
bounding box (min/max of the corners), clipped to the image. ``difficult`` objects are kept as
objects (the AI-TOD protocol has no difficult flag).

Patch splitting (``patch_size``, ``overlap``): DOTA images are up to 20,000 px wide, far beyond
what a detector takes at once, so training images are cut into square patches of 800 px with
200 px overlap (stride 600), the usual DOTA / AI-TOD practice (AI-TOD itself was cut from DOTA
and others into 800x800 crops). The overlap is larger than nearly every tiny or small object,
so each such object lies whole in at least one patch. A box is kept in a patch when at least 70%
of its area lies inside it (clipped to the patch); a box cut below that becomes an ignore region
(``iscrowd=1``) so the detector is neither rewarded nor punished for it. Patches at the right
and bottom edges are shifted inwards so every patch is full size (images smaller than a patch
give one patch, the whole image). Test sets are usually converted without splitting.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from srtod.data.coco import image_size, validate_coco
from srtod.errors import InputError
from srtod.io import write_json

DOTA_CLASSES = {
    'v1': ('plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle',
           'large-vehicle', 'ship', 'tennis-court', 'basketball-court', 'storage-tank',
           'soccer-ball-field', 'roundabout', 'harbor', 'swimming-pool', 'helicopter'),
}
DOTA_CLASSES['v1.5'] = DOTA_CLASSES['v1'] + ('container-crane',)
DOTA_CLASSES['v2'] = DOTA_CLASSES['v1.5'] + ('airport', 'helipad')
KEEP_FRACTION = 0.7


def parse_label_file(path: Path, classes: tuple[str, ...], width: int, height: int
                     ) -> list[tuple[list[float], int]]:
    """Horizontal boxes [x, y, w, h] clipped to the image and 1-based category ids."""
    out = []
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    for lineno, text in enumerate(lines, start=1):
        fields = text.split()
        if not fields or fields[0].startswith(('imagesource', 'gsd')):
            continue
        if len(fields) < 9:
            raise InputError(f'expected "x1 y1 x2 y2 x3 y3 x4 y4 category [difficult]", '
                             f'got {len(fields)} fields', path=path, line=lineno)
        try:
            pts = np.array([float(v) for v in fields[:8]]).reshape(4, 2)
        except ValueError:
            raise InputError(f'expected 8 polygon coordinates, got {" ".join(fields[:8])!r}',
                             path=path, line=lineno) from None
        if fields[8] not in classes:
            raise InputError(f'unknown category {fields[8]!r}; expected one of {list(classes)}',
                             path=path, line=lineno)
        x0, y0 = max(pts[:, 0].min(), 0.0), max(pts[:, 1].min(), 0.0)
        x1, y1 = min(pts[:, 0].max(), float(width)), min(pts[:, 1].max(), float(height))
        if x1 <= x0 or y1 <= y0:
            raise InputError(f'polygon {fields[:8]} has no area inside the image '
                             f'({width}x{height} px)', path=path, line=lineno)
        out.append(([float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    classes.index(fields[8]) + 1))
    return out


def patch_origins(length: int, patch: int, stride: int) -> list[int]:
    """Start offsets along one axis: every ``stride``, the last one flush with the far edge."""
    if length <= patch:
        return [0]
    starts = list(range(0, length - patch, stride))
    starts.append(length - patch)
    return starts


def _patch_boxes(objects, px: int, py: int, pw: int, ph: int):
    for box, cat in objects:
        x0, y0 = max(box[0], px), max(box[1], py)
        x1, y1 = min(box[0] + box[2], px + pw), min(box[1] + box[3], py + ph)
        if x1 <= x0 or y1 <= y0:
            continue
        kept = (x1 - x0) * (y1 - y0) / (box[2] * box[3])
        yield [x0 - px, y0 - py, x1 - x0, y1 - y0], cat, kept < KEEP_FRACTION


def convert_dota(src: str | os.PathLike, out_json: str | os.PathLike, version: str = 'v1',
                 patch_size: int | None = None, overlap: int = 200) -> dict[str, int]:
    """Convert a DOTA split to COCO json, optionally cut into overlapping patches.

    Args:
        src: folder with ``images/`` and ``labelTxt/``.
        out_json: output json. Without patches its file names are relative to ``src/images``;
            with patches the crops are written to ``<out_json folder>/images/``.
        version: ``v1``, ``v1.5`` or ``v2`` (the category list, in the dataset's order).
        patch_size: side of the square patches (800 is the usual value); None keeps whole images.
        overlap: overlap of neighbouring patches in pixels (200 is the usual value).

    Returns:
        summary: images, objects, ignore_regions (cut boxes), source_images.
    """
    if version not in DOTA_CLASSES:
        raise InputError(f'unknown DOTA version {version!r}; '
                         f'expected one of {sorted(DOTA_CLASSES)}')
    if patch_size is not None and not 0 <= overlap < patch_size:
        raise InputError(f'--overlap must lie in [0, patch size), got {overlap} for {patch_size}')
    classes = DOTA_CLASSES[version]
    src, out_json = Path(src), Path(out_json)
    img_dir, lbl_dir = src / 'images', src / 'labelTxt'
    for d in (img_dir, lbl_dir):
        if not d.is_dir():
            raise InputError('folder not found; expected the DOTA layout SRC/images/*.png and '
                             'SRC/labelTxt/*.txt', path=d)
    labels = {p.stem: p for p in lbl_dir.glob('*.txt')}
    images = {p.stem: p for p in img_dir.iterdir()
              if p.suffix.lower() in ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')}
    for stem in sorted(labels):
        if stem not in images:
            raise InputError(f'label file without an image {stem}.png in {img_dir}',
                             path=labels[stem])
    parsed = []  # read and check everything before writing anything
    for stem in sorted(images):
        if stem not in labels:
            raise InputError(f'no label file for image {images[stem].name}', path=images[stem])
        w, h = image_size(images[stem])
        parsed.append((images[stem], w, h, parse_label_file(labels[stem], classes, w, h)))
    categories = [{'id': i + 1, 'name': n} for i, n in enumerate(classes)]
    out_images, anns = [], []

    def add(image_id, box, cat, crowd):
        anns.append({'id': len(anns) + 1, 'image_id': image_id, 'category_id': cat,
                     'bbox': [round(v, 3) for v in box], 'area': round(box[2] * box[3], 3),
                     'iscrowd': int(crowd), 'ignore': int(crowd)})

    if patch_size is None:
        for path, w, h, objects in parsed:
            image_id = len(out_images) + 1
            out_images.append({'id': image_id, 'file_name': path.name, 'width': w, 'height': h})
            for box, cat in objects:
                add(image_id, box, cat, False)
        data = {'images': out_images, 'annotations': anns, 'categories': categories}
        validate_coco(data, out_json)
        write_json(out_json, data, indent=None)
    else:
        import cv2
        out_dir = out_json.parent / 'images'
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix='.dota-patches.', dir=out_json.parent))
        try:
            stride = patch_size - overlap
            for path, w, h, objects in parsed:
                img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                if img is None:
                    raise InputError('not a readable image', path=path)
                for py in patch_origins(h, patch_size, stride):
                    for px in patch_origins(w, patch_size, stride):
                        pw, ph = min(patch_size, w), min(patch_size, h)
                        image_id = len(out_images) + 1
                        name = f'{path.stem}__{px}_{py}{path.suffix}'
                        out_images.append({'id': image_id, 'file_name': name, 'width': pw,
                                           'height': ph})
                        for box, cat, crowd in _patch_boxes(objects, px, py, pw, ph):
                            add(image_id, box, cat, crowd)
                        if not cv2.imwrite(str(tmp / name), img[py:py + ph, px:px + pw]):
                            raise InputError('could not write a patch image', path=tmp / name)
            data = {'images': out_images, 'annotations': anns, 'categories': categories}
            validate_coco(data, out_json, images_dir=tmp)
            for p in tmp.iterdir():
                os.replace(p, out_dir / p.name)
            write_json(out_json, data, indent=None)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    crowd = sum(a['iscrowd'] for a in anns)
    return {'images': len(out_images), 'objects': len(anns) - crowd, 'ignore_regions': crowd,
            'source_images': len(parsed)}
