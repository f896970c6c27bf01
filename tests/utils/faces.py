"""One face detector shared by the tests that only need faces found in a photo (each new
``FaceDetector`` reads and compiles YuNet again: 0.1-0.3 CPU-s, paid a few hundred times in a
run). Tests of the detector's own loading, backends or precision make their own."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lookalike.face.detector import FaceDetector


@functools.cache
def detector() -> FaceDetector:
    """The default detector (this process's runtime and precision), made on first use."""
    from lookalike.face.detector import FaceDetector

    return FaceDetector()
