"""Synthetic classification crops: the stand-in for ImageNet when the slim tiers pretrain.

The paper starts every backbone from ImageNet weights (section 4.1); the slim tiers cannot
download them, so :mod:`srtod.engine.pretrain` trains each slim backbone once per tier on a
classification task over crops drawn here. A crop is a background of one of the four synthetic
profiles (sky, sometimes with a ground band, or aerial ground; :mod:`srtod.data.synth`) holding
either nothing or one object of one of the four drone shapes (half the crops sky, half
ground), at a random place and a
log-uniform size. The label is the pair (shape or none, sky or ground): ``2 * shape + ground``
with ``shape`` the index in :data:`SHAPES` (0 = no object), so there are 10 classes.

Disjoint from every test split: crop ``i`` of seed ``s`` is drawn from
``numpy.random.default_rng([CROP_STREAM, s, i])``, a stream of three words, while every image
of ``srtod synth`` comes from a two-word stream ``[seed, i]``; so no crop is a piece of a test
(or train) image, whatever the seeds. The crops are rendered at their own size, not cut from
the detection images.
"""
from __future__ import annotations

import numpy as np

from srtod.data.synth import PROFILES, _background, _render_alpha
from srtod.errors import InputError

__all__ = ['SHAPES', 'NUM_CLASSES', 'CROP_STREAM', 'render_crop', 'make_crops', 'label_name']

#: index 0 is "no object"; the others are the shapes of :mod:`srtod.data.synth`.
SHAPES = ('none', 'quad', 'hexa', 'wing', 'blob')
NUM_CLASSES = 2 * len(SHAPES)
#: first word of every crop's random stream (``srtod synth`` streams have two words).
CROP_STREAM = 0x5052_4554  # "PRET"
#: the profiles whose backgrounds are aerial ground (the others' are sky).
GROUND_PROFILES = tuple(sorted(name for name, p in PROFILES.items() if p.sky_fraction < .5))


def label_name(label: int) -> str:
    """``'<shape> on <sky|ground>'`` of a class index."""
    if not 0 <= int(label) < NUM_CLASSES:
        raise InputError(f'crop label must lie in [0, {NUM_CLASSES}), got {label}')
    return f"{SHAPES[int(label) // 2]} on {'ground' if int(label) % 2 else 'sky'}"


def render_crop(seed: int, index: int, size: int = 64, min_object: float = 3.0,
                max_object: float = 32.0) -> tuple[np.ndarray, int]:
    """Draw crop ``index`` of the set of ``seed``.

    Args:
        seed: the set's seed.
        index: the crop's index.
        size: side of the square crop in pixels.
        min_object: smallest object side (pixels), log-uniform up to ``max_object``.
        max_object: largest object side, capped at ``size``.

    Returns:
        (RGB uint8 crop of shape (size, size, 3), class label).
    """
    rng = np.random.default_rng([CROP_STREAM, int(seed), int(index)])
    ground = int(rng.random() < .5)  # half sky (the DroneSwarms profile), half aerial ground
    profile = PROFILES[str(rng.choice(GROUND_PROFILES))] if ground else PROFILES['droneswarms']
    img, on_sky = _background(rng, profile, size, size)
    shape = int(rng.integers(0, len(SHAPES)))
    if shape:
        side = float(np.exp(rng.uniform(np.log(min_object), np.log(min(max_object, size)))))
        aspect = float(rng.uniform(.65, 1.55))
        bw, bh = min(side * np.sqrt(aspect), size - 1.0), min(side / np.sqrt(aspect), size - 1.0)
        x0, y0 = float(rng.uniform(0, size - bw)), float(rng.uniform(0, size - bh))
        ix0, iy0, alpha = _render_alpha(SHAPES[shape], x0, y0, bw, bh)
        patch = img[iy0:iy0 + alpha.shape[0], ix0:ix0 + alpha.shape[1]]
        alpha = alpha[:patch.shape[0], :patch.shape[1]]
        local = patch.reshape(-1, 3).mean(axis=0)
        if on_sky:
            color = rng.uniform(.03, .3, 3) if rng.random() < .8 else local * rng.uniform(.6, .8)
        else:
            color = rng.uniform(.75, 1.0, 3) if local.mean() < .5 else rng.uniform(0, .2, 3)
            if rng.random() < .3:
                color = rng.uniform(0, 1, 3)
        a = alpha[..., None] * rng.uniform(.8, 1.0)
        patch[...] = (1 - a) * patch + a * color
    if rng.random() < .4:
        import cv2
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(.4, 1.0)))
    img = img + rng.normal(0, rng.uniform(.005, .03), img.shape).astype(np.float32)
    return np.clip(img * 255 + .5, 0, 255).astype(np.uint8), 2 * shape + ground


def make_crops(count: int, seed: int = 0, size: int = 64, start: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Crops ``start .. start+count-1`` of ``seed`` as arrays.

    Returns:
        (uint8 images (count, size, size, 3) RGB, int64 labels (count,)).
    """
    if count < 1:
        raise InputError(f'the number of crops must be at least 1, got {count}')
    if size < 32:
        raise InputError(f'crops must be at least 32 px (the backbone strides 32), got {size}')
    images = np.empty((count, size, size, 3), np.uint8)
    labels = np.empty(count, np.int64)
    for k in range(count):
        images[k], labels[k] = render_crop(seed, start + k, size)
    return images, labels
