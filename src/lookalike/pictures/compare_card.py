"""The compare card: two faces side by side and how alike they are (one PNG).

Top: the verdict ("Same person" / "Not the same person") with the similarity and the
calibrated probability. Middle: each photo with the compared face's box and landmarks, and the
two aligned faces (what the embedder sees) between them. Bottom: the similarity on a scale
from 0 to 1 with the verdict's threshold marked and the two sides shaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.answer.comparison import CompareSource, Comparison, photo_view
from lookalike.errors import ImageError, LookalikeError, require
from lookalike.face.detector import Face

DPI = 100
SAME_COLOR = "#2E8B57"
DIFFERENT_COLOR = "#C44E52"


@dataclass
class CompareCard:
    path: Path
    size: tuple[int, int]  # (width, height) in pixels
    verdict: str


def _image(source: CompareSource | None, face: Face, size: tuple[int, int] | None
           ) -> tuple[np.ndarray | None, Face]:
    """The photo as the face path decoded it, and the face scaled to it."""
    if source is None:
        return None, face
    try:
        return photo_view(source, face, size)
    except (ImageError, LookalikeError, OSError):
        return None, face


W, H = 8.9, 5.25  # inches
PHOTO_W, FACE_W, GAP, TOP = 2.0, 1.85, 0.2, 1.05


def _axes(fig, x: float, y: float, w: float, h: float):
    """Axes at (x, y) inches from the top-left corner, w×h inches."""
    width, height = fig.get_size_inches()
    return fig.add_axes((x / width, 1 - (y + h) / height, w / width, h / height))


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


def _draw_side(fig, k: int, rgb: np.ndarray | None, face: Face, result: Comparison,
               color: str) -> None:
    """Photo ``k`` (0 = A on the left, 1 = B on the right) with the compared face's box, and
    its aligned face beside the middle."""
    from matplotlib.patches import Rectangle

    from lookalike.face.detector import align
    from lookalike.pictures.plots import decode_jpeg, frame
    from lookalike.pictures.text import shorten

    xs = [0.3, 0.3 + PHOTO_W + GAP, 0.3 + PHOTO_W + 2 * GAP + FACE_W,
          0.3 + PHOTO_W + 3 * GAP + 2 * FACE_W]
    name = Path(result.photos[k]).name or result.photos[k]
    ax = _axes(fig, xs[0] if k == 0 else xs[3], TOP, PHOTO_W, 2.3)
    _off(ax)
    if rgb is not None:
        ax.imshow(rgb, interpolation="antialiased")
        x, y, bw, bh = face.box
        ax.add_patch(Rectangle((x, y), bw, bh, fill=False, lw=2.2, ec=color, zorder=3))
        lm = np.asarray(face.landmarks)
        ax.scatter(lm[:, 0], lm[:, 1], s=10, c="#FFD400", edgecolors="black", linewidths=0.4,
                   zorder=4)
        ax.set_xlim(-0.5, rgb.shape[1] - 0.5)
        ax.set_ylim(rgb.shape[0] - 0.5, -0.5)
    n = result.n_faces[k]
    more = f"\n{n} faces: the most prominent" if n > 1 else ""
    ax.set_xlabel(shorten(name, 30) + more, fontsize=9, labelpad=4)
    ax = _axes(fig, xs[1] if k == 0 else xs[2], TOP + 0.1, FACE_W, FACE_W)
    crop = align(rgb, face, size=180, margin=0.12) if rgb is not None \
        else decode_jpeg(result.thumbs[k])
    if crop is not None:
        ax.imshow(crop, interpolation="antialiased")
    frame(ax, color)
    ax.set_xlabel(f"face {'AB'[k]} (detector {face.score:.2f})", fontsize=9, labelpad=4)


def _draw_scale(fig, result: Comparison, color: str) -> None:
    """The similarity on a 0–1 scale, the threshold dashed, the two sides shaded."""
    ax = _axes(fig, 0.6, 4.02, W - 1.2, 0.36)
    t = result.threshold
    ax.axvspan(0, t, color=DIFFERENT_COLOR, alpha=0.16, lw=0)
    ax.axvspan(t, 1, color=SAME_COLOR, alpha=0.16, lw=0)
    ax.axvline(t, color="#444444", lw=1.4, ls="--")
    s = float(np.clip(result.similarity, 0.0, 1.0))
    ax.barh([0], [s], height=0.5, color=color, zorder=2)
    ax.plot([s], [0], marker="o", ms=11, color=color, mec="white", mew=2, zorder=3)
    ax.text(t, 0.62, f"threshold {t:.2f}", ha="center", va="bottom", fontsize=9,
            color="#444444")
    ax.text(t / 2, -0.62, "different people", ha="center", va="top", fontsize=9,
            color=DIFFERENT_COLOR)
    ax.text((1 + t) / 2, -0.62, "same person", ha="center", va="top", fontsize=9,
            color=SAME_COLOR)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.5, 0.5)
    ax.set_yticks([])
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.tick_params(axis="x", labelsize=8, length=3, pad=14)
    ax.set_xlabel("cosine similarity of the two faces", fontsize=9, labelpad=2)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)


def render_compare_card(result: Comparison, out: str | Path, *,
                        sources: tuple[CompareSource | None, CompareSource | None] = (None, None)
                        ) -> CompareCard:
    """Draw the card of ``result`` (from :func:`lookalike.compare`) into ``out`` (PNG, written
    atomically). ``sources``: the two photos compared (paths, bytes or arrays)."""
    out = Path(out)
    if out.is_dir():
        raise LookalikeError("is a folder", out, "give a file name for the card, e.g. card.png")
    if not out.parent.exists():
        raise LookalikeError(f"folder {out.parent} does not exist", out, "create it first")
    require("matplotlib", extra="viz", purpose="cards need matplotlib")
    from lookalike.pictures.plots import save_png, style
    from lookalike.pictures.text import pct

    sizes = result.image_sizes or (None, None)
    shown = [_image(src, face, size) for src, face, size in
             zip(sources, result.faces, sizes, strict=True)]
    color = SAME_COLOR if result.same_person else DIFFERENT_COLOR
    verdict = "Same person" if result.same_person else "Not the same person"
    from lookalike.pictures.why_card import WHY_ROW_H, draw_why_row, shows

    why = shows(result.why)
    height = H + (WHY_ROW_H + 0.1 if why else 0.0)
    with style() as plt:
        fig = plt.figure(figsize=(W, height), dpi=DPI)
        fig.text(0.3 / W, 1 - 0.2 / height, verdict, fontsize=19, fontweight="bold",
                 color=color, va="top", ha="left")
        sub = f"similarity {result.similarity:.2f}"
        if result.probability is not None:
            sub += f"  ·  probability of the same person {pct(result.probability)}"
        fig.text(0.3 / W, 1 - 0.62 / height, sub, fontsize=11, va="top", ha="left")
        if why:
            draw_why_row(fig, lambda x, y, w, h: _axes(fig, x, y, w, h), 0.3, H + 0.05,
                         W - 0.6, result.why, ("face A", "face B"))
        for k, (rgb, face) in enumerate(shown):
            _draw_side(fig, k, rgb, face, result, color)
        _draw_scale(fig, result, color)
        save_png(fig, out, dpi=DPI)
    return CompareCard(out, (round(W * DPI), round(height * DPI)), verdict)


__all__ = ["CompareCard", "render_compare_card"]
