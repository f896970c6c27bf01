"""Faces of several photos in one SFace inference.

The detector runs per photo, but SFace takes a batch (``Network(batch=True)``). To embed the
faces of several photos together without splitting the face path into stages, up to ``n``
photos are analysed on ``n`` threads that take turns: one thread at a time decodes, detects
and orders faces (so the work stays on the cores it had), and each SFace inference a thread
asks for waits until every other thread waits for one too; then all of them run as one
inference (in chunks of :data:`lookalike.face.embedders.BATCH` faces) and each thread takes
its rows back. The vectors are those of one photo at a time (the same network, row by row).

Only a plain SFace embedder is batched (:func:`batched_pipeline` returns None otherwise); the
pipeline used is a copy whose embedder is a copy sharing the loaded network, so other users of
the original (a web server's requests) never wait on this batch.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lookalike.face.pipeline import FacePipeline


class Batcher:
    """Gathers the SFace inferences of ``n`` taking-turns threads into one (module doc)."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], n: int):
        self._run = run
        self._cv = threading.Condition()
        #: Held by the one thread doing work other than waiting for an inference.
        self.turn = threading.Lock()
        self._active = n
        self._waiting: list[list] = []  # [blob, rows or exception or None]
        #: Inferences run and the faces they held (for tests and benchmarks).
        self.inferences = 0
        self.faces = 0

    def run(self, blob: np.ndarray) -> np.ndarray:
        """SFace's raw vectors for ``blob``, run together with the other threads' (the caller
        holds :attr:`turn`; it gives it up while it waits)."""
        request: list = [blob, None]
        with self._cv:
            self._waiting.append(request)
            self.turn.release()
            self._flush_if_all_wait()
            while request[1] is None:
                self._cv.wait()
        self.turn.acquire()
        if isinstance(request[1], BaseException):
            raise request[1]
        return request[1]

    def leave(self) -> None:
        """A thread is done (it does not hold :attr:`turn`): the others stop waiting for it."""
        with self._cv:
            self._active -= 1
            self._flush_if_all_wait()

    def _flush_if_all_wait(self) -> None:
        if not self._waiting or len(self._waiting) < self._active:
            return
        requests, self._waiting = self._waiting, []
        try:
            out = self._run(np.concatenate([r[0] for r in requests]))
            start = 0
            for r in requests:
                r[1] = out[start: start + len(r[0])]
                start += len(r[0])
        except BaseException as err:  # every waiting thread gets it, none hangs
            for r in requests:
                r[1] = err
        self.inferences += 1
        self.faces += sum(len(r[0]) for r in requests)
        self._cv.notify_all()


def batched_pipeline(pipe: FacePipeline, n: int) -> tuple[FacePipeline, Batcher] | None:
    """A copy of ``pipe`` whose SFace inferences go through a :class:`Batcher` for ``n``
    threads; None when its embedder is not a plain SFace (nothing to batch across photos)."""
    sface = pipe._sface()
    if sface is None or n < 2:
        return None
    sface._network()  # loaded once, shared by the copy
    mine = copy.copy(sface)
    batcher = Batcher(sface._run, n)
    mine._run = batcher.run  # type: ignore[method-assign]
    out = copy.copy(pipe)
    out.embedder = mine
    return out, batcher
