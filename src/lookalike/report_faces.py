"""Report sections on which face was used and which photos are distrusted, per person, with
the face itself beside each line (``train --report`` and ``evaluate --report``)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from .names import display_name


def faces_by_person(title: str, rows: Sequence[dict], data_root: Path, out: Path,
                    folder: str, explain: str = "") -> list[str]:
    """A section ``title`` listing ``rows`` (each ``{"photo", "person", "why", "box"}``,
    ``photo`` relative to ``data_root``) per person, each with its face as a thumbnail
    written under ``out/folder``."""
    from .report import face_img

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
