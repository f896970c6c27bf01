"""Look-alike cards: one PNG that shows whom each face resembles, and why.

One row per face (several faces in a photo, several photos): the photo with every face box and
its 5 landmarks (the face of the row drawn thick in the colour of its top match), the aligned
face the model sees, a Grad-CAM heat map when the model offers one (the article's CNN), the
ranked percentages as horizontal bars (highest on top, the percentage on each bar) and the
closest training photos of the top matches with their cosine similarity. A face not close
enough to anyone's photos says "none of these" plainly. With ``together``, a last row shows the
combined verdict. Colours follow the person (:func:`lookalike.pictures.plots.person_color`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.answer.ranking import FaceResult, PhotoResult, Verdict
from lookalike.errors import ImageError, LookalikeError
from lookalike.names import display_name
from lookalike.photos.images import PhotoSource
from lookalike.pictures.card_panels import (
    axes_at,
    cam_base,
    draw_bars,
    draw_face,
    draw_photo,
    draw_thumb,
    draw_title,
    gradcam_map,
)
from lookalike.pictures.fonts import check_names
from lookalike.pictures.plots import (
    TEXT_COLOR,
    decode_jpeg,
    person_color,
    save_png,
    style,
)
from lookalike.pictures.text import pct, shorten
from lookalike.pictures.why_card import WHY_ROW_H, draw_why_row, shows

if TYPE_CHECKING:
    from lookalike.models.recognizer import Recognizer

DPI = 100
ROW_H = 3.0  # inches per face row
TITLE_H = 0.42
PANEL_H = 2.3
BAR_H = 0.36  # inches per bar: room for a name on two lines
PHOTO_W = 3.0
FACE_W = 1.55
NAME_W = 1.9  # room for the bar labels
BARS_W = 2.7
THUMB_W = 1.3
GAP = 0.18
MARGIN = 0.2


@dataclass
class CardRow:
    """What one row of a card shows (returned for tests and callers)."""

    photo: str
    face: int | None  # index of the face in the photo; None: a photo without a face
    order: list[str] = field(default_factory=list)  # people in bar order, top to bottom
    unknown: bool = False
    nearest: list[str] = field(default_factory=list)  # people whose training photo is shown
    gradcam: bool = False
    message: str | None = None


@dataclass
class Card:
    path: Path
    rows: list[CardRow]
    size: tuple[int, int]  # (width, height) in pixels


def _photo_image(source: PhotoSource | None, result: PhotoResult) -> np.ndarray | None:
    """The photo decoded as the pipeline decodes it (face boxes are scaled to it): the one
    the answer kept (``predict_many(..., keep_images=True)``), else decoded here."""
    from lookalike.face.pipeline import decode_for_faces
    from lookalike.photos.images import read_bytes

    if result.image is not None:
        return result.image
    src = source if source is not None else result.photo
    try:
        return decode_for_faces(read_bytes(src))[0]
    except (ImageError, LookalikeError, OSError):
        return None


@dataclass
class _Sheet:
    """One card being drawn: the figure, its size in inches and what every row shows."""

    fig: Any
    plt: Any
    W: float
    H: float
    model: Recognizer
    labels: list[str]
    top: int
    bars_h: float
    has_cam: bool
    n_thumbs: int

    def axes(self, x: float, y: float, w: float, h: float) -> Any:
        return axes_at(self.fig, x, y, w, h, self.W, self.H)

    def title(self, y: float, text: str, sub: str, color: str) -> None:
        draw_title(self.fig, MARGIN, y, self.W, self.H, text, sub, color)

    def rule(self, y0: float, color: str = "#dddddd", lw: float = 1) -> None:
        self.fig.add_artist(self.plt.Line2D([MARGIN / self.W, 1 - MARGIN / self.W],
                                            [1 - y0 / self.H] * 2, color=color, lw=lw))


def render_card(model: Recognizer, results: Sequence[PhotoResult], out: str | Path, *,
                sources: Sequence[PhotoSource | None] | None = None,
                verdict: Verdict | None = None, top: int | None = None,
                nearest: int = 3) -> Card:
    """Draw one card for all faces of ``results`` (from ``model.predict``/``predict_many``)
    into ``out`` (PNG, written atomically). ``sources``: the photos (paths or bytes) in the
    order of ``results``, when ``result.photo`` is not a readable path. ``top``: bars shown
    (default 5; the rest is one grey bar). ``nearest``: closest training photos shown."""
    out = Path(out)
    if out.is_dir():
        raise LookalikeError("is a folder", out, "give a file name for the card, e.g. card.png")
    if not out.parent.exists():
        raise LookalikeError(f"folder {out.parent} does not exist", out, "create it first")
    labels = list(model.labels)
    check_names(labels)
    top = max(1, top or 5)
    results, plan, images = _plan(results, sources)
    heats = {(i, k): gradcam_map(model, images[i], results[i].faces[k])
             for i, k in plan if k is not None and images[i] is not None}
    has_cam = any(h is not None for h in heats.values())
    n_thumbs = nearest if model.has_thumbnails else 0

    W = (MARGIN + PHOTO_W + GAP + FACE_W + GAP + (FACE_W + GAP if has_cam else 0)
         + NAME_W + BARS_W + GAP + n_thumbs * (THUMB_W + GAP) + MARGIN)
    W = max(W, 9.0)
    n_bars = min(top, len(labels)) + (1 if len(labels) > top else 0)
    bars_h = max(PANEL_H - 0.3, BAR_H * n_bars)  # more bars: a taller row, never cramped
    face_h = ROW_H + bars_h - (PANEL_H - 0.3)
    verdict_h = face_h if verdict is not None else 0.0
    header_h = 0.15
    whys = {(i, k): _top_why(results[i].faces[k]) for i, k in plan if k is not None}
    heights = [(face_h + (WHY_ROW_H if whys.get((i, k)) is not None else 0.0))
               if k is not None or images[i] is not None else 0.75 for i, k in plan]
    tops = [header_h + sum(heights[:n]) for n in range(len(plan))]
    H = header_h + sum(heights) + verdict_h + 0.1
    rows: list[CardRow] = []
    with style() as plt:
        sheet = _Sheet(plt.figure(figsize=(W, H), dpi=DPI), plt, W, H, model, labels, top,
                       bars_h, has_cam, n_thumbs)
        for n, (i, k) in enumerate(plan):
            if n > 0:
                sheet.rule(tops[n])
            if k is None:
                rows.append(_no_face_row(sheet, results[i], images[i], tops[n]))
            else:
                rows.append(_face_row(sheet, results[i], k, images[i], heats.get((i, k)),
                                      tops[n]))
                why = whys.get((i, k))
                if why is not None:  # why the face looks like its top match
                    person = display_name(results[i].faces[k].top.person)
                    draw_why_row(sheet.fig, sheet.axes, MARGIN, tops[n] + face_h, W - 2 * MARGIN,
                                 why, ("this face", f"{person}'s closest photo"))
        if verdict is not None:
            rows.append(_verdict_row(sheet, verdict, header_h + sum(heights)))
        save_png(sheet.fig, out, dpi=DPI)
    size = (round(W * DPI), round(H * DPI))
    return Card(out, rows, size)


def _top_why(fr: FaceResult) -> Any:
    """The top match's explanation (``predict --why``), when there is one to draw."""
    why = fr.ranking[0].why if fr.ranking else None
    return why if shows(why) else None


def _plan(results: Sequence[PhotoResult], sources: Sequence[PhotoSource | None] | None
          ) -> tuple[list[PhotoResult], list[tuple[int, int | None]],
                     dict[int, np.ndarray | None]]:
    """What each row shows — (result index, face index or None) — and each photo decoded,
    its faces' boxes scaled to the decoded pixels."""
    sources = list(sources) if sources is not None else [None] * len(results)
    plan: list[tuple[int, int | None]] = []
    images: dict[int, np.ndarray | None] = {}
    results = list(results)
    for i, r in enumerate(results):
        images[i] = rgb = _photo_image(sources[i], r)
        if rgb is not None and r.image_size and r.image_size[0] != rgb.shape[1]:
            # boxes are in the photo's full pixels; the card draws the decoded photo
            k = rgb.shape[1] / r.image_size[0]
            results[i] = r = replace(r, faces=[replace(fr, face=fr.face.scaled(k))
                                               for fr in r.faces])
        if r.faces:
            plan += [(i, k) for k in range(len(r.faces))]
        else:
            plan.append((i, None))
    return results, plan, images


def _no_face_row(sheet: _Sheet, r: PhotoResult, rgb: np.ndarray | None, y0: float) -> CardRow:
    name = Path(r.photo).name if r.photo else "photo"
    msg = r.error or "no face found"
    sheet.title(y0 + 0.05, shorten(name, 70), msg, "#C44E52")
    if rgb is not None:
        ax = sheet.axes(MARGIN, y0 + TITLE_H + 0.1, PHOTO_W, PANEL_H)
        draw_photo(ax, rgb, [], None, sheet.labels)
    return CardRow(r.photo, None, message=msg)


def _face_title(sheet: _Sheet, r: PhotoResult, k: int, y0: float) -> None:
    fr = r.faces[k]
    name = Path(r.photo).name if r.photo else "photo"
    where = f" — face {k + 1} of {len(r.faces)}" if len(r.faces) > 1 else ""
    if fr.unknown:
        thr = sheet.model.threshold
        t = f" < {thr:.2f}" if isinstance(thr, float) else ""
        best = fr.best_similarity
        sims = f" (best similarity {best:.2f}{t})" if best is not None else ""
        sub = (f"none of these — not close enough to anyone's photos{sims}; "
               f"resembles {display_name(fr.top.person)} most")
        sub_color = "#C44E52"
    else:
        sub = f"looks most like {display_name(fr.top.person)} ({pct(fr.top.probability)})"
        sub_color = TEXT_COLOR
    sheet.title(y0 + 0.05, shorten(name, 60) + where, sub, sub_color)


def _face_row(sheet: _Sheet, r: PhotoResult, k: int, rgb: np.ndarray | None,
              heat: np.ndarray | None, y0: float) -> CardRow:
    """The photo, the aligned face, Grad-CAM (when the model offers it), the bars and the
    closest training photos of face ``k``."""
    fr = r.faces[k]
    _face_title(sheet, r, k, y0)
    py = y0 + TITLE_H + 0.1
    x = MARGIN
    row = CardRow(r.photo, k, unknown=bool(fr.unknown))
    if rgb is not None:
        draw_photo(sheet.axes(x, py, PHOTO_W, PANEL_H), rgb, r.faces, k, sheet.labels)
    x += PHOTO_W + GAP
    face_img = None
    if rgb is not None:
        from lookalike.face.detector import align

        face_img = align(rgb, fr.face, size=160, margin=0.1)
        draw_face(sheet.axes(x, py + 0.1, FACE_W, FACE_W), face_img, "aligned face")
    x += FACE_W + GAP
    if sheet.has_cam:
        if heat is not None and face_img is not None:
            base = cam_base(sheet.model, rgb, fr, face_img, heat.shape)
            draw_face(sheet.axes(x, py + 0.1, FACE_W, FACE_W), base, "Grad-CAM", heat)
            row.gradcam = True
        x += FACE_W + GAP
    x += NAME_W
    ax = sheet.axes(x, py + 0.05, BARS_W, sheet.bars_h)
    row.order = draw_bars(ax, fr.ranking, sheet.labels, sheet.top, bool(fr.unknown))
    ax.set_xlabel("probability", fontsize=8.5, labelpad=2)
    if fr.unknown:
        ax.text(0.98, 0.02, "none of these", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=11, fontweight="bold", color="#C44E52",
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#C44E52"})
    x += BARS_W + GAP
    _nearest_thumbs(sheet, fr, row, x, py)
    return row


def _nearest_thumbs(sheet: _Sheet, fr: FaceResult, row: CardRow, x: float, py: float) -> None:
    for j in range(min(sheet.n_thumbs, len(fr.ranking))):
        m = fr.ranking[j]
        idx = fr.nearest[j] if j < len(fr.nearest) else None
        img = decode_jpeg(sheet.model.thumbnail(idx)) if idx is not None else None
        ax = sheet.axes(x, py + 0.1, THUMB_W, THUMB_W)
        draw_thumb(ax, img, m.person, m.similarity, person_color(sheet.labels, m.person))
        if j == 0:
            ax.set_title("closest training photos", fontsize=9, loc="left",
                         color="#555555", pad=4)
        row.nearest.append(m.person)
        x += THUMB_W + GAP


def _verdict_row(sheet: _Sheet, verdict: Verdict, y0: float) -> CardRow:
    """The combined verdict of several photos: its bars and each photo's vote."""
    sheet.rule(y0, "#999999", 1.5)
    votes = [f"{n} of {verdict.n_used} say {display_name(p)}"
             for p, n in verdict.votes.items()]
    if verdict.unknown:
        sub = (f"none of these — most photos are not close enough to anyone; "
               f"resembles {display_name(verdict.person)} most")
        col = "#C44E52"
    else:
        sub = (f"looks most like {display_name(verdict.person)} "
               f"({pct(verdict.ranking[0].probability)})")
        col = TEXT_COLOR
    sheet.title(y0 + 0.05, f"Together: {verdict.n_used} of {verdict.n_photos} photos with a "
                "face", shorten(sub, 120), col)
    bx = MARGIN + PHOTO_W + GAP + FACE_W + GAP + NAME_W
    ax = sheet.axes(bx, y0 + TITLE_H + 0.15, BARS_W, sheet.bars_h - 0.1)
    order = draw_bars(ax, verdict.ranking, sheet.labels, sheet.top, verdict.unknown)
    ax.set_xlabel("combined probability", fontsize=8.5, labelpad=2)
    shown = votes[:7] + ([f"… {len(votes) - 7} more"] if len(votes) > 7 else [])
    sheet.fig.text(MARGIN / sheet.W, 1 - (y0 + TITLE_H + 0.2) / sheet.H,
                   "Votes (top answer of each photo):\n" + "\n".join(
                       "  " + shorten(v, 44) for v in shown)
                   + "\n\nCombined: geometric mean of the\nphotos' probabilities, "
                   "renormalised", fontsize=9, va="top", ha="left", linespacing=1.35)
    return CardRow("together", None, order=order, unknown=verdict.unknown,
                   message="; ".join(votes))


__all__ = ["Card", "CardRow", "render_card"]
