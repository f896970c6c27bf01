"""Shared picture helpers for cards and reports: matplotlib (Agg) set-up, fonts, colours, labels.

matplotlib is imported only inside functions, never at ``import lookalike`` time. Fonts are
local files only: DejaVu Sans (shipped with matplotlib) for Latin, Greek and Cyrillic, and a CJK
font for Chinese, Japanese and Korean names when one is installed — the ``viz`` extra installs
Noto Sans CJK (``noto-cjk-sans-jp-regular``, a font-only wheel); system fonts such as
``fonts-noto-cjk`` or ``fonts-wqy-microhei`` are used when present. Without any CJK font the
pictures still render; such names show as boxes and one warning says what to install.
"""

from __future__ import annotations

import io
import unicodedata
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.names import display_name  # noqa: F401 - re-exported for cards and reports

#: CJK font families looked for among installed fonts, best first.
CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR",
                "Noto Sans SC", "Noto Sans JP", "Source Han Sans", "WenQuanYi Micro Hei",
                "WenQuanYi Zen Hei", "IPAexGothic", "IPAGothic", "Droid Sans Fallback")

#: Colours: one per person (by label index), the same in every picture of one model.
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
           "#8C8C8C", "#CCB974", "#64B5CD", "#2F4B7C", "#A05195", "#F95D6A", "#1B9E77",
           "#D95F02", "#7570B3", "#E7298A", "#66A61E", "#E6AB02", "#A6761D")
UNKNOWN_COLOR = "#9E9E9E"
TEXT_COLOR = "#222222"


def person_color(labels: Sequence[str], person: str) -> str:
    """The colour of ``person`` in pictures of a model with these labels (stable per model)."""
    try:
        i = list(labels).index(person)
    except ValueError:
        return UNKNOWN_COLOR
    return PALETTE[i % len(PALETTE)]


def _matplotlib():
    """matplotlib itself; pictures are drawn on Agg canvases without pyplot, so the user's
    backend (a notebook's, say) is never switched."""
    import matplotlib

    return matplotlib


class _Figures:
    """What :func:`style` yields: figure factory and the pieces the drawing code needs."""

    def __init__(self) -> None:
        from matplotlib.lines import Line2D

        self.Line2D = Line2D

    @staticmethod
    def figure(figsize: tuple[float, float], dpi: int = 100) -> Any:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(fig)
        return fig


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font (registering the bundled one), or None."""
    _matplotlib()
    from matplotlib import font_manager as fm

    try:
        from noto_cjk_sans_jp_regular import FONT_PATH  # the viz extra's font-only wheel

        path = str(FONT_PATH)
        if Path(path).exists():
            fm.fontManager.addfont(path)
            return fm.FontProperties(fname=path).get_name()
    except Exception:  # noqa: BLE001 - any problem with the optional font: look elsewhere
        pass
    names = {f.name for f in fm.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    return None


def font_families() -> list[str]:
    families = ["DejaVu Sans"]
    cjk = cjk_font()
    if cjk:
        families.append(cjk)
    return families


def needs_cjk(text: str) -> bool:
    """True when ``text`` has characters DejaVu Sans lacks that a CJK font would carry."""
    for c in text:
        o = ord(c)
        if (0x1100 <= o <= 0x11FF or 0x2E80 <= o <= 0x9FFF or 0xA960 <= o <= 0xA97F
                or 0xAC00 <= o <= 0xD7FF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF
                or 0x20000 <= o <= 0x3FFFF):
            return True
    return False


def missing_glyphs(text: str) -> set[str]:
    """Characters of ``text`` that none of the picture fonts can draw (spaces aside)."""
    _matplotlib()
    from matplotlib import font_manager as fm
    from matplotlib.ft2font import FT2Font

    fonts = []
    for family in font_families():
        try:
            path = fm.findfont(fm.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        fonts.append(_ft2font(path, FT2Font))
    return {c for c in set(text) if not c.isspace()
            and not any(f.get_char_index(ord(c)) for f in fonts)}


@lru_cache(maxsize=8)
def _ft2font(path: str, cls: Any) -> Any:
    return cls(path)


_warned_cjk = False


def check_names(names: Sequence[str]) -> None:
    """Warn once when names need a CJK font and none (or none with their glyphs) is
    installed."""
    global _warned_cjk
    if _warned_cjk:
        return
    if any(needs_cjk(n) for n in names) and (
            cjk_font() is None or any(missing_glyphs(n) for n in names if needs_cjk(n))):
        _warned_cjk = True
        warnings.warn("some names need a CJK font and none is installed; they show as boxes — "
                      "pip install 'lookalike[viz]' (Noto Sans CJK) or apt-get install "
                      "fonts-noto-cjk", stacklevel=3)


@contextmanager
def style():
    """A figure factory (Agg canvases, no pyplot) with lookalike's fonts and style, scoped."""
    mpl = _matplotlib()

    rc = {
        "font.family": font_families(),
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.edgecolor": "#888888",
        "axes.labelcolor": TEXT_COLOR,
        "text.color": TEXT_COLOR,
        "xtick.color": "#555555",
        "ytick.color": TEXT_COLOR,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "svg.fonttype": "none",
    }
    import logging

    fm_log = logging.getLogger("matplotlib.font_manager")
    level = fm_log.level
    fm_log.setLevel(logging.ERROR)  # "no bold CJK weight, using 400" is expected, not news
    with mpl.rc_context(rc), warnings.catch_warnings():
        # Missing glyphs are reported once by check_names, not per character.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from (current )?font")
        warnings.filterwarnings("ignore", message=r".*missing from font\(s\)")
        try:
            yield _Figures()
        finally:
            fm_log.setLevel(level)


def display_width(text: str) -> int:
    """Columns a string takes (East Asian wide characters count 2, combining marks 0)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else
               0 if unicodedata.combining(c) else 1 for c in text)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns with an ellipsis (whole characters kept)."""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for c in unicodedata.normalize("NFC", text):
        w = display_width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out).rstrip() + "…"




def wrap_name(text: str, width: int, lines: int = 2) -> str:
    """A name on at most ``lines`` lines of ``width`` columns: broken at spaces, underscores or
    hyphens where possible, then shortened with an ellipsis."""
    text = display_name(text)
    if display_width(text) <= width:
        return text
    words: list[str] = []
    for part in text.split(" "):
        pieces = part.split("-")
        for k, p in enumerate(pieces):
            words.append(p + ("-" if k < len(pieces) - 1 else ""))
    rows: list[str] = []
    cur = ""
    for w in words:
        sep = "" if not cur or cur.endswith("-") else " "
        if display_width(cur + sep + w) <= width:
            cur = cur + sep + w
        else:
            if cur:
                rows.append(cur)
            cur = w
    if cur:
        rows.append(cur)
    if len(rows) > lines:
        last = rows[lines - 1]
        for r in rows[lines:]:
            last += r if last.endswith("-") else " " + r
        rows = rows[: lines - 1] + [last]
    rows = [shorten(r, width) for r in rows]
    return "\n".join(rows)


def pct(p: float) -> str:
    """A percentage for a picture: 1 decimal under 10 %, none above; never a false 0 %."""
    v = 100 * float(p)
    if v >= 99.995:
        return "100%"
    if v >= 99.5:  # never round a near-certainty up to 100 %
        return f"{np.floor(v * 10) / 10:.1f}%"
    if v >= 10:
        return f"{v:.0f}%"
    if v >= 0.05:
        return f"{v:.1f}%"
    return "<0.1%"


def frame(ax: Any, color: str, width: float = 3) -> None:
    """A picture's axes without ticks, framed in ``color`` (cards' faces and thumbnails)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor(color)
        spine.set_linewidth(width)


def decode_jpeg(data: bytes | None) -> np.ndarray | None:
    """An RGB array from JPEG/PNG bytes, or None."""
    if not data:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except Exception:  # noqa: BLE001 - a damaged thumbnail is left out, not fatal
        return None


def save_png(fig: Any, path: str | Path, dpi: int = 100, *, tight: bool = False) -> Path:
    """Save ``fig`` as a PNG through a temporary file (atomic), and close it. ``tight``: crop
    to what was drawn (nothing cut off, no empty margins)."""
    from lookalike.files import atomic_write

    kw = {"bbox_inches": "tight", "pad_inches": 0.15} if tight else {}
    try:
        return atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi, **kw))
    finally:
        fig.clear()


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


# -- report pictures ----------------------------------------------------------------------

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
