"""The faces in the reports: a face's thumbnail from its photo and box, and the sections on which
face was used and which photos are distrusted, per person, with the face itself beside each
line (``train --report`` and ``evaluate --report``)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.errors import LookalikeError
from lookalike.names import display_name

#: Pixels of a face thumbnail in the reports.
THUMB_PX = 144


def face_thumbnail(photo: Path, box: Sequence[float], size: int = THUMB_PX) -> bytes | None:
    """A square JPEG around a face box given in the photo's pixels (after EXIF orientation);
    None when the photo cannot be read."""
    import io

    from PIL import Image

    from lookalike.photos.images import load_image

    try:
        rgb = load_image(photo)
    except (LookalikeError, OSError):
        return None
    h, w = rgb.shape[:2]
    x, y, bw, bh = (float(v) for v in box)
    side = max(bw, bh) * 1.5
    cx, cy = x + bw / 2, y + bh / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    # Pad with grey where the square leaves the photo.
    canvas = np.full((s, s, 3), 200, np.uint8)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(w, x0 + s), min(h, y0 + s)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    im = Image.fromarray(canvas).resize((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def face_img(out: Path, name: str, photo: Path, box: Sequence[float] | None) -> str:
    """The ``<img>`` of a face (its thumbnail written to ``out/name``), or a "photo not
    found" box when the photo cannot be read."""
    jpg = face_thumbnail(photo, box) if box else None
    if not jpg:
        return "<div class='miss'>photo not found</div>"
    (out / name).write_bytes(jpg)
    return f"<img src='{name}' alt='{html.escape(photo.name)}'>"



def faces_by_person(title: str, rows: Sequence[dict], data_root: Path, out: Path,
                    folder: str, explain: str = "") -> list[str]:
    """A section ``title`` listing ``rows`` (each ``{"photo", "person", "why", "box"}``,
    ``photo`` relative to ``data_root``) per person, each with its face as a thumbnail
    written under ``out/folder``."""
    parts = [f"<h2>{html.escape(title)} ({len(rows)})</h2>"]
    if explain:
        parts.append(f"<p class='muted'>{html.escape(explain)}</p>")
    if not rows:
        parts.append("<p>None.</p>")
        return parts
    thumbs = out / folder
    thumbs.mkdir(exist_ok=True)
    for old in thumbs.glob("[0-9][0-9][0-9][0-9].jpg"):  # a previous report's
        old.unlink()
    by_person: dict[str, list[dict]] = {}
    for r in rows:
        by_person.setdefault(r["person"], []).append(r)
    k = 0
    for person in sorted(by_person):
        parts.append(f"<h3>{html.escape(display_name(person))} "
                     f"({len(by_person[person])})</h3><div class='grid'>")
        for r in by_person[person]:
            k += 1
            img = face_img(out, f"{folder}/{k:04d}.jpg", data_root / r["photo"], r.get("box"))
            parts.append(f"<div class='card'>{img}<div>{html.escape(r['why'])}"
                         f"<div class='path'>{html.escape(r['photo'])}</div></div></div>")
        parts.append("</div>")
    return parts


def train_rows(items: Sequence[tuple[str, str]], faces: dict[str, list[float]],
               people: Sequence[str]) -> list[dict]:
    """(photo, why) pairs of a training report as rows; the person is the photo's folder."""
    rows = []
    for photo, why in items:
        person = next((p for p in people if f"/{p}/" in f"/{photo}"), "?")
        rows.append({"photo": photo, "person": person, "why": why, "box": faces.get(photo)})
    return rows
