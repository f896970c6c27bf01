"""Photos of real faces that packages ship (scikit-image's astronaut, matplotlib's Grace Hopper),
transformed copies of them as "same person" photos, group shots and data folders made from them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook as cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


def variants(rgb: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` plausible other photos of the same face: shifted crop, scale, brightness,
    contrast, mirror, small rotation."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rgb)
    out = []
    for k in range(n):
        im = base
        w, h = im.size
        dx, dy = rng.integers(-w // 12, w // 12 + 1, size=2)
        im = im.crop((max(0, dx), max(0, dy), min(w, w + dx), min(h, h + dy)))
        scale = rng.uniform(0.7, 1.2)
        im = im.resize((int(im.width * scale), int(im.height * scale)))
        im = im.rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BILINEAR)
        im = ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.75, 1.25)))
        im = ImageEnhance.Contrast(im).enhance(float(rng.uniform(0.8, 1.2)))
        if k % 2:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(np.asarray(im))
    return out


def encode(rgb: np.ndarray, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_people(root: Path, per_person: int = 6, seed: int = 0) -> Path:
    """``root/<person>/*.jpg`` for two real people."""
    for name, img in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, v in enumerate(variants(img, per_person, seed)):
            (folder / f"{name}_{i:02d}.jpg").write_bytes(encode(v, quality=90))
    return root


def group_shot(faces: list[np.ndarray], heights: list[int]) -> np.ndarray:
    """Photos pasted side by side on a grey canvas, each scaled to the given height."""
    tiles = []
    for rgb, h in zip(faces, heights, strict=True):
        im = Image.fromarray(rgb)
        tiles.append(im.resize((int(im.width * h / im.height), h)))
    width = sum(t.width for t in tiles) + 40 * (len(tiles) + 1)
    height = max(t.height for t in tiles) + 80
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    x = 40
    for t in tiles:
        canvas.paste(t, (x, 40))
        x += t.width + 40
    return np.asarray(canvas)
