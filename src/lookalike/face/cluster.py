"""Making embeddings on a Dask cluster (``--cluster ADDRESS``).

Enrolment and training spend ~95 % of their time in face detection and embedding; this module
moves that stage onto Dask workers and nothing else. The client keeps everything that is
stored: it lists and hashes the photos, looks them up in its embedding cache, sends the misses
to the workers in batches, and commits what comes back (into its cache and the gallery or
model) exactly as the in-process path does. A cluster therefore changes *where* embeddings
are made, not *what* is stored; workers never write the client's SQLite cache or a gallery.

ADDRESS is a running Dask scheduler (``tcp://host:8786``), ``local`` (a local cluster of one
worker process per core, one thread each) or ``local:N`` (N worker processes); from Python
also a ``distributed.Client``.

Workers (:mod:`lookalike.face.cluster_worker`) load the detector and embedder once each and
take photos in batches of up to :data:`BATCH_PHOTOS` (the faces of up to
:data:`lookalike.face.batch.PHOTOS` of them per SFace inference). Photos reach them either as
paths (when every worker sees the same files: a local cluster, or a shared file system) or as
their bytes shipped from the client (``ship="bytes"``); ``ship="auto"`` probes the workers with
a few of the photos and falls back to bytes for any photo a worker cannot read (or reads with
other content) at its path.

Faults: a worker that dies mid-batch loses nothing — the scheduler runs its batches again on
another worker and the client takes each photo's result once. A batch that kills every worker
taking it (Dask's ``KilledWorker``) goes again photo by photo, and the photo that still kills
is skipped with that reason. A scheduler that goes away, or has no workers for
:data:`NO_WORKERS_S`, ends the run with one line (:class:`ClusterError`); the caller has
committed every finished batch, so a re-run does the rest.

Used through :func:`lookalike.face.many.analyse` (``cluster=``), the one way training,
gallery enrolment, grouping and evaluation analyse many photos; its jobs
(:class:`lookalike.face.jobs.Job`) come in and go out as they are. This module is the client
(batches sent, results taken, faults); :mod:`lookalike.face.cluster_connect` reaches the
cluster and :mod:`lookalike.face.cluster_worker` is what the workers run. They sit beside the
face pipeline and import nothing above it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from lookalike.errors import ImageError
from lookalike.face.cluster_connect import (
    LOCAL_CONFIG,
    ClusterError,
    connect,
    distributed_api,
    parse_address,
    short_reason,
)
from lookalike.face.cluster_worker import NOT_VISIBLE, analyse_batch, can_read
from lookalike.files import pause_point

if TYPE_CHECKING:
    from lookalike.face.jobs import Job

#: Photos per task at most. Tasks are sized as the work goes ("guided" scheduling): a share
#: of what is left per worker thread, between :data:`MIN_BATCH` and this, so a large job runs
#: few tasks (each costs the client process ~10 ms of Dask work — scheduler, messages, result
#: transfer — which on a local cluster is taken from the workers' cores) and the last tasks
#: are small, so that no worker waits long at the end. A lost worker loses one batch.
BATCH_PHOTOS = 32
#: ... when photos are shipped as bytes (bounds the memory held for queued batches).
BATCH_PHOTOS_BYTES = 8
MIN_BATCH = 4
#: A task takes about 1 / (GUIDED * worker threads) of the photos not yet sent.
GUIDED = 2
#: Batches kept queued per worker thread (bounds the bytes held in memory when shipping).
QUEUE_PER_THREAD = 3
SHIP_MODES = ("auto", "paths", "bytes")
#: Seconds without any worker before giving up (at the start, or mid-run).
NO_WORKERS_S = 60.0
#: Seconds between checks that workers are still there while waiting for results.
WAIT_S = 5.0
#: Seconds a count of the cluster's worker threads is reused (asking is a scheduler round trip).
THREADS_TTL_S = 2.0

__all__ = ["BATCH_PHOTOS", "LOCAL_CONFIG", "ClusterError", "analyse_jobs", "connect",
           "parse_address"]


def analyse_jobs(jobs: Sequence[Job], *, embedder: str, crops: bool, cluster: Any,
            ship: str = "auto", cache: Any = None) -> Iterator[tuple[Job, Any, str | None]]:
    """(job, PhotoFaces or None, error) for every job, in completion order, each once. A job
    holding its bytes (``job.data``: an upload, no file) is shipped as bytes.

    ``cache``: an :class:`~lookalike.cache.ArrayCache` the client reads before sending a photo
    and writes with what comes back (None: neither)."""
    from lookalike.face.pipeline import FacePipeline, _from_arrays, _to_arrays

    if ship not in SHIP_MODES:
        raise ClusterError(f"unknown ship mode {ship!r}", fix=f"choose {', '.join(SHIP_MODES)}")
    key = FacePipeline(embedder, crops=crops, cache=False).key  # loads no model
    misses: list[Job] = []
    for job in jobs:
        hit = cache.get(f"{job.digest}|{key}") if cache is not None else None
        if hit is None:
            misses.append(job)
            continue
        faces = _from_arrays(hit, job.digest)
        yield job, (faces.first() if job.first_only else faces), None
    if not misses:
        return
    with connect(cluster) as client:
        address = getattr(client, "lookalike_address", None) or str(client.scheduler.address)
        try:
            yield from _run(client, address, misses, embedder=embedder, crops=crops, ship=ship,
                            key=key, cache=cache, to_arrays=_to_arrays)
        except ClusterError:
            raise
        except Exception as err:
            if _scheduler_lost(client, err):
                why = ("connection lost" if "cancel" in type(err).__name__.lower()
                       else short_reason(err))
                raise ClusterError(
                    f"lost the Dask scheduler ({why}); every finished batch is committed",
                    address, "start the scheduler again and re-run the same command to enrol "
                    "the rest") from None
            raise


def _scheduler_lost(client: Any, err: BaseException) -> bool:
    import concurrent.futures

    distributed = distributed_api()
    if isinstance(err, OSError | TimeoutError | distributed.comm.CommClosedError
                  | concurrent.futures.CancelledError):  # the client cancels all on a lost link
        return True
    return client.status not in ("running", "connecting")


def _run(client: Any, address: str, jobs: list[Job], *, embedder: str, crops: bool, ship: str,
         key: str, cache: Any, to_arrays) -> Iterator[tuple[Job, Any, str | None]]:
    try:
        client.wait_for_workers(1, timeout=NO_WORKERS_S)
    except (TimeoutError, OSError):
        raise ClusterError(f"the Dask scheduler has no workers (waited {NO_WORKERS_S:.0f} s)",
                           address, "start some: `dask worker ADDRESS` on each machine") \
            from None
    mode = ship
    if mode == "auto":
        local = isinstance(getattr(client, "cluster", None), distributed_api().LocalCluster)
        sample = [(j.path, j.digest) for j in jobs if j.data is None][:3]
        visible = local or not sample or all(client.run(can_read, sample).values())
        mode = "paths" if visible else "bytes"
    batches = _Batches(client, address, jobs, mode == "bytes", embedder, crops)
    while batches.busy():
        out = batches.next_results()
        if out is None:
            continue
        worker_key, results = out
        if worker_key != key:
            raise ClusterError(f"a worker analyses photos as {worker_key}, this client as {key}",
                               address, "install the same lookalike version on the workers")
        fresh = batches.take(results)
        if cache is not None:  # one transaction per batch
            cache.put_many([(f"{job.digest}|{key}", to_arrays(faces)) for job, faces, _ in fresh
                            if faces is not None and not job.first_only])
        yield from fresh
        pause_point("cluster-result")  # test-only: the scheduler killed between batches
        batches.submit()
    yield from batches.take_early()


class _Batches:
    """The client's side of one run: photos waiting, batches on the cluster, photos done."""

    def __init__(self, client: Any, address: str, jobs: list[Job], as_bytes: bool,
                 embedder: str, crops: bool):
        self.client, self.address, self.embedder, self.crops = client, address, embedder, crops
        self.by_task = {j.task: j for j in jobs}
        self.fresh: deque[Job] = deque(jobs)  # not sent yet: carved into batches as they go
        self.as_bytes = as_bytes
        self.pending: deque[tuple[list[Job], bool]] = deque()  # batches to send again
        self.running: dict[Any, tuple[list[Job], bool]] = {}
        self.finished: deque[Any] = deque()
        self.done: set[int] = set()
        self.early: list[tuple[Job, Any, str | None]] = []  # failed before or while sending
        self.idle = 0.0
        self._threads, self._asked = 1, -math.inf
        self.submit()

    def busy(self) -> bool:
        return bool(self.running or self.pending or self.fresh)

    def threads(self, fresh: bool = False) -> int:
        """The cluster's worker threads now (cached for :data:`THREADS_TTL_S`)."""
        now = time.monotonic()
        if fresh or now - self._asked > THREADS_TTL_S:
            self._threads, self._asked = sum(self.client.nthreads().values()), now
        return self._threads

    def _next_batch(self) -> tuple[list[Job], bool]:
        if self.pending:
            return self.pending.popleft()
        most = BATCH_PHOTOS_BYTES if self.as_bytes else BATCH_PHOTOS
        size = math.ceil(len(self.fresh) / (GUIDED * max(1, self.threads())))
        size = max(MIN_BATCH, min(most, size))
        return [self.fresh.popleft() for _ in range(min(size, len(self.fresh)))], self.as_bytes

    def submit(self) -> None:
        """Keep :data:`QUEUE_PER_THREAD` batches per worker thread on the cluster (workers
        may come and go: the queue follows their number)."""
        from lookalike.photos.images import read_bytes

        cap = QUEUE_PER_THREAD * max(1, self.threads())
        while (self.pending or self.fresh) and len(self.running) < cap:
            batch, as_bytes = self._next_batch()
            items: list[tuple[int, str | bytes, str, bool]] = []
            sent: list[Job] = []
            for j in batch:
                src: str | bytes = j.path if j.data is None else j.data
                if as_bytes and j.data is None:
                    try:
                        src = read_bytes(j.path)
                    except ImageError as err:  # gone or changed since it was listed
                        self.early.append((j, None, err.detail))
                        continue
                items.append((j.task, src, j.digest, j.first_only))
                sent.append(j)
            if items:
                fut = self.client.submit(analyse_batch, items, self.embedder, self.crops,
                                         pure=False)
                self.running[fut] = (sent, as_bytes)

    def next_results(self) -> tuple[str, list] | None:
        """A finished batch's (worker's pipeline key, results), or None (nothing yet, or the
        batch was split: see the module doc on photos that kill workers)."""
        if not self.running and not self.finished:
            self.submit()
            return None
        if not self.finished:
            try:
                ready, _ = distributed_api().wait(list(self.running), timeout=WAIT_S,
                                               return_when="FIRST_COMPLETED")
            except TimeoutError:
                ready = set()
            if not ready:  # nothing finished for a while: are there workers at all?
                self.idle = self.idle + WAIT_S if not self.threads(fresh=True) else 0.0
                if self.idle >= NO_WORKERS_S:
                    raise ClusterError(f"no Dask workers left for {NO_WORKERS_S:.0f} s; every "
                                       "finished batch is committed", self.address,
                                       "start workers and re-run the same command")
                return None
            self.idle = 0.0
            self.finished.extend(f for f in self.running if f in ready)
        fut = self.finished.popleft()
        batch, as_bytes = self.running.pop(fut)
        try:
            worker_key, _pid, results = fut.result()
        except Exception as err:
            if type(err).__name__ != "KilledWorker":
                raise
            # The batch killed worker after worker (a photo that crashes a native library):
            # its photos go again one by one, and the one that still does is skipped.
            if len(batch) > 1:
                self.pending.extendleft(([j], as_bytes) for j in batch)
            else:
                self.early.append((batch[0], None, "crashed every worker that analysed it (the "
                                                   "decoder or a model died on it)"))
            self.submit()
            return None
        return worker_key, results

    def take(self, results: list) -> list[tuple[Job, Any, str | None]]:
        """A batch's results not taken before (a batch run twice, after its worker died,
        counts once); photos a worker could not read at their path go again as bytes."""
        resend: list[Job] = []
        fresh = self.take_early()
        for task, faces, err in results:
            job = self.by_task[task]
            if err == NOT_VISIBLE:
                resend.append(job)
            elif task not in self.done:
                if faces is not None and faces.digest != job.digest:
                    faces, err = None, "changed while it was being enrolled — enrol it again"
                self.done.add(task)
                fresh.append((job, faces, err))
        if resend:
            self.pending.appendleft((resend, True))
        return fresh

    def take_early(self) -> list[tuple[Job, Any, str | None]]:
        out = [(j, f, e) for j, f, e in self.early if j.task not in self.done]
        self.done.update(j.task for j, _, _ in out)
        self.early.clear()
        return out
