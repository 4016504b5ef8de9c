"""Loading and validating COCO detection files, the one format every dataset is converted to.

``validate_coco`` checks what training and evaluation rely on: unique non-negative integer ids,
categories that exist, boxes with positive size inside their image, an ``area`` (a finite number
>= 0, what the AI-TOD area ranges read) and ``iscrowd`` (0 or 1) on every annotation, file names
relative to the image folder and, when the folder is given, that every image exists with the
declared size. The converters, ``srtod validate``, ``srtod eval`` and ``AITODMetric`` run it.
Errors are ``InputError`` naming the file, the record and the field; all problems found are
listed, not only the first.

JSON is parsed with msgspec (strict JSON: ``NaN`` and ``Infinity`` are not numbers there).
"""
from __future__ import annotations

import gc
import os
import re
from pathlib import Path, PurePosixPath

from srtod.errors import InputError

#: boxes may overhang the image border by this many pixels (float rounding of converters).
BORDER_TOLERANCE = 1e-3
MAX_LISTED = 20
#: ids are stored as int64 by the evaluators.
MAX_ID = 2 ** 63 - 1


def _decode(buf: bytes, path, decoder=None):
    """``decoder.decode(buf)`` (default: untyped msgspec JSON) with errors as ``InputError``
    naming the file and, for syntax errors, the line and column."""
    import msgspec
    enabled = gc.isenabled()
    gc.disable()  # millions of new containers would trigger the cyclic collector again and again
    try:
        return (decoder or msgspec.json).decode(buf)
    except msgspec.ValidationError as err:
        raise InputError(_validation_message(str(err)), path=path) from None
    except msgspec.DecodeError as err:
        msg = str(err)
        found = re.search(r'\(byte (\d+)\)', msg)
        if not found:
            raise InputError(f'invalid JSON: {msg}', path=path) from None
        pos = int(found.group(1))
        line = buf.count(b'\n', 0, pos) + 1
        col = pos - (buf.rfind(b'\n', 0, pos) + 1) + 1
        text = re.sub(r'\s*\(byte \d+\)', '', msg)
        if buf[pos:pos + 3] == b'NaN' or buf[max(pos - 1, 0):pos + 8].lstrip(b'-').startswith(
                b'Infinity'):
            text += ': NaN and Infinity are not JSON numbers; expected finite numbers'
        raise InputError(f'invalid JSON: {text} (column {col})', path=path, line=line) from None
    except UnicodeDecodeError as err:
        raise InputError(f'not UTF-8 text: {err}', path=path) from None
    finally:
        if enabled:
            gc.enable()


def _validation_message(msg: str) -> str:
    """msgspec's 'Expected int, got str - at `$[3].image_id`' as 'record [3]: field image_id:
    expected int, got str'."""
    found = re.match(r'(.*?) - at `\$(.*)`$', msg, re.S)
    text, at = (found.group(1), found.group(2)) if found else (msg, '')
    text = text.replace('`', '')
    if text.startswith('Number out of range'):
        text += ' (beyond float64, such as 1e999; expected finite numbers)'
    record = re.match(r'\[(\d+)\](?:\.(.+))?$', at)
    if record:
        where = f'record [{record.group(1)}]' + (f': field {record.group(2)}'
                                                  if record.group(2) else '')
    else:
        where = f'at {at}' if at else ''
    return f'{where}: {text}' if where else text


def read_json(path: str | os.PathLike, what: str, decoder=None):
    """Read and decode a JSON file; a missing file or bad JSON raises ``InputError``.

    Args:
        path: the file.
        what: what the file should be, for the error of a missing file.
        decoder: a ``msgspec.json.Decoder`` for typed decoding (default: untyped).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f'file not found; expected {what}', path=path)
    return _decode(path.read_bytes(), path, decoder)


def load_coco(path: str | os.PathLike) -> dict:
    """Read a COCO json file; a missing file or bad JSON raises ``InputError`` with the line."""
    data = read_json(path, 'a COCO json file')
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


def _id_problem(value) -> str | None:
    """Why ``value`` is not a valid id (a non-negative integer in int64), or None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return f'expected a non-negative integer id, got {value!r}'
    if not 0 <= value <= MAX_ID:
        return f'expected a non-negative integer id below 2^63, got {value}'
    return None


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
    """Every problem of a COCO detection dict, as messages naming the record and the field
    (empty when valid)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return ['expected a JSON object with images, annotations and categories']
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            problems.append(f'missing or non-list top-level key {key!r}')
    if problems:
        return problems
    cats = {}
    names = set()
    for i, c in enumerate(data['categories']):
        if not isinstance(c, dict):
            problems.append(f'categories[{i}]: expected an object')
            continue
        cid = c.get('id')
        why = _id_problem(cid)
        if why:
            problems.append(f'categories[{i}]: field id: {why}')
            continue
        if cid in cats:
            problems.append(f'categories[{i}]: duplicate category id {cid}')
        name = c.get('name')
        if not isinstance(name, str) or not name:
            problems.append(f'categories[{i}] (id {cid}): field name: expected a non-empty '
                            f'string, got {name!r}')
        elif name in names:
            problems.append(f'categories[{i}] (id {cid}): duplicate category name {name!r}')
        names.add(name)
        cats[cid] = c
    images = {}
    files = set()
    for i, im in enumerate(data['images']):
        if not isinstance(im, dict):
            problems.append(f'images[{i}]: expected an object')
            continue
        iid = im.get('id')
        why = _id_problem(iid)
        if why:
            problems.append(f'images[{i}]: field id: {why}')
            continue
        if iid in images:
            problems.append(f'images[{i}]: duplicate image id {iid}')
        w, h = im.get('width'), im.get('height')
        if not (isinstance(w, int) and isinstance(h, int) and not isinstance(w, bool)
                and not isinstance(h, bool) and w > 0 and h > 0):
            problems.append(f'images[{i}] (id {iid}): fields width, height: expected positive '
                            f'integer width and height, got {w!r}x{h!r}')
            continue
        why = check_file_name(im.get('file_name'))
        if why:
            problems.append(f'images[{i}] (id {iid}): field file_name: {why}')
            continue
        if im['file_name'] in files:
            problems.append(f'images[{i}] (id {iid}): file_name {im["file_name"]!r} used by two '
                            f'images')
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
        why = _id_problem(aid)
        where = f'annotations[{i}]' + ('' if why else f' (id {aid})')
        if why:
            problems.append(f'{where}: field id: {why}')
        elif aid in ann_ids:
            problems.append(f'{where}: duplicate annotation id {aid} (pycocotools would evaluate '
                            f'one of the two boxes twice)')
        ann_ids.add(aid)
        cid = a.get('category_id')
        if _id_problem(cid):  # 1.0 or True would find category 1 in a dict
            problems.append(f'{where}: field category_id: {_id_problem(cid)}')
        elif cid not in cats:
            problems.append(f'{where}: field category_id: category_id {cid!r} is not in '
                            f'categories')
        iid = a.get('image_id')
        im = None if _id_problem(iid) else images.get(iid)
        if _id_problem(iid):
            problems.append(f'{where}: field image_id: {_id_problem(iid)}')
        elif im is None:
            problems.append(f'{where}: field image_id: image_id {iid!r} is not in images')
        crowd = a.get('iscrowd')
        if crowd not in (0, 1) or isinstance(crowd, float):
            problems.append(f'{where}: field iscrowd: expected 0 or 1, got {crowd!r}')
        area = a.get('area')
        if not _is_number(area) or area < 0:
            problems.append(f'{where}: field area: expected a finite number >= 0, got {area!r}')
        box = a.get('bbox')
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
            problems.append(f'{where}: field bbox: expected [x, y, w, h] of 4 finite numbers, '
                            f'got {box!r}')
            continue
        x, y, w, h = box
        if w <= 0 or h <= 0:
            problems.append(f'{where}: field bbox: box {box} must have positive width and height')
        elif im is not None:
            t = BORDER_TOLERANCE
            if x < -t or y < -t or x + w > im['width'] + t or y + h > im['height'] + t:
                problems.append(f'{where}: field bbox: box {box} lies outside its image '
                                f'({im["width"]}x{im["height"]} px, expected 0 <= x, '
                                f'x+w <= width)')
    return problems


def validate_coco(data: dict, path: str | os.PathLike | None, images_dir=None) -> None:
    """Raise ``InputError`` naming ``path`` and listing the problems, if there are any."""
    problems = collect_problems(data, images_dir)
    if problems:
        more = len(problems) - MAX_LISTED
        text = '\n  '.join(problems[:MAX_LISTED]) + (f'\n  ... and {more} more' if more > 0 else '')
        raise InputError(f'{len(problems)} problem(s) in this COCO file:\n  {text}', path=path)
