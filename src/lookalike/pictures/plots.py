"""The set-up every picture shares: matplotlib on Agg canvases in lookalike's style (fonts from
:mod:`.fonts`), one colour per person, frames, thumbnails decoded, PNGs saved atomically.

matplotlib is imported only inside functions, never at ``import lookalike`` time. Text that
fits a picture is in :mod:`.text`, the shared charts in :mod:`.charts`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.pictures.fonts import font_families

#: CJK font families looked for among installed fonts, best first.

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


# -- report pictures ----------------------------------------------------------------------


