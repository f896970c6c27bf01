"""``lookalike group --report DIR``: DIR/index.html shows each group as a strip of faces, the
most typical first, with its size and tightness, and the faces it was unsure of; then the
faces that matched nobody. One self-contained page (the faces are inlined JPEGs)."""

from __future__ import annotations

import base64
from pathlib import Path

from lookalike.grouping.model import FaceItem, Grouping
from lookalike.pictures.html_page import escape, kpis, page, report_folder, write_page

#: Faces shown per strip (the rest are counted).
STRIP = 24
EXTRA_CSS = """<style>.strip{display:flex;flex-wrap:wrap;gap:4px;margin:6px 0 14px}
.strip figure{margin:0;width:72px;font-size:.7em;color:#555;text-align:center}
.strip img{width:72px;height:72px;object-fit:cover;border-radius:4px;border:2px solid #fff}
.strip figure.unsure img{border-color:#d08b00}.group h3{margin:.9em 0 .1em;font-size:1.05em}
.more{align-self:center;color:#777;font-size:.85em;padding:0 8px}</style>"""


def _face(f: FaceItem, thumbs: dict[str, bytes], *, label: str = "") -> str:
    data = thumbs.get(f.key, b"")
    img = (f'<img alt="" src="data:image/jpeg;base64,{base64.b64encode(data).decode()}">'
           if data else '<img alt="(no picture)">')
    tip = escape(f"{f.photo}" + (f" — similarity {f.similarity:.2f}"
                             if f.similarity is not None else ""))
    cls = ' class="unsure"' if f.unsure else ""
    return f'<figure{cls} title="{tip}">{img}<figcaption>{escape(label)}</figcaption></figure>'


def _strip(faces: list[FaceItem], thumbs: dict[str, bytes], n: int = STRIP) -> str:
    cells = [_face(f, thumbs, label="" if f.similarity is None else f"{f.similarity:.2f}")
             for f in faces[:n]]
    if len(faces) > n:
        cells.append(f'<span class="more">… and {len(faces) - n} more</span>')
    return '<div class="strip">' + "".join(cells) + "</div>"


def write_group_report(result: Grouping, out_dir: str | Path) -> Path:
    """Write the report; returns the page's path."""
    out = report_folder(out_dir)
    thumbs = result.thumbs
    groups = sorted(result.groups, key=lambda g: (-len(g.faces), g.id))
    n_faces = sum(len(g.faces) for g in groups) + len(result.unsorted)
    body = ["<h1>Who is in these photos?</h1>",
            f'<p class="muted">{n_faces} faces; {result.algorithm} grouping at cosine '
            f"similarity {result.threshold:.3f} ({escape(result.embedder.get('name', ''))}). "
            "Each strip starts with the group's most typical face; the number under a face is "
            "its similarity to the group's centre; an orange frame marks a face the group is "
            "unsure of (below the same-person threshold: it joined through other faces).</p>",
            kpis([("groups", str(len(groups))),
                   ("named", str(sum(1 for g in groups if g.name))),
                   ("faces in groups", str(n_faces - len(result.unsorted))),
                   ("unsorted", str(len(result.unsorted))),
                   ("skipped photos", str(len(result.skipped)))]), EXTRA_CSS]
    for g in groups:
        unsure = [f for f in g.faces if f.unsure]
        title = f"{g.name} (group {g.id})" if g.name else f"group {g.id}"
        body.append(f'<div class="group"><h3>{escape(title)} — {len(g.faces)} faces, tightness '
                    f"{g.tightness:.2f}" + (f", unsure of {len(unsure)}" if unsure else "")
                    + "</h3>" + _strip(g.faces, thumbs)
                    + (f'<div class="muted">Unsure of:</div>{_strip(unsure, thumbs, 12)}'
                       if unsure else "") + "</div>")
    if result.unsorted:
        body.append(f"<h2>Unsorted: {len(result.unsorted)} faces that match nobody</h2>"
                    + _strip(result.unsorted, thumbs, 60))
    if result.skipped:
        body.append("<h2>Skipped photos</h2><ul>" + "".join(
            f"<li><code>{escape(p)}</code>: {escape(w)}</li>" for p, w in result.skipped[:200])
            + "</ul>")
    return write_page(out / "index.html", page("Who is in these photos?", "\n".join(body)))
