"""The panels of a look-alike card (:mod:`lookalike.pictures.cards`): axes placed in inches,
the photo with its faces' boxes and landmarks, an aligned face (with a Grad-CAM map over the
model's own crop when the model offers one: the article's CNN), a nearest training photo, the
ranked bars and a row's title. The card lays them out; these draw one panel each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.answer.ranking import FaceResult
from lookalike.pictures.charts import ranking_bars
from lookalike.pictures.plots import UNKNOWN_COLOR, frame, person_color
from lookalike.pictures.text import wrap_name

if TYPE_CHECKING:
    from lookalike.models.recognizer import Recognizer

DISPLAY_MAX = 700  # pixels: photos are shown downscaled (boxes scaled with them)


def downscale(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    s = min(1.0, DISPLAY_MAX / max(h, w))
    if s == 1.0:
        return rgb, 1.0
    import cv2

    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA), s


def gradcam_map(model: Recognizer, rgb: np.ndarray, fr: FaceResult) -> np.ndarray | None:
    try:
        heat = model.gradcam(rgb, fr.face)
    except Exception:  # noqa: BLE001 - an explanation failing must not lose the card
        return None
    if heat is None:
        return None
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2 or heat.size == 0 or not np.isfinite(heat).any():
        return None
    heat = np.nan_to_num(heat)
    lo, hi = float(heat.min()), float(heat.max())
    return (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)


def cam_base(model: Recognizer, rgb: np.ndarray, fr: FaceResult, face_img: np.ndarray,
              shape: tuple[int, ...]) -> np.ndarray:
    """The image a Grad-CAM map lies over: the model's own face crop when it offers one
    (``model.crop(rgb, face)``, what the network saw), else the aligned face; resized to the
    map's shape."""
    import cv2

    base = face_img
    try:
        c = model.crop(rgb, fr.face)
    except Exception:  # noqa: BLE001 - fall back to the aligned face
        c = None
    if c is not None:
        try:
            c = np.asarray(c)
            if c.ndim == 3 and c.shape[2] == 3:
                if c.dtype != np.uint8:
                    c = c * 255.0 if float(np.nanmax(c)) <= 1.0 else c
                    c = np.clip(np.nan_to_num(c), 0, 255).astype(np.uint8)
                base = c
        except Exception:  # noqa: BLE001 - fall back to the aligned face
            base = face_img
    hh, ww = shape[:2]
    return cv2.resize(np.ascontiguousarray(base), (ww, hh), interpolation=cv2.INTER_AREA)


def axes_at(fig: Any, x: float, y: float, w: float, h: float, W: float, H: float) -> Any:
    """Axes at (x, y) inches from the top-left corner, w×h inches."""
    return fig.add_axes((x / W, 1 - (y + h) / H, w / W, h / H))


def hide_axes(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


def draw_photo(ax: Any, rgb: np.ndarray, faces: Sequence[FaceResult], current: int | None,
                labels: Sequence[str]) -> None:
    from matplotlib.patches import Rectangle

    small, s = downscale(rgb)
    ax.imshow(small, interpolation="antialiased")
    h, w = small.shape[:2]
    lw_main = 2.6
    for k, fr in enumerate(faces):
        x, y, bw, bh = (v * s for v in fr.face.box)
        main = k == current
        color = (UNKNOWN_COLOR if fr.unknown else person_color(labels, fr.top.person)) \
            if main else "white"
        ax.add_patch(Rectangle((x, y), bw, bh, fill=False, lw=lw_main if main else 1.2,
                               ec=color, ls="-" if main else "--", zorder=3))
        lm = np.asarray(fr.face.landmarks) * s
        ax.scatter(lm[:, 0], lm[:, 1], s=14 if main else 6, c="#FFD400" if main else "white",
                   edgecolors="black", linewidths=0.5, zorder=4)
        if len(faces) > 1:
            ax.text(x + 2, y - 3, str(k + 1), color="white", fontsize=9, fontweight="bold",
                    va="bottom", ha="left", zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": color if main else "#555555",
                          "ec": "none", "alpha": 0.9})
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    hide_axes(ax)


def draw_face(ax: Any, img: np.ndarray, caption: str, heat: np.ndarray | None = None) -> None:
    ax.imshow(img, interpolation="antialiased")
    if heat is not None:
        ax.imshow(heat, cmap="jet", alpha=0.45, interpolation="bilinear",
                  extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5))
    hide_axes(ax)
    ax.set_xlabel(caption, fontsize=9, labelpad=3)


def draw_thumb(ax: Any, img: np.ndarray | None, person: str, similarity: float | None,
                color: str) -> None:
    if img is None:
        ax.set_facecolor("#f2f2f2")
        ax.text(0.5, 0.5, "no photo", ha="center", va="center", fontsize=8, color="#777777",
                transform=ax.transAxes)
    else:
        ax.imshow(img, interpolation="antialiased")
    frame(ax, color)
    sim = f"similarity {similarity:.2f}" if similarity is not None else ""
    ax.set_xlabel(f"{wrap_name(person, 19)}\n{sim}", fontsize=8.5, labelpad=4,
                  linespacing=1.1)


def draw_bars(ax: Any, ranking, labels: Sequence[str], top: int, dim: bool) -> list[str]:
    shown = ranking[:top]
    rest = sum(m.probability for m in ranking[top:]) if len(ranking) > top else None
    colors = [person_color(labels, m.person) for m in shown]
    order = ranking_bars(ax, [m.person for m in shown], [m.probability for m in shown], colors,
                         name_width=20, rest=rest, n_rest=len(ranking) - top)
    if dim:
        for p in ax.patches:
            p.set_alpha(0.45)
    return order


def draw_title(fig: Any, x: float, y: float, W: float, H: float, text: str, sub: str,
           sub_color: str) -> None:
    fig.text(x / W, 1 - y / H, text, fontsize=11.5, fontweight="bold", va="top", ha="left")
    if sub:
        fig.text(x / W, 1 - (y + 0.22) / H, sub, fontsize=10, va="top", ha="left",
                 color=sub_color)
