"""The charts cards and reports share: the ranking as bars, the confusion matrix and the
reliability diagram (calibration)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.pictures.fonts import check_names
from lookalike.pictures.plots import UNKNOWN_COLOR, save_png, style
from lookalike.pictures.text import pct, wrap_name


def ranking_bars(ax: Any, people: Sequence[str], probs: Sequence[float], colors: Sequence[str],
                 *, name_width: int = 22, rest: float | None = None,
                 n_rest: int = 0) -> list[str]:
    """A horizontal bar chart of ranked percentages, highest on top, each bar labelled with its
    percentage. Returns the people in plotted order, top to bottom."""
    n = len(people)
    y = np.arange(n)[::-1]  # first (highest) at the top
    vals = [100 * float(p) for p in probs]
    ax.barh(y, vals, color=colors, height=0.62, zorder=2)
    ax.set_xlim(0, 124)
    ax.set_ylim(-0.6 if rest is None else -1.6, n - 0.4)
    ax.set_yticks(y)
    ax.set_yticklabels([wrap_name(p, name_width) for p in people], fontsize=10,
                       linespacing=0.95)
    for yi, v, p in zip(y, vals, probs, strict=True):
        ax.text(v + 1.5, yi, pct(p), va="center", ha="left", fontsize=10,
                fontweight="bold" if yi == n - 1 else "normal", zorder=3)
    if rest is not None:
        ax.barh([-1], [100 * rest], color=UNKNOWN_COLOR, height=0.5, zorder=2, alpha=0.6)
        ax.text(100 * rest + 1.5, -1, pct(rest), va="center", ha="left", fontsize=9,
                color="#555555")
        ticks = list(ax.get_yticks()) + [-1]
        others = f"{n_rest} other" + ("s" if n_rest != 1 else "")
        labels = [t.get_text() for t in ax.get_yticklabels()] + [others]
        ax.set_yticks(ticks)
        ax.set_yticklabels(labels, fontsize=10, linespacing=0.95)
        ax.get_yticklabels()[-1].set_color("#666666")
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xticklabels(["0", "25", "50", "75", "100%"], fontsize=8)
    ax.grid(axis="x", color="#e6e6e6", zorder=0)
    ax.tick_params(axis="y", length=0)
    return list(people)


def confusion_png(cm: np.ndarray, labels: Sequence[str], path: str | Path) -> Path:
    """The confusion matrix: rows true person, columns predicted; colour = share of the row,
    the count in each non-empty cell."""
    cm = np.asarray(cm)
    k = len(labels)
    check_names(labels)
    cell = 0.55 if k <= 12 else 0.4 if k <= 30 else 0.22
    side = max(3.0, cell * k)
    name_in = 1.9 if k <= 30 else 1.5  # room for the names, left and (rotated) below
    fs = 9 if k <= 12 else 8 if k <= 30 else 6
    with style() as plt:
        bottom = 0.75 * name_in + 0.45  # names below are rotated 45°: ~0.7 of their length
        fig = plt.figure(figsize=(side + name_in + 1.1, side + bottom + 0.6), dpi=100)
        W, H = fig.get_size_inches()
        ax = fig.add_axes((name_in / W, bottom / H, side / W, side / H))
        rows = cm.sum(axis=1, keepdims=True)
        share = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
        im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        if k <= 30:
            for i in range(k):
                for j in range(k):
                    if cm[i, j]:
                        ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=fs,
                                color="white" if share[i, j] > 0.55 else "#222222")
        names = [wrap_name(p, 22, lines=1) for p in labels]
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(names, rotation=45, ha="right", rotation_mode="anchor", fontsize=fs)
        ax.set_yticklabels(names, fontsize=fs)
        ax.set_xlabel("predicted", fontsize=10)
        ax.set_ylabel("true person", fontsize=10)
        ax.tick_params(length=0)
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_xticks(np.arange(-0.5, k, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, k, 1), minor=True)
        ax.grid(which="minor", color="white", lw=1)
        ax.tick_params(which="minor", length=0)
        cax = fig.add_axes(((name_in + side + 0.2) / W, bottom / H, 0.15 / W, side / H))
        cb = fig.colorbar(im, cax=cax)
        cb.set_label("share of the person's photos", fontsize=8)
        cb.ax.tick_params(labelsize=7)
        fig.text(name_in / W, 1 - 0.1 / H, f"Confusion matrix ({int(cm.sum())} photos)",
                 fontsize=11, fontweight="bold", va="top")
        return save_png(fig, path, tight=True)


def reliability_png(proba: np.ndarray, y: np.ndarray, path: str | Path, *,
                    bins: int = 15, ece: float | None = None) -> dict:
    """Reliability diagram of the top answer: accuracy per confidence bin against the diagonal,
    with the number of photos per bin under it. Returns the bins drawn (for tests)."""
    from lookalike.answer.scoring import expected_calibration_error

    proba = np.asarray(proba)
    y = np.asarray(y)
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    centers, accs, confs, counts = [], [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        counts.append(int(m.sum()))
        centers.append((lo + hi) / 2)
        accs.append(float(correct[m].mean()) if m.any() else np.nan)
        confs.append(float(conf[m].mean()) if m.any() else np.nan)
    if ece is None:
        ece = expected_calibration_error(proba, y, bins=bins)
    width = 1.0 / bins
    with style() as plt:
        fig = plt.figure(figsize=(5.2, 5.6), dpi=100)
        ax = fig.add_axes((0.14, 0.36, 0.8, 0.56))
        ax2 = fig.add_axes((0.14, 0.09, 0.8, 0.16))
        ok = [i for i in range(bins) if counts[i]]
        ax.plot([0, 1], [0, 1], ls="--", color="#888888", lw=1, label="perfect calibration")
        ax.bar([centers[i] for i in ok], [accs[i] for i in ok], width=width * 0.92,
               color="#4C72B0", edgecolor="white", label="accuracy", zorder=2)
        gaps = [(centers[i], confs[i], accs[i]) for i in ok]
        ax.bar([c for c, _, _ in gaps], [cf - a for _, cf, a in gaps],
               bottom=[a for _, _, a in gaps], width=width * 0.92, color="#C44E52",
               alpha=0.35, edgecolor="#C44E52", hatch="//", label="gap to confidence",
               zorder=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("accuracy")
        ax.set_xticklabels([])
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.set_title(f"Reliability of the top answer — ECE {ece:.3f}", fontsize=11,
                     loc="left")
        ax.grid(color="#eeeeee", zorder=0)
        ax2.bar(centers, counts, width=width * 0.92, color="#8C8C8C")
        ax2.set_xlim(0, 1)
        ax2.set_xlabel("confidence (probability of the top answer)")
        ax2.set_ylabel("photos", fontsize=8)
        ax2.tick_params(labelsize=8)
        save_png(fig, path, tight=True)
    return {"edges": edges.tolist(), "counts": counts, "accuracy": accs, "confidence": confs,
            "ece": float(ece)}
