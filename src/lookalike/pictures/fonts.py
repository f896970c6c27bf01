"""Fonts for the pictures: local files only. DejaVu Sans (shipped with matplotlib) for Latin,
Greek and Cyrillic, and a CJK font for Chinese, Japanese and Korean names when one is installed
— the ``viz`` extra installs Noto Sans CJK (``noto-cjk-sans-jp-regular``, a font-only wheel);
system fonts such as ``fonts-noto-cjk`` or ``fonts-wqy-microhei`` are used when present. Without
any CJK font the pictures still render; such names show as boxes and one warning says what to
install."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

_warned_cjk = False

CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR",
                "Noto Sans SC", "Noto Sans JP", "Source Han Sans", "WenQuanYi Micro Hei",
                "WenQuanYi Zen Hei", "IPAexGothic", "IPAGothic", "Droid Sans Fallback")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font (registering the bundled one), or None."""
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
