"""Text that fits a picture: display width (East Asian wide characters count 2), shortening
with an ellipsis, wrapping a name over lines, and percentages as people read them."""

from __future__ import annotations

import unicodedata

import numpy as np

from lookalike.names import display_name


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
