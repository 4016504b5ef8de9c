"""Deterministic synthetic stand-ins of the datasets, for the smoke and tiny tiers.

This machine has none of DroneSwarms, VisDrone2019, AI-TOD or DOTA, so the embedded default is a
synthetic set that exercises the same code: many tiny "drones" scattered over the whole frame of
varied backgrounds, with blur and noise. Every profile keeps ONE category (``drone``, id 1) so a
slim model trained from scratch for a few hundred CPU iterations reaches a clearly non-zero AP.

Profiles, one per dataset: ``DatasetSpec.synthetic`` in srtod/vocab.py gives the share of sky
images (the rest is aerial ground: fields, roads, buildings, water), the object sizes (sqrt(w*h)
in pixels, log-normal) and the mean count per image (Poisson). The DroneSwarms profile is sky
(gradients, clouds, overcast, dusk, backlight; 30% with a ground / mountain / building band
below) with ~8 px objects (DroneSwarms: 7.9 px average, 99.6% under 32x32 px^2, paper section
3.4); the others are ground seen from above, DOTA's with the widest size range.

Drones are drawn as quadcopters, hexacopters, fixed-wing crosses or blobs, anti-aliased by 4x4
supersampling, dark on bright skies (bright under backlight), sometimes low-contrast, then the
whole image is blurred (sometimes) and gets Gaussian noise. The box of a drone is the exact extent
of its shape, so it is tight by construction and always lies inside the image.

Determinism: image ``i`` is drawn from ``numpy.random.default_rng([seed, i])`` and written as PNG,
so the same seed gives byte-identical JSON and images, and any image can be regenerated alone.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from srtod.errors import InputError
from srtod.io import write_bytes, write_text
from srtod.vocab import DATASET_SPECS, SynthProfile

CATEGORIES = [{'id': 1, 'name': 'drone', 'supercategory': 'drone'}]
GENERATOR_VERSION = 1


#: How a stand-in looks (srtod.vocab.SynthProfile).
Profile = SynthProfile

#: dataset -> the profile of its stand-in, from srtod/vocab.py.
PROFILES = {name: spec.synthetic for name, spec in DATASET_SPECS.items()}


# ----------------------------------------------------------------------------- backgrounds
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int,
                  octaves: int = 3) -> np.ndarray:
    """Fractal value noise in [0, 1], shape (h, w)."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = cells * (2 ** o)
        grid = rng.random((max(2, n * h // max(h, w) + 2), n + 2), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    out /= total
    lo, hi = out.min(), out.max()
    return (out - lo) / max(hi - lo, 1e-6)


def _vertical_gradient(h: int, w: int, top, bottom) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    return np.broadcast_to(img, (h, w, 3)).copy()


def _sky(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    """An RGB sky in [0, 1] and its kind."""
    kind = rng.choice(['clear', 'clouds', 'overcast', 'dusk', 'backlight'],
                      p=[.3, .3, .15, .13, .12])
    if kind == 'clear':
        img = _vertical_gradient(h, w, rng.uniform([.25, .45, .75], [.45, .65, .95]),
                                 rng.uniform([.65, .78, .9], [.85, .9, 1.0]))
    elif kind == 'dusk':
        img = _vertical_gradient(h, w, rng.uniform([.2, .2, .4], [.4, .3, .6]),
                                 rng.uniform([.85, .45, .25], [1.0, .65, .4]))
    elif kind == 'overcast':
        g = rng.uniform(.55, .8)
        img = _vertical_gradient(h, w, [g - .05] * 3, [g + .1] * 3)
    else:  # clouds or backlight start from a clear sky
        img = _vertical_gradient(h, w, rng.uniform([.3, .5, .8], [.45, .65, .95]),
                                 rng.uniform([.7, .8, .9], [.85, .9, 1.0]))
    if kind in ('clouds', 'overcast'):
        cover = _smooth_noise(rng, h, w, cells=int(rng.integers(2, 5)), octaves=4)
        thr = rng.uniform(.35, .6)
        alpha = np.clip((cover - thr) / (1 - thr) * 1.6, 0, 1)[..., None]
        cloud = rng.uniform(.8, 1.0) - .25 * (1 - cover[..., None])
        img = (1 - alpha) * img + alpha * cloud
    if kind == 'backlight':
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx = rng.uniform(0, .4 * h), rng.uniform(0, w)
        r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / max(h, w)
        glow = np.exp(-(r / rng.uniform(.15, .35)) ** 2)[..., None]
        img = np.clip(img + glow * 0.9, 0, 1)
    return img.astype(np.float32), str(kind)


def _ground(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Aerial-looking ground: textured fields, roads, building blocks, sometimes water."""
    base = rng.uniform([.2, .25, .12], [.5, .5, .35])
    tex = _smooth_noise(rng, h, w, cells=int(rng.integers(3, 8)), octaves=4)[..., None]
    img = base * (0.7 + 0.6 * tex)
    if rng.random() < .3:  # water
        water = _smooth_noise(rng, h, w, cells=2, octaves=2) > rng.uniform(.55, .75)
        img[water] = rng.uniform([.1, .2, .3], [.2, .35, .45])
    for _ in range(int(rng.integers(0, 6))):  # buildings with window grids
        bw, bh = int(rng.integers(w // 12, w // 4)), int(rng.integers(h // 10, h // 3))
        x0, y0 = int(rng.integers(0, max(1, w - bw))), int(rng.integers(0, max(1, h - bh)))
        tone = rng.uniform(.3, .8)
        img[y0:y0 + bh, x0:x0 + bw] = tone * rng.uniform(.9, 1.1, 3)
        step = int(rng.integers(4, 9))
        img[y0:y0 + bh:step, x0:x0 + bw] *= .8
        img[y0:y0 + bh, x0:x0 + bw:step] *= .8
    for _ in range(int(rng.integers(0, 4))):  # roads
        width = int(rng.integers(3, 10))
        tone = rng.uniform(.25, .45)
        if rng.random() < .5:
            y = int(rng.integers(0, h))
            img[y:y + width] = tone
        else:
            x = int(rng.integers(0, w))
            img[:, x:x + width] = tone
    return np.clip(img, 0, 1).astype(np.float32)


def _background(rng: np.random.Generator, profile: Profile, h: int, w: int
                ) -> tuple[np.ndarray, bool]:
    """The background and whether it is mostly sky (for the drone's colour)."""
    if rng.random() < profile.sky_fraction:
        img, kind = _sky(rng, h, w)
        if rng.random() < profile.ground_band:
            horizon = int(rng.uniform(.55, .85) * h)
            ground = _ground(rng, h - horizon, w)
            if rng.random() < .5:  # a mountain ridge instead of a straight horizon
                ridge = _smooth_noise(rng, 1, w, cells=4, octaves=2)[0]
                tops = (horizon - ridge * .25 * h).astype(int)
                mask = np.arange(h)[:, None] >= tops[None, :]
                mountain = _ground(rng, h, w) * .8
                img = np.where(mask[..., None], mountain, img)
            img[horizon:] = ground
        return img, kind != 'backlight'
    return _ground(rng, h, w), False


# ----------------------------------------------------------------------------- drones
def _shape_mask(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of a drone shape in normalised coordinates; its extent is exactly [-1, 1]^2."""
    if kind == 'quad':
        rotors = np.zeros(u.shape, bool)
        for su in (-1, 1):
            for sv in (-1, 1):
                rotors |= (u - .65 * su) ** 2 + (v - .65 * sv) ** 2 <= .35 ** 2
        arms = (np.abs(np.abs(u) - np.abs(v)) < .18) & (np.abs(u) <= .8)
        return rotors | arms | (u ** 2 + v ** 2 <= .3 ** 2)
    if kind == 'hexa':
        out = u ** 2 + v ** 2 <= .3 ** 2
        for cu, cv in ((.72, 0), (-.72, 0), (.36, .72), (-.36, .72), (.36, -.72), (-.36, -.72)):
            out |= (u - cu) ** 2 + (v - cv) ** 2 <= .28 ** 2
        return out
    if kind == 'wing':
        wing = (np.abs(v + .1) < .18) & (np.abs(u) <= 1)
        body = (np.abs(u) < .14) & (np.abs(v) <= 1)
        tail = (v > .7) & (np.abs(u) < .4)
        return wing | body | tail
    return u ** 2 + v ** 2 <= 1.0  # blob


def _render_alpha(kind: str, x0: float, y0: float, bw: float, bh: float,
                  ss: int = 4) -> tuple[int, int, np.ndarray]:
    """Anti-aliased coverage of a shape filling the box (x0, y0, bw, bh) on the pixel grid."""
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    ix1, iy1 = int(np.ceil(x0 + bw)), int(np.ceil(y0 + bh))
    offs = (np.arange(ss, dtype=np.float32) + .5) / ss
    xs = (np.arange(ix0, ix1, dtype=np.float32)[:, None] + offs[None, :]).ravel()
    ys = (np.arange(iy0, iy1, dtype=np.float32)[:, None] + offs[None, :]).ravel()
    u = (xs[None, :] - (x0 + bw / 2)) / (bw / 2)
    v = (ys[:, None] - (y0 + bh / 2)) / (bh / 2)
    inside = _shape_mask(kind, np.broadcast_to(u, (len(ys), len(xs))),
                         np.broadcast_to(v, (len(ys), len(xs))))
    inside &= (np.abs(u) <= 1) & (np.abs(v) <= 1)
    alpha = inside.reshape(iy1 - iy0, ss, ix1 - ix0, ss).mean(axis=(1, 3))
    return ix0, iy0, alpha.astype(np.float32)


def _boxes(rng: np.random.Generator, profile: Profile, h: int, w: int, n: int) -> list[list[float]]:
    """Up to n boxes (x, y, w, h) inside the image, overlapping each other little."""
    mu = np.log(profile.mean_size) - profile.size_sigma ** 2 / 2
    boxes: list[list[float]] = []
    for _ in range(n * 4):
        if len(boxes) == n:
            break
        size = float(np.clip(np.exp(rng.normal(mu, profile.size_sigma)), profile.min_size,
                             min(profile.max_size, h / 2, w / 2)))
        aspect = float(rng.uniform(.65, 1.55))
        bw, bh = size * np.sqrt(aspect), size / np.sqrt(aspect)
        x0, y0 = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
        if any(min(x0 + bw, b[0] + b[2]) - max(x0, b[0]) > -1
               and min(y0 + bh, b[1] + b[3]) - max(y0, b[1]) > -1 for b in boxes):
            continue  # touching or overlapping an earlier drone: draw again
        boxes.append([x0, y0, bw, bh])
    return boxes


def render_image(seed: int, index: int, profile: Profile, width: int, height: int
                 ) -> tuple[np.ndarray, list[list[float]]]:
    """Draw image ``index`` of the set made with ``seed``.

    Returns:
        (BGR uint8 image of shape (height, width, 3), list of boxes [x, y, w, h] in pixels).
    """
    rng = np.random.default_rng([seed, index])
    img, on_sky = _background(rng, profile, height, width)
    n = int(np.clip(rng.poisson(profile.mean_objects), 1, None))
    boxes = _boxes(rng, profile, height, width, n)
    out = []
    for x0, y0, bw, bh in boxes:
        kind = str(rng.choice(['quad', 'hexa', 'wing', 'blob'], p=[.4, .2, .25, .15]))
        ix0, iy0, alpha = _render_alpha(kind, x0, y0, bw, bh)
        patch = img[iy0:iy0 + alpha.shape[0], ix0:ix0 + alpha.shape[1]]
        local = patch.reshape(-1, 3).mean(axis=0)
        if on_sky:
            color = rng.uniform(.03, .3, 3) if rng.random() < .8 else local * rng.uniform(.6, .8)
        else:
            lum = float(local.mean())
            color = rng.uniform(.75, 1.0, 3) if lum < .5 else rng.uniform(0, .2, 3)
            if rng.random() < .3:
                color = rng.uniform(0, 1, 3)
        a = alpha[..., None] * rng.uniform(.8, 1.0)
        patch[...] = (1 - a) * patch + a * color
        out.append([round(x0, 2), round(y0, 2), round(bw, 2), round(bh, 2)])
    if rng.random() < .4:
        sigma = float(rng.uniform(.4, 1.0))
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img + rng.normal(0, rng.uniform(.005, .03), img.shape).astype(np.float32)
    bgr = np.clip(img[..., ::-1] * 255 + .5, 0, 255).astype(np.uint8)
    return bgr, out


def _coco(images: list[dict], anns: list[dict], info: dict) -> dict:
    return {'info': info, 'images': images, 'annotations': anns, 'categories': CATEGORIES}


def make_synthetic(out: str | os.PathLike, images: int, seed: int = 0, width: int = 320,
                   height: int = 192, profile: str = 'droneswarms', test_fraction: float = 0.25
                   ) -> dict[str, int]:
    """Write ``out/train.json``, ``out/test.json`` and ``out/images/*.png``.

    Args:
        out: output folder.
        images: number of images in both splits together (at least 2).
        seed: the seed; the same seed gives byte-identical files.
        width: image width in pixels.
        height: image height in pixels.
        profile: one of ``PROFILES``.
        test_fraction: share of the images that go to ``test.json`` (at least one each split).

    Returns:
        counts: {'train_images', 'test_images', 'train_objects', 'test_objects'}.
    """
    if profile not in PROFILES:
        raise InputError(f'unknown profile {profile!r}; expected one of {list(PROFILES)}')
    if images < 2:
        raise InputError(f'--images must be at least 2 (one per split), got {images}')
    if width < 32 or height < 32:
        raise InputError(f'--width and --height must be at least 32 px, got {width}x{height}')
    if not 0 < test_fraction < 1:
        raise InputError(f'--test-fraction must lie in (0, 1), got {test_fraction}')
    prof = PROFILES[profile]
    out = Path(out)
    n_test = min(images - 1, max(1, int(round(images * test_fraction))))
    order = np.random.default_rng([seed, 2 ** 31]).permutation(images)
    test_ids = set(int(i) for i in order[:n_test])
    info = {'description': f'srtod synthetic {profile}', 'seed': seed, 'profile': profile,
            'generator_version': GENERATOR_VERSION}
    splits: dict[str, tuple[list, list]] = {'train': ([], []), 'test': ([], [])}
    for i in range(images):
        bgr, boxes = render_image(seed, i, prof, width, height)
        name = f'{profile}_{seed}_{i:06d}.png'
        ok, buf = cv2.imencode('.png', bgr)
        if not ok:
            raise InputError('could not encode a PNG image', path=out / 'images' / name)
        write_bytes(out / 'images' / name, buf.tobytes())
        imgs, anns = splits['test' if i in test_ids else 'train']
        imgs.append({'id': i + 1, 'file_name': name, 'width': width, 'height': height})
        for b in boxes:
            anns.append({'id': len(anns) + 1, 'image_id': i + 1, 'category_id': 1, 'bbox': b,
                         'area': round(b[2] * b[3], 4), 'iscrowd': 0, 'ignore': 0})
    counts = {}
    for split, (imgs, anns) in splits.items():
        write_text(out / f'{split}.json', json.dumps(_coco(imgs, anns, info), indent=1) + '\n')
        counts[f'{split}_images'] = len(imgs)
        counts[f'{split}_objects'] = len(anns)
    return counts
