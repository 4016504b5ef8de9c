"""Converters from the datasets' official formats to COCO json (VisDrone2019, AI-TOD, DroneSwarms).

Every converter builds the whole output in memory, validates it with ``validate_coco`` and only
then writes it atomically (``srtod.io``): a failure leaves no partial file. File names in the
output are relative to the image folder; categories keep the dataset's order.

VisDrone2019-DET (``SRC/images/*.jpg``, ``SRC/annotations/*.txt``, one line per box:
``x,y,w,h,score,category,truncation,occlusion``):

- categories 1..10 (pedestrian .. motor) become objects with ids 1..10;
- category 0 (ignored regions), 11 (others) and any box with score 0 (the official "not
  considered in evaluation") become ignore regions. VisDrone ignores detections of every class
  inside such a region, so the region is written once per category with ``iscrowd=1`` and
  ``ignore=1``: pycocotools then ignores detections of any class that fall inside it, and mmdet's
  CocoDataset gives it ``ignore_flag=1`` for training;
- boxes that overhang the image are clipped to it (counted in the summary); a box with no area
  inside the image, a malformed line or a missing image is an error naming file and line.

AI-TOD (v1, v2) and DroneSwarms are COCO already: they are checked, and normalised (``area``
filled as w*h when missing, ``iscrowd`` defaulting to 0, ``ignore`` equal to ``iscrowd``,
file names with a leading ``./`` trimmed).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

from srtod.data.coco import image_size, load_coco, validate_coco
from srtod.errors import InputError
from srtod.io import write_json

VISDRONE_CLASSES = ('pedestrian', 'people', 'bicycle', 'car', 'van', 'truck', 'tricycle',
                    'awning-tricycle', 'bus', 'motor')
VISDRONE_IGNORED = (0, 11)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


def _parse_visdrone_line(text: str, path: Path, lineno: int) -> tuple[list[float], float, int]:
    fields = [f.strip() for f in text.strip().rstrip(',').split(',')]
    if len(fields) < 6:
        raise InputError(f'expected at least 6 comma-separated fields '
                         f'x,y,w,h,score,category[,truncation,occlusion], got {len(fields)}',
                         path=path, line=lineno)
    try:
        x, y, w, h = (float(v) for v in fields[:4])
        score = float(fields[4])
        cat = int(fields[5])
    except ValueError:
        raise InputError(f'expected numbers in x,y,w,h,score,category, got {text.strip()!r}',
                         path=path, line=lineno) from None
    if not 0 <= cat <= 11:
        raise InputError(f'category {cat} is not a VisDrone category (0..11)', path=path,
                         line=lineno)
    return [x, y, w, h], score, cat


def _clip(box: list[float], width: int, height: int) -> list[float] | None:
    x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
    x1, y1 = min(box[0] + box[2], float(width)), min(box[1] + box[3], float(height))
    if x1 <= x0 or y1 <= y0:
        return None
    return [x0, y0, x1 - x0, y1 - y0]


def convert_visdrone(src: str | os.PathLike, out_json: str | os.PathLike) -> dict[str, int]:
    """Convert a VisDrone2019-DET split folder to COCO json.

    Args:
        src: folder with ``images/`` and ``annotations/``.
        out_json: the COCO json to write; file names are relative to ``src/images``.

    Returns:
        summary: images, objects, ignore_regions, clipped.
    """
    src = Path(src)
    img_dir, ann_dir = src / 'images', src / 'annotations'
    for d in (img_dir, ann_dir):
        if not d.is_dir():
            raise InputError('folder not found; expected the VisDrone2019-DET layout '
                             'SRC/images/*.jpg and SRC/annotations/*.txt', path=d)
    images = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    txts = {p.stem: p for p in ann_dir.glob('*.txt')}
    stems = {p.stem for p in images}
    orphans = sorted(set(txts) - stems)
    if orphans:
        raise InputError(f'annotation file without an image {orphans[0]}.* in {img_dir}',
                         path=txts[orphans[0]])
    categories = [{'id': i + 1, 'name': n} for i, n in enumerate(VISDRONE_CLASSES)]
    out_images, anns = [], []
    summary = {'images': 0, 'objects': 0, 'ignore_regions': 0, 'clipped': 0}
    for image_id, img in enumerate(images, start=1):
        txt = txts.get(img.stem)
        if txt is None:
            raise InputError(f'no annotation file for image {img.name}; expected '
                             f'{ann_dir / (img.stem + ".txt")}', path=img)
        width, height = image_size(img)
        out_images.append({'id': image_id, 'file_name': img.name, 'width': width,
                           'height': height})
        with open(txt, encoding='utf-8') as f:
            lines = f.read().splitlines()
        for lineno, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            box, score, cat = _parse_visdrone_line(text, txt, lineno)
            if box[2] <= 0 or box[3] <= 0:
                raise InputError(f'box {box} must have positive width and height', path=txt,
                                 line=lineno)
            clipped = _clip(box, width, height)
            if clipped is None:
                raise InputError(f'box {box} lies outside the image ({width}x{height} px)',
                                 path=txt, line=lineno)
            summary['clipped'] += clipped != box
            ignore = cat in VISDRONE_IGNORED or score == 0
            cat_ids = [c['id'] for c in categories] if ignore else [cat]
            for cid in cat_ids:
                anns.append({'id': len(anns) + 1, 'image_id': image_id, 'category_id': cid,
                             'bbox': clipped, 'area': clipped[2] * clipped[3],
                             'iscrowd': int(ignore), 'ignore': int(ignore)})
            summary['ignore_regions' if ignore else 'objects'] += 1
    summary['images'] = len(out_images)
    data = {'images': out_images, 'annotations': anns, 'categories': categories}
    validate_coco(data, out_json)
    write_json(out_json, data, indent=None)
    return summary


def normalise_coco(data: dict, path) -> dict:
    """A copy of a COCO detection dict with the defaults the harness relies on filled in."""
    data = copy.deepcopy(data)
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise InputError(f'expected a COCO detection file with a list {key!r}', path=path)
    for im in data['images']:
        if isinstance(im, dict) and isinstance(im.get('file_name'), str):
            name = im['file_name'].replace('\\', '/')
            while name.startswith('./'):
                name = name[2:]
            im['file_name'] = name
    for a in data['annotations']:
        if not isinstance(a, dict):
            continue
        box = a.get('bbox')
        if 'area' not in a and isinstance(box, list) and len(box) == 4:
            a['area'] = box[2] * box[3]
        a['iscrowd'] = int(a.get('iscrowd', 0) or a.get('ignore', 0))
        a['ignore'] = a['iscrowd']
    return data


def convert_coco(src: str | os.PathLike, out_json: str | os.PathLike, images_dir=None
                 ) -> dict[str, int]:
    """Check and normalise a dataset shipped as COCO json (AI-TOD, DroneSwarms).

    Args:
        src: the dataset's json file.
        out_json: where to write the normalised json.
        images_dir: the image folder; when given, every image must exist with its size.

    Returns:
        summary: images, objects, ignore_regions.
    """
    data = normalise_coco(load_coco(src), src)
    validate_coco(data, src, images_dir)
    write_json(out_json, data, indent=None)
    crowd = sum(a['iscrowd'] for a in data['annotations'])
    return {'images': len(data['images']), 'objects': len(data['annotations']) - crowd,
            'ignore_regions': crowd}
