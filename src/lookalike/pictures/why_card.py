"""The "why do they look alike?" row of the look-alike card and the compare card: both aligned
faces under their heat maps, the parts as bars, and one sentence (:mod:`lookalike.answer.why`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lookalike.answer.why import PART_NAMES, Why

#: Height of the row, in inches.
WHY_ROW_H = 2.65
HEAT_COLOR = "#D1495B"
FACE_IN = 1.75


def shows(why: Why | None) -> bool:
    """A row is drawn for an available explanation with faces to show."""
    return why is not None and why.available and why.views is not None and why.heat is not None


def heat_overlay(view: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The face greyed where the heat is low, tinted red where it is high (RGB float 0..1)."""
    img = view.astype(np.float32) / 255.0
    grey = img.mean(axis=2, keepdims=True)
    h = np.clip(heat, 0.0, 1.0)[:, :, None]
    tint = np.array([0.82, 0.16, 0.22], np.float32)
    base = 0.35 * grey + 0.65 * img
    return np.clip(base * (1 - 0.55 * h) + tint * 0.55 * h + 0.1 * h * img, 0.0, 1.0)


def draw_why_row(fig: Any, axes: Callable[[float, float, float, float], Any], x0: float,
                 y0: float, width: float, why: Why, labels: tuple[str, str]) -> None:
    """Draw the row at (x0, y0) inches from the top-left, ``width`` inches wide; ``axes(x, y,
    w, h)`` makes axes in inches. ``labels``: what the two faces are ("face A", a name...)."""
    W, H = fig.get_size_inches()
    fig.text(x0 / W, 1 - (y0 + 0.05) / H, f"Why alike: {why.sentence}", fontsize=12.5,
             fontweight="bold", va="top", ha="left", color="#333333")
    how = ("what each part adds to the similarity, beyond the face's average"
           if why.method == "contribution" else
           "how much of the similarity is lost when each part is hidden in either face")
    fig.text(x0 / W, 1 - (y0 + 0.34) / H, how + " (one colour scale; the network's "
             "likeness, not genetics or attractiveness)", fontsize=8, va="top", ha="left",
             color="#777777")
    fy = y0 + 0.58
    for k in range(2):
        ax = axes(x0 + k * (FACE_IN + 0.15), fy, FACE_IN, FACE_IN)
        ax.imshow(heat_overlay(why.views[k], why.heat[k]), interpolation="antialiased")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(labels[k], fontsize=8.5, labelpad=2)
    bx = x0 + 2 * (FACE_IN + 0.15) + 1.6
    bw = max(1.5, min(3.2, width - (bx - x0) - 0.6))
    ax = axes(bx, fy + 0.05, bw, FACE_IN - 0.25)
    parts = why.parts
    y = np.arange(len(parts))[::-1]
    shares = [p.share for p in parts]
    ax.barh(y, shares, color=[HEAT_COLOR if i == 0 else "#E79AA5" for i in range(len(parts))],
            height=0.62)
    ax.set_yticks(y)
    ax.set_yticklabels([PART_NAMES.get(p.part, p.part) for p in parts], fontsize=8.5)
    for yi, s in zip(y, shares, strict=True):
        ax.text(s + 0.02, yi, f"{100 * s:.0f} %", va="center", fontsize=8.5)
    ax.set_xlim(0, 1.15)
    ax.set_xticks([0, 0.5, 1.0])
    ax.set_xticklabels(["0", "50 %", "100 %"], fontsize=7.5)
    ax.set_xlabel("share of the likeness", fontsize=8.5, labelpad=2)
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)


__all__ = ["WHY_ROW_H", "draw_why_row", "heat_overlay", "shows"]
