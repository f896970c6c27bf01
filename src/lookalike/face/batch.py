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
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from lookalike.face.pipeline import FacePipeline

#: Photos analysed together (per process) by default: their faces go through SFace at once.
PHOTOS = 8

T = TypeVar("T")
R = TypeVar("R")


class Batcher:
    """Gathers the SFace inferences of ``n`` taking-turns threads into one (module doc)."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], n: int):
        self._run = run
        self._cv = threading.Condition()
        #: Held by the one thread doing work other than waiting for an inference.
        self.turn = threading.Lock()
        self._active = n
        #: Threads it was made for.
        self.threads = n
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


def run_batched(items: Sequence[T], pipe: FacePipeline, batch: int,
                work: Callable[[FacePipeline, int, T], R]) -> Iterator[R]:
    """``work(pipeline, k, item)`` for every item, results in input order, on up to ``batch``
    taking-turns threads whose SFace inferences run together (the module doc); one item at a
    time, on this thread, when there is nothing to batch."""
    made = batched_pipeline(pipe, min(batch, len(items))) if len(items) > 1 else None
    if made is None:
        for k, item in enumerate(items):
            yield work(pipe, k, item)
        return
    yield from _Threads(items, made[0], made[1], work).results()


class _Threads:
    """Items worked on by threads that take turns and run SFace together."""

    def __init__(self, items: Sequence, pipe: FacePipeline, batcher: Batcher,
                 work: Callable):
        self.pipe, self.batcher, self.work = pipe, batcher, work
        self.todo = deque(enumerate(items))
        self.n = len(items)
        self.done: dict[int, object] = {}
        self.failed: list[BaseException] = []
        self.stop = False
        self.cv = threading.Condition()

    def _run(self) -> None:
        b = self.batcher
        b.turn.acquire()
        try:
            while not self.stop:
                with self.cv:
                    if not self.todo:
                        break
                    k, item = self.todo.popleft()
                out = self.work(self.pipe, k, item)
                with self.cv:
                    self.done[k] = out
                    self.cv.notify_all()
        except BaseException as err:
            with self.cv:
                self.failed.append(err)
                self.cv.notify_all()
        finally:
            b.turn.release()
            b.leave()

    def results(self) -> Iterator:
        threads = [threading.Thread(target=self._run, daemon=True, name=f"analyse-{i}")
                   for i in range(self.batcher.threads)]
        for t in threads:
            t.start()
        try:
            for k in range(self.n):
                with self.cv:
                    while k not in self.done and not self.failed:
                        self.cv.wait()
                    if self.failed:
                        raise self.failed[0]
                    out = self.done.pop(k)
                yield out
        finally:
            self.stop = True  # the consumer stopped (or failed): threads finish their item
            for t in threads:
                t.join()
