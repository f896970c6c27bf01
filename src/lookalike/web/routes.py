"""The routes of the web surface: the page, the service and predict endpoints, and gallery
changes, over a :class:`Served` recognizer. Every error is JSON:
``{"error": "<code>", "detail": "<one sentence naming the fix>"}``."""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from lookalike import runtime
from lookalike._version import __version__
from lookalike.errors import LookalikeError
from lookalike.models.recognizer import Editable, Recognizer
from lookalike.schema import stamp
from lookalike.web.openapi import answer_responses
from lookalike.web.uploads import (
    FORM_OVERHEAD,
    MAX_PHOTOS,
    ApiError,
    check_photo,
    multipart_body,
    read_files,
)

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_ENV = "LOOKALIKE_API_TOKEN"
DEFAULT_TOP = 5
#: The error statuses of gallery changes.
CHANGE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)

#: The page may only talk to this server (and show local blobs / the webcam).
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
            "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass
class Served:
    """The served recognizer, how its calls run, and the server's limits and settings."""

    rec: Recognizer
    calls: Any  # lookalike.web.app.Calls
    max_bytes: int
    max_pixels: int
    keep_dir: Path | None
    token: str | None
    threshold: float | None
    editable: Editable | None

    async def labels(self) -> list[str]:
        # a model's labels are a cheap property: read them here, so that /healthz and
        # /api/info answer at once even while every prediction thread is busy
        if self.calls.thread_safe:
            return list(self.rec.labels)
        return list(await self.calls(lambda: self.rec.labels))

    def check(self, files: list[tuple[str, bytes]]) -> None:
        for name, data in files:
            check_photo(name, data, max_bytes=self.max_bytes, max_pixels=self.max_pixels,
                        keep_dir=self.keep_dir)

    async def run(self, fn, *args, **kwargs):
        try:
            return await self.calls(fn, *args, **kwargs)
        except LookalikeError as err:
            raise ApiError(422, "unreadable_image", str(err)) from None

    def photo_json(self, result, top: int) -> dict:
        d = result.to_dict(top)
        for fd, fr in zip(d["faces"], result.faces, strict=True):
            nearest = list(fr.nearest or [])
            for k, m in enumerate(fd["ranking"]):
                idx = nearest[k] if k < len(nearest) else None
                m["thumb"] = (f"/api/thumbs/{idx}" if self.rec.has_thumbnails and idx is not None
                              else None)
                best = m.get("best_photo")
                if isinstance(best, dict):
                    best.pop("source", None)  # a file path on the server: not the client's
        return d

    def authorize(self, request: Request) -> Editable:
        expected = self.token if self.token is not None else os.environ.get(TOKEN_ENV, "")
        if not expected:
            raise ApiError(403, "changes_disabled", f"changes are turned off on this server: "
                           f"start it with {TOKEN_ENV} set, then send 'Authorization: Bearer "
                           "<token>'")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), expected.encode()):
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>' with the "
                           f"server's {TOKEN_ENV}", headers={"WWW-Authenticate": "Bearer"})
        if self.editable is None:
            raise ApiError(409, "needs_gallery", "this server answers from a trained model, "
                           "which cannot add or remove people; serve a gallery "
                           "(lookalike gallery create) to change people without retraining")
        return self.editable


def add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error", "detail"}`` JSON, and the security headers."""

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
                            headers=err.headers)

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


def add_service_routes(app: FastAPI, s: Served) -> None:
    """The page, liveness, what is served, and who is known."""

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", tags=["service"], summary="Liveness: the recognizer is loaded",
             response_model=None, responses=answer_responses("health", ()))
    async def healthz() -> dict:
        return stamp("health", {"status": "ok", "people": len(await s.labels()),
                                "version": __version__})

    @app.get("/api/info", tags=["service"], summary="What is served and the upload limits",
             response_model=None, responses=answer_responses("server", ()))
    async def info() -> dict:
        return stamp("server", {
            "kind": s.rec.kind, "people": len(await s.labels()), "threshold": s.threshold,
            "editable": s.editable is not None, "max_bytes": s.max_bytes,
            "max_pixels": s.max_pixels, "max_photos": MAX_PHOTOS, "default_top": DEFAULT_TOP,
            "version": __version__, "runtime": runtime.describe()})

    @app.get("/api/people", tags=["people"], summary="The people the recognizer knows",
             response_model=None, responses=answer_responses("people", ()))
    async def people() -> dict:
        names = await s.labels()
        return stamp("people", {"people": names, "count": len(names),
                                "editable": s.editable is not None})

    @app.get("/api/thumbs/{index}", tags=["people"], response_class=Response,
             summary="A training photo's face (JPEG), as linked from a ranking's `thumb`")
    async def thumb(index: int) -> Response:
        data = None
        if s.rec.has_thumbnails and index >= 0:
            data = await s.calls(s.rec.thumbnail, index)
        if not data:
            raise ApiError(404, "no_thumbnail", f"there is no photo number {index}")
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=300"})


def _closest_thumbs(photos: list[dict], verdict_doc: dict) -> None:
    """Each person of the verdict gets their closest training photo over the photos' main
    faces."""
    closest: dict[str, tuple[float, str]] = {}
    for doc in photos:
        for m in (doc["faces"][0]["ranking"] if doc["faces"] else []):
            sim = m.get("similarity")
            if m.get("thumb") and sim is not None and sim > closest.get(
                    m["person"], (-2.0, ""))[0]:
                closest[m["person"]] = (sim, m["thumb"])
    for m in verdict_doc["ranking"]:
        m["thumb"] = closest.get(m["person"], (0.0, None))[1]


def add_predict_routes(app: FastAPI, s: Served) -> None:
    """Whom one photo's faces look like; one verdict over several photos."""

    @app.post("/api/predict", tags=["predict"], openapi_extra=multipart_body("photo"),
              response_model=None, responses=answer_responses("photo"),
              summary="Whom does each face in a photo look like?",
              description="Multipart field `photo`. For every face (most prominent first): "
              "box [x, y, w, h], 5 landmarks, the ranking of known people (probability, "
              "similarity to their closest photo, and `thumb`, the URL of that photo), and "
              "`unknown` (none of these); `why=K`: the first K matches of each face say which "
              "parts of the face make the likeness (`why`). 422 `no_face` when no face is "
              "found.")
    async def predict(request: Request, top: int = Query(DEFAULT_TOP, ge=1, le=1000),
                      why: int = Query(0, ge=0, le=10)) -> dict:
        files = await read_files(request, s.max_bytes + FORM_OVERHEAD, 1)
        s.check(files)
        (name, data), = files
        result = await s.run(s.rec.predict, data, all_faces=True, name=name)
        if not result.ok:
            raise ApiError(422, "no_face", f"no face found in {name}; try a photo where the "
                           "face is visible, upright and not too small")
        if why:  # which parts of the face make the likeness, for the first `why` matches
            from lookalike.answer.explain import explain_result

            await s.run(explain_result, s.rec, data, result, top=min(why, top), name=name)
        doc = s.photo_json(result, top) | {"threshold": s.threshold}
        if why:
            from lookalike.web.why_routes import add_matches_why

            add_matches_why(doc["faces"], result)
        return doc

    @app.post("/api/verdict", tags=["predict"],
              openapi_extra=multipart_body("photo", many=True),
              response_model=None, responses=answer_responses("predict"),
              summary="Several photos of one person: one combined verdict",
              description=f"Repeat the multipart field `photo` (up to {MAX_PHOTOS}). Each photo "
              "is ranked as in /api/predict; the verdict combines the face each photo is about "
              "(the face most confidently one of the known people, else the most prominent; "
              "the first face of each photo, `chosen_by` says why) by the geometric mean of "
              "the probabilities.")
    async def verdict(request: Request, top: int = Query(DEFAULT_TOP, ge=1, le=1000)) -> dict:
        files = await read_files(request, MAX_PHOTOS * s.max_bytes // 2 + FORM_OVERHEAD,
                                 MAX_PHOTOS)
        s.check(files)
        # one photo at a time, each with every core: side by side would keep the networks'
        # side-by-side variants in the server for good (+130-160 MB, for ~8 % less wait;
        # bench/studies/speed/NOTES-lanes.md, "A server")
        results, v = await s.run(s.rec.predict_many, [d for _, d in files], all_faces=True,
                                 together=True, names=[n for n, _ in files],
                                 side_by_side=False)
        photos = [s.photo_json(r, top) for r in results]
        if v is None:
            raise ApiError(422, "no_face", "no face found in any of the photos")
        verdict_doc = v.to_dict(top)
        _closest_thumbs(photos, verdict_doc)
        return stamp("predict", {"photos": photos, "verdict": verdict_doc,
                                 "threshold": s.threshold})


def add_change_routes(app: FastAPI, s: Served) -> None:
    """Adding and removing people (an editable recognizer, with the bearer token)."""

    @app.post("/api/people/{name}/photos", tags=["people"],
              openapi_extra=multipart_body("photo", many=True), response_model=None,
              responses=answer_responses("people-change", CHANGE_ERRORS),
              summary="Add photos of a person to the gallery (bearer token)")
    async def add_photos(name: str, request: Request) -> dict:
        editable = s.authorize(request)
        if not name.isprintable() or not name.strip() or name != name.strip():
            # the gallery would store another name (escaped / stripped): refuse it, so that a
            # person is always listed and removed by the name they were added under
            raise ApiError(422, "bad_name", f"the person's name {ascii(name)} must be printable "
                           "text without control characters or leading / trailing spaces")
        files = await read_files(request, MAX_PHOTOS * s.max_bytes // 2 + FORM_OVERHEAD,
                                 MAX_PHOTOS)
        s.check(files)
        try:
            out = jsonable(await s.calls(editable.add_uploads, name, files))
        except LookalikeError as err:
            raise ApiError(422, "not_added", str(err)) from None
        if isinstance(out, dict) and not out.get("added") and not out.get("already_enrolled"):
            why = "; ".join(f"{str(src).removeprefix('web upload ')}: {reason}"
                            for src, reason in out.get("skipped") or [])
            raise ApiError(422, "not_added", f"no photo was added ({why or 'nothing to add'}); "
                           "send photos in which the person's face is visible")
        return stamp("people-change", {"person": name, "photos": len(files), "result": out,
                                       "people": len(await s.labels())})

    @app.delete("/api/people/{name}", tags=["people"], response_model=None,
                responses=answer_responses("people-change", CHANGE_ERRORS),
                summary="Remove every trace of a person from the gallery (bearer token)")
    async def remove_person(name: str, request: Request) -> dict:
        editable = s.authorize(request)
        if name not in set(await s.labels()):
            raise ApiError(404, "unknown_person", f"{name!r} is not in the gallery")
        try:
            out = await s.calls(editable.remove, name)
        except LookalikeError as err:
            raise ApiError(422, "not_removed", str(err)) from None
        return stamp("people-change", {"person": name, "removed": True,
                                       "result": jsonable(out), "people": len(await s.labels())})


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    return jsonable(to_dict()) if callable(to_dict) else str(value)
