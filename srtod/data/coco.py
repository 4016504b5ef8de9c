"""Loading and validating COCO detection files, the one format every dataset is converted to.

``validate_coco`` checks what training and evaluation rely on: unique ids, categories that
exist, boxes with positive size inside their image, file names relative to the image folder and,
when the folder is given, that every image exists with the declared size. Errors are
``InputError`` naming the file and what was expected; all problems found are listed, not only
the first.
"""
from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from srtod.errors import InputError

#: boxes may overhang the image border by this many pixels (float rounding of converters).
BORDER_TOLERANCE = 1e-3
MAX_LISTED = 20


def load_coco(path: str | os.PathLike) -> dict:
    """Read a COCO json file; a missing file or bad JSON raises ``InputError`` with the line."""
    path = Path(path)
    if not path.is_file():
        raise InputError('file not found; expected a COCO json file', path=path)
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise InputError(f'invalid JSON: {err.msg} (column {err.colno})', path=path,
                         line=err.lineno) from None
    except UnicodeDecodeError as err:
        raise InputError(f'not UTF-8 text: {err}', path=path) from None
    if not isinstance(data, dict):
        raise InputError('expected a JSON object with images, annotations and categories',
                         path=path)
    return data


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file, reading only its header."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise InputError('image not found', path=path) from None
    except OSError as err:
        raise InputError(f'not a readable image: {err}', path=path) from None


def _is_number(x) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool) and x == x
            and abs(x) != float('inf'))


def check_file_name(name) -> str | None:
    """Why ``name`` is not a valid image file name relative to the image folder, or None."""
    if not isinstance(name, str) or not name:
        return 'file_name must be a non-empty string'
    p = PurePosixPath(name.replace('\\', '/'))
    if p.is_absolute() or (len(name) > 1 and name[1] == ':'):
        return f'file_name {name!r} must be relative to the image folder, not absolute'
    if '..' in p.parts:
        return f'file_name {name!r} must not leave the image folder (..)'
    return None


def collect_problems(data: dict, images_dir: str | os.PathLike | None = None) -> list[str]:
    """Every problem of a COCO detection dict, as messages (empty when valid)."""
    problems: list[str] = []
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            problems.append(f'missing or non-list top-level key {key!r}')
    if problems:
        return problems
    cats = {}
    names = set()
    for i, c in enumerate(data['categories']):
        cid = c.get('id') if isinstance(c, dict) else None
        if not isinstance(cid, int) or isinstance(cid, bool):
            problems.append(f'categories[{i}]: expected an integer id, got {cid!r}')
            continue
        if cid in cats:
            problems.append(f'categories[{i}]: duplicate category id {cid}')
        name = c.get('name')
        if not isinstance(name, str) or not name:
            problems.append(f'categories[{i}]: expected a non-empty name')
        elif name in names:
            problems.append(f'categories[{i}]: duplicate category name {name!r}')
        names.add(name)
        cats[cid] = c
    images = {}
    files = set()
    for i, im in enumerate(data['images']):
        if not isinstance(im, dict):
            problems.append(f'images[{i}]: expected an object')
            continue
        iid = im.get('id')
        if not isinstance(iid, int) or isinstance(iid, bool):
            problems.append(f'images[{i}]: expected an integer id, got {iid!r}')
            continue
        if iid in images:
            problems.append(f'images[{i}]: duplicate image id {iid}')
        w, h = im.get('width'), im.get('height')
        if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
            problems.append(f'image {iid}: expected positive integer width and height, '
                            f'got {w!r}x{h!r}')
            continue
        why = check_file_name(im.get('file_name'))
        if why:
            problems.append(f'image {iid}: {why}')
            continue
        if im['file_name'] in files:
            problems.append(f'image {iid}: file_name {im["file_name"]!r} used by two images')
        files.add(im['file_name'])
        images[iid] = im
        if images_dir is not None:
            path = Path(images_dir) / im['file_name']
            if not path.is_file():
                problems.append(f'image {iid}: {path} not found')
                continue
            try:
                size = image_size(path)
            except InputError as err:
                problems.append(f'image {iid}: {err}')
                continue
            if size != (w, h):
                problems.append(f'image {iid}: {path} is {size[0]}x{size[1]} px, '
                                f'the json says {w}x{h}')
    ann_ids = set()
    for i, a in enumerate(data['annotations']):
        if not isinstance(a, dict):
            problems.append(f'annotations[{i}]: expected an object')
            continue
        aid = a.get('id')
        where = f'annotation {aid}' if isinstance(aid, int) else f'annotations[{i}]'
        if not isinstance(aid, int) or isinstance(aid, bool):
            problems.append(f'{where}: expected an integer id, got {aid!r}')
        elif aid in ann_ids:
            problems.append(f'{where}: duplicate annotation id')
        ann_ids.add(aid)
        if a.get('category_id') not in cats:
            problems.append(f'{where}: category_id {a.get("category_id")!r} is not in categories')
        im = images.get(a.get('image_id'))
        if im is None:
            problems.append(f'{where}: image_id {a.get("image_id")!r} is not in images')
        box = a.get('bbox')
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
            problems.append(f'{where}: expected bbox [x, y, w, h] of 4 finite numbers, got {box!r}')
            continue
        x, y, w, h = box
        if w <= 0 or h <= 0:
            problems.append(f'{where}: box {box} must have positive width and height')
        elif im is not None:
            t = BORDER_TOLERANCE
            if x < -t or y < -t or x + w > im['width'] + t or y + h > im['height'] + t:
                problems.append(f'{where}: box {box} lies outside its image '
                                f'({im["width"]}x{im["height"]} px, expected 0 <= x, x+w <= width)')
    return problems


def validate_coco(data: dict, path: str | os.PathLike, images_dir=None) -> None:
    """Raise ``InputError`` naming ``path`` and listing the problems, if there are any."""
    problems = collect_problems(data, images_dir)
    if problems:
        more = len(problems) - MAX_LISTED
        text = '\n  '.join(problems[:MAX_LISTED]) + (f'\n  ... and {more} more' if more > 0 else '')
        raise InputError(f'{len(problems)} problem(s) in this COCO file:\n  {text}', path=path)
