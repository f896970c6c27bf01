"""``POST /api/group``: several ``photo`` fields → the faces grouped into people, in the shape
of ``groups.json`` (README "Who is in these photos?"); with ``?thumbs=1`` each face also carries
its aligned thumbnail as a data URL (for the page). Every photo is checked as for
``/api/predict``; at most :data:`MAX_GROUP_PHOTOS` photos and :data:`MAX_GROUP_BYTES` bytes in
one request. Nothing is written to disk."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import FastAPI, Query, Request

from lookalike.web.openapi import answer_responses
from lookalike.web.uploads import FORM_OVERHEAD, multipart_body

#: Photos in one grouping request, and their bytes together.
MAX_GROUP_PHOTOS = 100
MAX_GROUP_BYTES = 100 * 1024 * 1024


def add_group_route(app: FastAPI, served: Any, pipeline: Any) -> None:
    """Register ``POST /api/group`` over the served recognizer's face pipeline (its embedder;
    a plain SFace pipeline, uncached, for a recognizer without one)."""
    state: dict[str, Any] = {"pipeline": pipeline if pipeline is not None and hasattr(
        pipeline, "embedder") else None}

    def run(files: list[tuple[str, bytes]]):
        from lookalike.grouping.api import group

        if state["pipeline"] is None:
            from lookalike.face.pipeline import FacePipeline

            state["pipeline"] = FacePipeline("sface", cache=False)
        return group(files, progress=False, pipeline=state["pipeline"])

    @app.post("/api/group", tags=["group"], openapi_extra=multipart_body("photo", many=True),
              response_model=None, responses=answer_responses("group"),
              summary="Who is in these photos? Group the faces of several photos into people",
              description="Several multipart fields `photo` (at most "
              f"{MAX_GROUP_PHOTOS}). The answer has the shape of `lookalike group`'s "
              "groups.json: `groups` (each with `id`, `name`, `size`, `tightness` and its "
              "`faces`: `photo` (the file name sent), `box`, `similarity`), `unsorted` (faces "
              "that match nobody) and `skipped` (photos without a face or unreadable). "
              "`thumbs=1`: each face also has `thumb`, a JPEG data URL.")
    async def group_photos(request: Request, thumbs: bool = Query(False)) -> dict:
        from lookalike.errors import LookalikeError
        from lookalike.web.uploads import ApiError, read_files

        limit = min(MAX_GROUP_BYTES, MAX_GROUP_PHOTOS * served.max_bytes) + FORM_OVERHEAD
        files = await read_files(request, limit, MAX_GROUP_PHOTOS)
        served.check(files)
        try:
            result = await served.calls(run, files)
        except LookalikeError as err:
            raise ApiError(422, "no_face", str(err)) from None
        doc = result.to_dict()
        if thumbs:
            for face in [f for g in doc["groups"] for f in g["faces"]] + doc["unsorted"]:
                data = result.thumbs.get(face["key"], b"")
                face["thumb"] = ("data:image/jpeg;base64," + base64.b64encode(data).decode()
                                 if data else None)
        return doc
