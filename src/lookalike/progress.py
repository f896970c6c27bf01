"""Progress bars (tqdm on stderr) for anything a person waits for."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def bar(items: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True,
        min_items: int = 8) -> Iterator[T]:
    """Wrap ``items`` in a progress bar when there are at least ``min_items`` of them and
    progress is wanted (``LOOKALIKE_PROGRESS=0`` turns bars off)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if (not enabled or os.environ.get("LOOKALIKE_PROGRESS", "1") == "0"
            or (total is not None and total < min_items)):
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, unit="photo", file=sys.stderr,
                    dynamic_ncols=True, leave=False)
