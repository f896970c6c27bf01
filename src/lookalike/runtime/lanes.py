"""Photos side by side in one process: N photos answered at once in N threads ("lanes"),
each network running N inferences at once, the process's inference threads shared among them.

One photo at a time, an inference uses every thread: the lowest wait for that photo. With many
photos to answer, that wastes CPU (threads wait for each other inside every small inference)
and leaves cores idle while Python does the work around the networks. Running N photos at once
with one thread each spends less CPU per photo and less time per photo:
bench/studies/speed/NOTES-lanes.md has the figures. Networks keep the variant each kind of
thread needs (:class:`lookalike.runtime.openvino_net.OpenVINONetwork` reads :func:`streams`).

    from lookalike.runtime import lanes
    results = list(lanes.each(answer, photos, lanes.lanes_for(len(photos))))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Photos side by side only from this many on (below, compiling the networks' other variant
#: costs more than it saves).
MIN_PHOTOS = 4

_local = threading.local()


def streams() -> int:
    """Photos the calling thread shares the cores with (1: it has them all)."""
    return getattr(_local, "streams", 1)


def _enter(n: int) -> None:
    _local.streams = n


def lanes_for(photos: int, backend: str | None = None) -> int:
    """How many of ``photos`` to answer at once: one per usable core (at most
    ``$LOOKALIKE_LANES``; 1 turns this off) where the networks run on OpenVINO with more than
    one thread and there are at least :data:`MIN_PHOTOS`, else 1. OpenCV's dnn shares one
    thread pool per process, so it gains nothing here."""
    from lookalike.runtime.policy import backend_name, env_count, threads, usable_cores

    # (the user's LOOKALIKE_LANES: at most this many; 1, one photo at a time)
    n = min(threads(), usable_cores(), env_count("LOOKALIKE_LANES") or usable_cores())
    if n < 2 or photos < MIN_PHOTOS or (backend or backend_name()) != "openvino":
        return 1
    return n


def each(fn: Callable[[T], R], items: Iterable[T], lanes: int) -> Iterator[R]:
    """``fn(x)`` for each of ``items``, ``lanes`` at once (in threads whose networks run
    ``lanes`` streams), yielded in input order as they come (a progress bar follows them).
    ``lanes`` 1: in this thread, one after the other."""
    items = list(items)
    if lanes <= 1 or len(items) < 2:
        yield from (fn(x) for x in items)
        return
    pool = ThreadPoolExecutor(lanes, thread_name_prefix="lookalike-lane", initializer=_enter,
                              initargs=(lanes,))
    try:
        # the first item alone: the lanes' networks are compiled and their first runs made
        # once, not raced (OpenVINONetwork: a first run initialises the binding's statics)
        yield pool.submit(fn, items[0]).result()
        yield from pool.map(fn, items[1:])
    finally:  # an error, Ctrl-C or a caller that stops: the items not started are dropped
        pool.shutdown(wait=True, cancel_futures=True)
