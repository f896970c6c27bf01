""""Why do they look alike?" on the web: the explanation's faces as images, and comparing one
photo with several (``POST /api/compare/many``).

``/api/predict?why=K`` and ``/api/compare?why=1`` add ``why``
(:meth:`lookalike.answer.why.Why.to_dict`)
to the explained matches, plus ``images``: the two aligned 112×112 faces the heat map and the
parts' regions lie on (JPEG data URLs), so a page can draw them without a second request.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import FastAPI, Query, Request

from lookalike.errors import LookalikeError, NoFaceError
from lookalike.web.openapi import answer_responses
from lookalike.web.uploads import FORM_OVERHEAD, MAX_PHOTOS, ApiError, multipart_body, read_files


def why_images(why: Any) -> list[str]:
    """The two aligned faces of an explanation as JPEG data URLs (empty when not available)."""
    import cv2

    if why is None or getattr(why, "views", None) is None:
        return []
    out = []
    for view in why.views:
        ok, buf = cv2.imencode(".jpg", view[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        out.append("data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()
                   if ok else "")
    return out


def add_why_json(doc: dict, why: Any) -> None:
    """``doc["why"]`` from ``why`` with its faces' images (for the page)."""
    if why is None:
        return
    doc["why"] = why.to_dict()
    if why.available:
        doc["why"]["images"] = why_images(why)


def add_matches_why(face_docs: list[dict], result: Any) -> None:
    """The explained matches of a predict answer get ``why`` with images."""
    for fd, fr in zip(face_docs, result.faces, strict=True):
        for m_doc, m in zip(fd["ranking"], fr.ranking, strict=False):
            add_why_json(m_doc, m.why)


def add_compare_many_route(app: FastAPI, served: Any, comparer: Any) -> None:
    """``POST /api/compare/many``: the first photo against each of the others."""

    @app.post("/api/compare/many", tags=["compare"],
              openapi_extra=multipart_body("photo", many=True),
              response_model=None, responses=answer_responses("compare-many"),
              summary="Which of several photos does the face in the first resemble most?",
              description=f"Repeat the multipart field `photo` (3 to {MAX_PHOTOS}): the first "
              "photo's face against each of the others ('mom or dad?'). The answer: "
              "`most_alike`, `candidates` most alike first, each with `similarity`, "
              "`probability` (how the resemblance divides among the candidates) and "
              "`same_person_probability` (compare's calibrated probability); with `why=1`, "
              "each candidate's `why`.")
    async def compare_many(request: Request, why: int = Query(1, ge=0, le=1)) -> dict:
        files = await read_files(request, MAX_PHOTOS * served.max_bytes // 2 + FORM_OVERHEAD,
                                 MAX_PHOTOS)
        if len(files) < 2:
            raise ApiError(400, "more_photos", "send at least two photos in the field 'photo': "
                           "the face to ask about first, then the photos to compare it with")
        served.check(files)
        from lookalike.answer.explain import compare_many

        try:
            result = await served.calls(lambda: compare_many(
                files[0][1], [d for _, d in files[1:]], names=[n for n, _ in files],
                why=bool(why), comparer=comparer()))
        except NoFaceError as err:
            raise ApiError(422, "no_face", f"no face found in {err.path}; try a photo where "
                           "the face is visible, upright and not too small") from None
        except LookalikeError as err:
            raise ApiError(422, "unreadable_image", str(err)) from None
        doc = result.to_dict()
        for c_doc, c in zip(doc["candidates"], result.candidates, strict=True):
            add_why_json(c_doc, c.why)
        return doc


__all__ = ["add_compare_many_route", "add_matches_why", "add_why_json", "why_images"]
