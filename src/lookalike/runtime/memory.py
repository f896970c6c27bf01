"""Giving memory back to the operating system after a network's buffers were freed."""

from __future__ import annotations

import contextlib


def malloc_trim() -> None:
    """Give the C heap's free pages back to the OS (glibc's ``malloc_trim``; a no-op
    elsewhere)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).malloc_trim(0)
