"""The HTTP surface: a FastAPI app serving the page (``static/``) and the REST API.

The recognizer (a model file or a gallery) is loaded once per worker, when the app is created.
Uploads are read into memory with a size limit, their type is sniffed from the first bytes,
their pixel count is checked from the header before decoding, and the CPU-bound work runs in
worker threads (never on the event loop). Nothing a user uploads touches the disk: the embedding
cache is switched off for the served recognizer, and photos are only written when the server
was started with ``keep_uploads`` (``lookalike serve --keep-uploads``).

Every error is JSON: ``{"error": "<code>", "detail": "<one sentence naming the fix>"}``.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from .. import __version__
from ..errors import LookalikeError
from ..images import MIN_SIDE, content_hash, is_heif

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_ENV = "LOOKALIKE_API_TOKEN"
MODEL_ENV = "LOOKALIKE_MODEL"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_TOP = 5
#: Photos in one "several photos of one person" request.
MAX_PHOTOS = 8
#: Room for multipart headers and boundaries around the photo bytes.
FORM_OVERHEAD = 64 * 1024

#: The page may only talk to this server (and show local blobs / the webcam).
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
            "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"BM", 0, "bmp"),
    (b"II*\x00", 0, "tif"),
    (b"MM\x00*", 0, "tif"),
]
SUPPORTED = "JPEG, PNG, WebP, GIF, BMP or TIFF"


def sniff_image_type(data: bytes) -> str | None:
    """The image type from the first bytes (never from the file name or the client's
    Content-Type): ``"jpg"``, ``"png"``, ``"webp"``, ``"gif"``, ``"bmp"``, ``"tif"`` or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, offset, kind in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return kind
    return None


class ApiError(Exception):
    """An answer with a 4xx status and a JSON body ``{"error": code, "detail": message}``."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


class _InMemoryParser(MultiPartParser):
    # Starlette spools parts over 1 MB to a temporary file on disk; uploads stay in memory here
    # (the request body was already read, bounded, into memory).
    spool_max_size = sys.maxsize


def _multipart_body(name: str, required: bool = True, many: bool = False) -> dict:
    schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if many:
        schema = {"type": "array", "items": schema}
    return {"requestBody": {"required": required, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": [name], "properties": {name: schema}}}}}}


def _load(recognizer: Any) -> Any:
    if isinstance(recognizer, str | Path):
        from ..model import load

        return load(recognizer)
    return recognizer


class Calls:
    """Runs the recognizer's CPU-bound or blocking calls off the event loop.

    A face-embedding model is thread-safe (the detector and embedder lock their networks), so
    its calls run on a pool of worker threads (``threads`` at once). Anything else — a gallery
    keeps an SQLite connection that only the thread that opened it may use — is loaded on and
    always called from one dedicated thread."""

    def __init__(self, recognizer: Any, threads: int):
        self._single = ThreadPoolExecutor(1, thread_name_prefix="lookalike-recognizer")
        self.rec = self._single.submit(_load, recognizer).result()
        manifest = getattr(self.rec, "manifest", None) or {}
        self.thread_safe = manifest.get("kind") == "embedding"
        self._limiter = anyio.CapacityLimiter(threads)

    async def __call__(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        call = partial(fn, *args, **kwargs)
        if self.thread_safe:
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)
        return await asyncio.wrap_future(self._single.submit(call))

    def now(self, fn: Callable, *args: Any) -> Any:
        """Call and wait (outside the event loop: while the app is being built)."""
        return fn(*args) if self.thread_safe else self._single.submit(fn, *args).result()


def create_app(recognizer: Any, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, keep_uploads: str | Path | None = None,
               token: str | None = None, threads: int | None = None,
               warm_up: bool = True) -> FastAPI:
    """The app for one recognizer: a model file / gallery path (loaded now, once) or an already
    loaded :class:`~lookalike.model.Recognizer` (pass a gallery by its path: it is opened on
    the thread that will use it).

    ``max_bytes`` / ``max_pixels``: per-photo limits. ``keep_uploads``: a folder where uploaded
    photos are kept (named by content hash); None keeps nothing. ``token``: the bearer token
    for gallery changes; None reads ``$LOOKALIKE_API_TOKEN`` at request time, and when neither
    is set, changes are refused. ``threads``: how many predictions run at once (default: the
    number of CPU cores)."""
    _big_buffers_back_to_the_os()
    calls = Calls(recognizer, threads or os.cpu_count() or 2)
    rec = calls.rec
    # The served recognizer never writes uploads' faces or embeddings to the on-disk cache.
    pipeline = calls.now(getattr, rec, "pipeline", None)
    if pipeline is not None and hasattr(pipeline, "cache"):
        pipeline.cache = None
    keep_dir = Path(keep_uploads) if keep_uploads else None
    if keep_dir is not None:
        keep_dir.mkdir(parents=True, exist_ok=True)
    remover = getattr(rec, "remove", None) or getattr(rec, "remove_person", None)
    editable = hasattr(rec, "add_photos") and remover is not None
    has_thumbs = hasattr(rec, "thumbnail")

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
    app.state.calls = calls

    # -- errors and headers ----------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, err: ApiError) -> JSONResponse:
        return JSONResponse({"error": err.code, "detail": err.detail}, err.status,
                            headers=err.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        # unknown paths and wrong methods: the same JSON shape as every other error
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code,
                                                                 f"http_{err.status_code}")
        detail = {404: f"there is nothing at {request.url.path}; the API is described at "
                       "/docs",
                  405: f"{request.method} is not allowed on {request.url.path}; the API is "
                       "described at /docs"}.get(err.status_code, str(err.detail))
        return JSONResponse({"error": code, "detail": detail}, err.status_code,
                            headers=getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        parts = []
        for e in err.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path"))
            parts.append(f"{where}: {e.get('msg')}")
        return JSONResponse({"error": "invalid_request", "detail": "; ".join(parts)}, 422)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        path = request.url.path
        if path == "/" or path.startswith("/static/"):
            response.headers["Content-Security-Policy"] = PAGE_CSP
            response.headers["Permissions-Policy"] = "camera=(self), microphone=()"
        return response

    # -- reading uploads -------------------------------------------------------------------
    async def read_files(request: Request, limit: int, max_files: int
                         ) -> list[tuple[str, bytes]]:
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise ApiError(415, "not_multipart", "send the photo as multipart/form-data in "
                           "the field 'photo' (curl -F photo=@me.jpg)")
        declared = request.headers.get("content-length", "")
        too_large = ApiError(413, "too_large", f"the upload is larger than "
                             f"{_mb(limit - FORM_OVERHEAD)}; send a smaller photo")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        except ClientDisconnect:
            # the client went away mid-upload: nobody reads this answer, but it is not a fault
            raise ApiError(400, "disconnected", "the upload was cut off before its end; send "
                           "it again") from None
        body = b"".join(chunks)

        async def stream() -> AsyncIterator[bytes]:
            yield body

        try:
            form = await _InMemoryParser(request.headers, stream(), max_files=max_files,
                                         max_fields=20).parse()
        except MultiPartException as err:
            raise ApiError(400, "bad_form", f"the form could not be read ({err})") from None
        files = []
        for _key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append((Path(value.filename or "photo").name or "photo",
                              await value.read()))
        await form.close()
        if not files:
            raise ApiError(400, "no_photo", "no photo in the form: send it in the field "
                           "'photo' (curl -F photo=@me.jpg)")
        return files

    def check_photo(name: str, data: bytes) -> str:
        if not data:
            raise ApiError(400, "empty", f"{name} is empty (0 bytes); choose a photo")
        if len(data) > max_bytes:
            raise ApiError(413, "too_large", f"{name} is {_mb(len(data))}, more than the "
                           f"{_mb(max_bytes)} allowed; send a smaller photo")
        kind = sniff_image_type(data)
        if kind is None and is_heif(data):
            raise ApiError(415, "not_an_image", f"{name} is a HEIC/HEIF photo (iPhone format), "
                           "which lookalike cannot read: convert it to JPEG (or set the camera "
                           "to 'Most Compatible')")
        if kind is None:
            raise ApiError(415, "not_an_image", f"{name} is not an image: send a {SUPPORTED} "
                           "photo")
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with Image.open(io.BytesIO(data)) as im:
                    width, height = im.size
            except Image.DecompressionBombError:
                width, height = max_pixels, 2
            except Exception:
                raise ApiError(422, "unreadable_image", f"{name} looks like a {kind.upper()} "
                               "file but is damaged; re-export it as JPEG or PNG") from None
        if width * height > max_pixels:
            raise ApiError(413, "too_many_pixels", f"{name} has more than {max_pixels:,} "
                           "pixels; scale it down")
        if min(width, height) < MIN_SIDE:
            raise ApiError(422, "too_small", f"{name} is {width}×{height} pixels, too small to "
                           f"show a face; send a photo at least {MIN_SIDE} pixels on each side")
        if keep_dir is not None:
            _keep(keep_dir, data, kind)
        return kind

    async def run(fn, *args, **kwargs):
        try:
            return await calls(fn, *args, **kwargs)
        except LookalikeError as err:
            raise ApiError(422, "unreadable_image", str(err)) from None

    def photo_json(result, top: int) -> dict:
        d = result.to_dict(top)
        for fd, fr in zip(d["faces"], result.faces, strict=True):
            nearest = list(getattr(fr, "nearest", None) or [])
            for k, m in enumerate(fd["ranking"]):
                idx = nearest[k] if k < len(nearest) else None
                m["thumb"] = f"/api/thumbs/{idx}" if has_thumbs and idx is not None else None
                best = m.get("best_photo")
                if isinstance(best, dict):
                    best.pop("source", None)  # a file path on the server: not the client's
        return d

    threshold = calls.now(getattr, rec, "threshold", None)

    async def labels() -> list[str]:
        # a model's labels are a cheap property: read them here, so that /healthz and
        # /api/info answer at once even while every prediction thread is busy
        if calls.thread_safe:
            return list(rec.labels)
        return list(await calls(getattr, rec, "labels"))

    # -- the page --------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- the API ---------------------------------------------------------------------------
    @app.get("/healthz", tags=["service"], summary="Liveness: the recognizer is loaded")
    async def healthz() -> dict:
        return {"status": "ok", "people": len(await labels()), "version": __version__}

    @app.get("/api/info", tags=["service"], summary="What is served and the upload limits")
    async def info() -> dict:
        manifest = getattr(rec, "manifest", {}) or {}
        return {"kind": manifest.get("kind", type(rec).__name__.lower()),
                "people": len(await labels()), "threshold": threshold, "editable": editable,
                "max_bytes": max_bytes, "max_pixels": max_pixels, "max_photos": MAX_PHOTOS,
                "default_top": DEFAULT_TOP, "version": __version__}

    @app.get("/api/people", tags=["people"], summary="The people the recognizer knows")
    async def people() -> dict:
        names = await labels()
        return {"people": names, "count": len(names), "editable": editable}

    @app.post("/api/predict", tags=["predict"], openapi_extra=_multipart_body("photo"),
              summary="Whom does each face in a photo look like?",
              description="Multipart field `photo`. For every face (most prominent first): "
              "box [x, y, w, h], 5 landmarks, the ranking of known people (probability, "
              "similarity to their closest photo, and `thumb`, the URL of that photo), and "
              "`unknown` (none of these). 422 `no_face` when no face is found.")
    async def predict(request: Request, top: int = Query(DEFAULT_TOP, ge=1, le=1000)) -> dict:
        (name, data), = (await read_files(request, max_bytes + FORM_OVERHEAD, 1))
        check_photo(name, data)
        result = await run(rec.predict, data, all_faces=True, name=name)
        if not result.ok:
            raise ApiError(422, "no_face", f"no face found in {name}; try a photo where the "
                           "face is visible, upright and not too small")
        return photo_json(result, top) | {"threshold": threshold}

    @app.post("/api/verdict", tags=["predict"],
              openapi_extra=_multipart_body("photo", many=True),
              summary="Several photos of one person: one combined verdict",
              description=f"Repeat the multipart field `photo` (up to {MAX_PHOTOS}). Each photo "
              "is ranked as in /api/predict; the verdict combines the most prominent face of "
              "every photo (geometric mean of the probabilities).")
    async def verdict(request: Request, top: int = Query(DEFAULT_TOP, ge=1, le=1000)) -> dict:
        files = await read_files(request, MAX_PHOTOS * max_bytes // 2 + FORM_OVERHEAD,
                                 MAX_PHOTOS)
        for name, data in files:
            check_photo(name, data)
        results, v = await run(rec.predict_many, [d for _, d in files], all_faces=True,
                               together=True, names=[n for n, _ in files])
        photos = [photo_json(r, top) for r in results]
        if v is None:
            raise ApiError(422, "no_face", "no face found in any of the photos")
        verdict_doc = v.to_dict(top)
        # each person's closest training photo over the photos' main faces
        closest: dict[str, tuple[float, str]] = {}
        for doc in photos:
            for m in (doc["faces"][0]["ranking"] if doc["faces"] else []):
                sim = m.get("similarity")
                if m.get("thumb") and sim is not None and sim > closest.get(
                        m["person"], (-2.0, ""))[0]:
                    closest[m["person"]] = (sim, m["thumb"])
        for m in verdict_doc["ranking"]:
            m["thumb"] = closest.get(m["person"], (0.0, None))[1]
        return {"photos": photos, "verdict": verdict_doc, "threshold": threshold}

    # -- compare two photos, and cards (PNG) to download -------------------------------------
    from .compare_routes import add_compare_and_card_routes

    add_compare_and_card_routes(app, rec, calls, pipeline, read_files, check_photo, max_bytes,
                                FORM_OVERHEAD, DEFAULT_TOP)

    @app.get("/api/thumbs/{index}", tags=["people"], response_class=Response,
             summary="A training photo's face (JPEG), as linked from a ranking's `thumb`")
    async def thumb(index: int) -> Response:
        data = None
        if has_thumbs and index >= 0:
            data = await calls(rec.thumbnail, index)
        if not data:
            raise ApiError(404, "no_thumbnail", f"there is no photo number {index}")
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=300"})

    # -- gallery changes -------------------------------------------------------------------
    def authorize(request: Request) -> None:
        expected = token if token is not None else os.environ.get(TOKEN_ENV, "")
        if not expected:
            raise ApiError(403, "changes_disabled", f"changes are turned off on this server: "
                           f"start it with {TOKEN_ENV} set, then send 'Authorization: Bearer "
                           "<token>'")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), expected.encode()):
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>' with the "
                           f"server's {TOKEN_ENV}", headers={"WWW-Authenticate": "Bearer"})
        if not editable:
            raise ApiError(409, "needs_gallery", "this server answers from a trained model, "
                           "which cannot add or remove people; serve a gallery "
                           "(lookalike gallery create) to change people without retraining")

    @app.post("/api/people/{name}/photos", tags=["people"],
              openapi_extra=_multipart_body("photo", many=True),
              summary="Add photos of a person to the gallery (bearer token)")
    async def add_photos(name: str, request: Request) -> dict:
        authorize(request)
        if not name.isprintable() or not name.strip() or name != name.strip():
            # the gallery would store another name (escaped / stripped): refuse it, so that a
            # person is always listed and removed by the name they were added under
            raise ApiError(422, "bad_name", f"the person's name {ascii(name)} must be printable "
                           "text without control characters or leading / trailing spaces")
        files = await read_files(request, MAX_PHOTOS * max_bytes // 2 + FORM_OVERHEAD,
                                 MAX_PHOTOS)
        for fname, data in files:
            check_photo(fname, data)
        try:
            out = await calls(_enrol, rec, name, files)
        except LookalikeError as err:
            raise ApiError(422, "not_added", str(err)) from None
        if isinstance(out, dict) and not out.get("added") and not out.get("already_enrolled"):
            why = "; ".join(f"{str(src).removeprefix('web upload ')}: {reason}"
                            for src, reason in out.get("skipped") or [])
            raise ApiError(422, "not_added", f"no photo was added ({why or 'nothing to add'}); "
                           "send photos in which the person's face is visible")
        return {"person": name, "photos": len(files), "result": out,
                "people": len(await labels())}

    @app.delete("/api/people/{name}", tags=["people"],
                summary="Remove every trace of a person from the gallery (bearer token)")
    async def remove_person(name: str, request: Request) -> dict:
        authorize(request)
        if name not in set(await labels()):
            raise ApiError(404, "unknown_person", f"{name!r} is not in the gallery")
        try:
            out = await calls(remover, name)
        except LookalikeError as err:
            raise ApiError(422, "not_removed", str(err)) from None
        return {"person": name, "removed": True, "result": _jsonable(out),
                "people": len(await labels())}

    return app


def _big_buffers_back_to_the_os() -> None:
    """Buffers of 1 MB or more (uploads, decoded photos) are mapped from and unmapped back to
    the OS. glibc otherwise raises its mmap threshold after the first big free and serves later
    big buffers from its heaps, which it rarely shrinks: four 7000x7000 PNG uploads left the
    server ~800 MB larger for good (``bench/bench_web.py abuse``); with this it returns to its
    size. A no-op where the C library has no ``mallopt``."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD, fixed from now on


def _warm(pipeline) -> None:
    """Load the detector and embedder networks before the first request."""
    from ..faces import whole_image_face

    blank = np.full((96, 96, 3), 128, np.uint8)
    pipeline.detector.detect(blank)
    pipeline.embedder.embed(blank, [whole_image_face(blank.shape)])


def _enrol(rec: Any, person: str, files: list[tuple[str, bytes]]) -> Any:
    """Add uploaded photos of ``person`` to a gallery. Gallery enrolment reads photo files, so
    the uploads are written to a private temporary folder (in memory under /dev/shm where it
    exists) and deleted right after."""
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="lookalike-enrol-",
                                   dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    try:
        items = []
        for i, (name, data) in enumerate(files):
            # not the client's file name: one too long for the file system was a 500 (fuzzing)
            path = folder / f"{i:02d}.photo"
            path.write_bytes(data)
            items.append((person, path, f"web upload {name}"))  # the source name recorded
        try:
            out = rec.add_photos(items, workers=1, progress=False, cache=False)
        except TypeError:  # a recognizer with a plainer signature
            out = rec.add_photos(items)
        return _strip_path(_jsonable(out), str(folder) + os.sep)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _strip_path(value: Any, strip: str) -> Any:
    """``value`` with the temporary folder's path removed from every string."""
    if isinstance(value, str):
        return value.replace(strip, "")
    if isinstance(value, list):
        return [_strip_path(v, strip) for v in value]
    if isinstance(value, dict):
        return {k: _strip_path(v, strip) for k, v in value.items()}
    return value


def _keep(folder: Path, data: bytes, kind: str) -> None:
    path = folder / f"{content_hash(data)}.{kind}"
    if path.exists():
        return
    tmp = path.with_suffix(f".{kind}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    return _jsonable(to_dict()) if callable(to_dict) else str(value)


def app_from_env() -> FastAPI:
    """For several worker processes: ``LOOKALIKE_MODEL=people.lookalike uvicorn --factory
    lookalike.web.app:app_from_env --workers 2`` (each worker loads the model once)."""
    path = os.environ.get(MODEL_ENV)
    if not path:
        raise LookalikeError(f"{MODEL_ENV} is not set", None,
                             f"set {MODEL_ENV} to a model file or gallery folder")
    keep = os.environ.get("LOOKALIKE_KEEP_UPLOADS") or None
    return create_app(path, keep_uploads=keep)
