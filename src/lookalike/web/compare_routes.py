"""HTTP routes for comparing two photos and for downloading cards (PNG, made on the server).

``POST /api/compare``: two ``photo`` fields →
:meth:`lookalike.answer.comparison.Comparison.to_dict`.
``POST /api/card?face=K&top=N``: one ``photo`` → the look-alike card of face K (the same card
as ``lookalike predict --card``). ``POST /api/compare/card``: two ``photo`` fields → the
compare card (``lookalike compare --card``). Uploads are checked exactly as for
``/api/predict``; cards are drawn in memory (a private folder under /dev/shm where it exists,
deleted at once), so nothing a user uploads is kept on disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from lookalike.errors import LookalikeError, NoFaceError
from lookalike.web.openapi import answer_responses
from lookalike.web.uploads import multipart_body
from lookalike.web.why_routes import add_compare_many_route, add_why_json


def _draw(render: Callable[[Path], Any]) -> bytes:
    """The PNG bytes ``render(path)`` writes, drawn in a private temporary folder (in memory
    under /dev/shm where it exists) that is deleted right after."""
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="lookalike-card-", dir=shm if shm.is_dir() and
                                   os.access(shm, os.W_OK) else None))
    try:
        path = folder / "card.png"
        render(path)
        return path.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Pair:
    """Reading and comparing two uploaded photos with the served recognizer's embedder."""

    def __init__(self, served: Any, pipeline: Any):
        self.served, self.pipeline, self._comparer = served, pipeline, None

    def comparer(self):
        if self._comparer is None:
            from lookalike.answer.comparison import Comparer

            # the served model's pipeline (its embedder, no disk cache), else SFace uncached
            self._comparer = (Comparer(pipeline=self.pipeline) if self.pipeline is not None
                              and hasattr(self.pipeline, "embedder") else Comparer(cache=False))
        return self._comparer

    async def read(self, request: Request) -> list[tuple[str, bytes]]:
        from lookalike.web.uploads import FORM_OVERHEAD, ApiError, read_files

        files = await read_files(request, 2 * self.served.max_bytes + FORM_OVERHEAD, 2)
        if len(files) != 2:
            raise ApiError(400, "two_photos", f"send two photos to compare, both in the field "
                           f"'photo' (curl -F photo=@a.jpg -F photo=@b.jpg); got {len(files)}")
        self.served.check(files)
        return files

    async def compare(self, files: list[tuple[str, bytes]], why: bool = False):
        from lookalike.errors import ImageError
        from lookalike.web.uploads import ApiError

        names = (files[0][0], files[1][0])

        def run():
            return self.comparer().compare(files[0][1], files[1][1], names=names, why=why)

        try:
            return await self.served.calls(run)
        except NoFaceError as err:
            raise ApiError(422, "no_face", f"no face found in {err.path}; try a photo where "
                           "the face is visible, upright and not too small") from None
        except (ImageError, LookalikeError) as err:
            raise ApiError(422, "unreadable_image", str(err)) from None


def add_compare_and_card_routes(app: FastAPI, served: Any, pipeline: Any) -> None:
    """Register the routes on ``app`` (called by :func:`lookalike.web.app.create_app`) over its
    :class:`~lookalike.web.routes.Served` recognizer; ``pipeline``: the served recognizer's face
    pipeline (None for one without), whose embedder compares."""
    pair = _Pair(served, pipeline)

    @app.post("/api/compare", tags=["compare"], openapi_extra=multipart_body("photo", count=2),
              response_model=None, responses=answer_responses("compare"),
              summary="Two photos: how alike are the faces, and is it the same person?",
              description="Two multipart fields `photo`. The answer: `similarity` (cosine), "
              "`same_person` (similarity ≥ `threshold`, which rises with the faces' size), "
              "`probability` (calibrated on LFW and web-photo pairs) and the two `faces` "
              "compared (each photo's most prominent face: box, landmarks, detection score); "
              "with `why=1`, `why`: which parts of the faces make the likeness. 422 `no_face` "
              "names the photo without a face.")
    async def compare(request: Request, why: int = Query(0, ge=0, le=1)) -> dict:
        result = await pair.compare(await pair.read(request), why=bool(why))
        doc = result.to_dict()
        add_why_json(doc, result.why)
        return doc

    @app.post("/api/compare/card", tags=["compare"], openapi_extra=multipart_body("photo", count=2),
              response_class=Response, summary="The compare card of two photos (PNG)",
              description="The same picture as `lookalike compare --card`.")
    async def compare_card(request: Request) -> Response:
        files = await pair.read(request)
        result = await pair.compare(files)
        from lookalike.pictures.compare_card import render_compare_card

        png = await served.calls(_draw, lambda p: render_compare_card(
            result, p, sources=(files[0][1], files[1][1])))
        return _png(png, "lookalike-compare.png")

    add_card_route(app, served)
    add_compare_many_route(app, served, pair.comparer)


def add_card_route(app: FastAPI, served: Any) -> None:
    """``POST /api/card?face=K``: the look-alike card of one face of an uploaded photo."""
    from lookalike.web.routes import DEFAULT_TOP
    from lookalike.web.uploads import FORM_OVERHEAD, ApiError, read_files

    rec = served.rec

    @app.post("/api/card", tags=["predict"], openapi_extra=multipart_body("photo"),
              response_class=Response, summary="The look-alike card of one face (PNG)",
              description="Multipart field `photo`; `face`: which face (0 = the first of "
              "/api/predict's answer). The same card as `lookalike predict --card`.")
    async def card(request: Request, face: int = Query(0, ge=0, le=1000),
                   top: int = Query(DEFAULT_TOP, ge=1, le=50)) -> Response:
        (name, data), = await read_files(request, served.max_bytes + FORM_OVERHEAD, 1)
        served.check([(name, data)])
        # the answer keeps the decoded photo: the card draws it without decoding it again
        result = await served.run(rec.predict_subject, data, all_faces=True, name=name,
                                  subject="prominent", keep_image=True)
        if not result.ok:
            raise ApiError(422, "no_face", f"no face found in {name}; try a photo where the "
                           "face is visible, upright and not too small")
        if face >= len(result.faces):
            raise ApiError(422, "no_such_face", f"{name} has {len(result.faces)} face(s); "
                           f"ask for face 0 to {len(result.faces) - 1}")
        from dataclasses import replace

        from lookalike.pictures.cards import render_card

        one = replace(result, faces=[result.faces[face]])
        png = await served.calls(_draw, lambda p: render_card(rec, [one], p, sources=[data],
                                                              top=top))
        return _png(png, f"lookalike-{Path(name).stem or 'photo'}.png")


def _png(data: bytes, filename: str) -> Response:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)[:80]
    return Response(data, media_type="image/png", headers={
        "Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store"})
