"""The HTTP surface: a FastAPI app serving the page (``static/``) and the REST API.

The recognizer (a model file or a gallery) is loaded once per worker, when the app is created.
Uploads are checked by :mod:`.uploads` (size, type sniffed from the first bytes, pixel count
from the header before decoding), the routes live in :mod:`.routes`, and the CPU-bound work
runs in worker threads (never on the event loop). Nothing a user uploads touches the disk: the
embedding cache is switched off for the served recognizer, and photos are only written when
the server was started with ``keep_uploads`` (``lookalike serve --keep-uploads``).

Every error is JSON: ``{"error": "<code>", "detail": "<one sentence naming the fix>"}``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI

from lookalike._version import __version__
from lookalike.errors import LookalikeError
from lookalike.models.recognizer import Recognizer
from lookalike.web.openapi import declare_schemas
from lookalike.web.routes import (
    DEFAULT_TOP,
    STATIC,
    TOKEN_ENV,
    Served,
    add_change_routes,
    add_error_handlers,
    add_predict_routes,
    add_service_routes,
)
from lookalike.web.uploads import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    MAX_PHOTOS,
    ApiError,
    sniff_image_type,
)

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "DEFAULT_TOP", "MAX_PHOTOS", "MODEL_ENV",
           "STATIC", "TOKEN_ENV", "ApiError", "Calls", "app_from_env", "create_app",
           "sniff_image_type"]

MODEL_ENV = "LOOKALIKE_MODEL"


def _load(recognizer: str | Path | Recognizer) -> Recognizer:
    if isinstance(recognizer, str | Path):
        from lookalike.models.kinds import load

        return load(recognizer)
    return recognizer


class Calls:
    """Runs the recognizer's CPU-bound or blocking calls off the event loop.

    A thread-safe recognizer (a face-embedding model: the detector and embedder lock their
    networks) is called on a pool of worker threads (``threads`` at once). Anything else — a
    gallery keeps an SQLite connection that only the thread that opened it may use — is loaded
    on and always called from one dedicated thread."""

    def __init__(self, recognizer: str | Path | Recognizer, threads: int):
        self._single = ThreadPoolExecutor(1, thread_name_prefix="lookalike-recognizer")
        self.rec: Recognizer = self._single.submit(_load, recognizer).result()
        self.thread_safe = self.rec.thread_safe
        self._limiter = anyio.CapacityLimiter(threads)

    async def __call__(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        call = partial(fn, *args, **kwargs)
        if self.thread_safe:
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)
        return await asyncio.wrap_future(self._single.submit(call))

    def now(self, fn: Callable, *args: Any) -> Any:
        """Call and wait (outside the event loop: while the app is being built)."""
        return fn(*args) if self.thread_safe else self._single.submit(fn, *args).result()


def create_app(recognizer: str | Path | Recognizer, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, keep_uploads: str | Path | None = None,
               token: str | None = None, threads: int | None = None,
               warm_up: bool = True) -> FastAPI:
    """The app for one recognizer: a model file / gallery path (loaded now, once) or an already
    loaded :class:`~lookalike.models.recognizer.Recognizer` (pass a gallery by its path: it is
    opened
    on the thread that will use it).

    ``max_bytes`` / ``max_pixels``: per-photo limits. ``keep_uploads``: a folder where uploaded
    photos are kept (named by content hash); None keeps nothing. ``token``: the bearer token
    for gallery changes; None reads ``$LOOKALIKE_API_TOKEN`` at request time, and when neither
    is set, changes are refused. ``threads``: how many predictions run at once (default: the
    number of CPU cores)."""
    _big_buffers_back_to_the_os()
    calls = Calls(recognizer, threads or os.cpu_count() or 2)
    rec = calls.rec
    # The served recognizer never writes uploads' faces or embeddings to the on-disk cache.
    pipeline = calls.now(lambda: rec.pipeline)
    if pipeline is not None:
        pipeline.cache = None
    keep_dir = Path(keep_uploads) if keep_uploads else None
    if keep_dir is not None:
        keep_dir.mkdir(parents=True, exist_ok=True)
    served = Served(rec, calls, max_bytes, max_pixels, keep_dir, token,
                    threshold=calls.now(lambda: rec.threshold), editable=rec.editable())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if warm_up and pipeline is not None:
            await calls(_warm, pipeline)
        yield

    app = FastAPI(
        title="lookalike", version=__version__, lifespan=lifespan,
        description="Who does this face look like? Upload a photo; get, for every face, its box, "
        "landmarks and a ranking of the known people with calibrated probabilities. Errors are "
        '`{"error": code, "detail": message}` with a 4xx status.')
    app.state.recognizer = rec
    declare_schemas(app)
    app.state.calls = calls
    add_error_handlers(app)
    add_service_routes(app, served)
    add_predict_routes(app, served)
    add_change_routes(app, served)
    from lookalike.web.compare_routes import add_compare_and_card_routes

    add_compare_and_card_routes(app, served, pipeline)
    from lookalike.web.video_routes import add_video_routes

    add_video_routes(app, served)
    from lookalike.web.group_routes import add_group_route

    add_group_route(app, served, pipeline)
    return app


def _big_buffers_back_to_the_os() -> None:
    """Buffers of 1 MB or more (uploads, decoded photos) are mapped from and unmapped back to
    the OS. glibc otherwise raises its mmap threshold after the first big free and serves later
    big buffers from its heaps, which it rarely shrinks: four 7000x7000 PNG uploads left the
    server ~800 MB larger for good (``bench/studies/web/bench_web.py abuse``); with this it
    returns to its
    size. A no-op where the C library has no ``mallopt``."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD, fixed from now on


def _warm(pipeline) -> None:
    """Load the detector and embedder networks before the first request."""
    from lookalike.face.detector import whole_image_face

    blank = np.full((96, 96, 3), 128, np.uint8)
    pipeline.detector.detect(blank)
    pipeline.embedder.embed(blank, [whole_image_face(blank.shape)])


def app_from_env() -> FastAPI:
    """For several worker processes: ``LOOKALIKE_MODEL=people.lookalike uvicorn --factory
    lookalike.web.app:app_from_env --workers 2`` (each worker loads the model once)."""
    path = os.environ.get(MODEL_ENV)
    if not path:
        raise LookalikeError(f"{MODEL_ENV} is not set", None,
                             f"set {MODEL_ENV} to a model file or gallery folder")
    keep = os.environ.get("LOOKALIKE_KEEP_UPLOADS") or None
    return create_app(path, keep_uploads=keep)
