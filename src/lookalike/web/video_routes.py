"""HTTP routes for video: a clip's tracks, and the page's live camera.

``POST /api/video``: multipart field ``video`` (at most ``VIDEO_MAX_BYTES`` and
``VIDEO_MAX_SECONDS``, stated by ``GET /api/video/limits``) → the JSON of
:meth:`lookalike.video.VideoResult.to_dict`. The clip is held in memory (a private folder under
/dev/shm where it exists, deleted right after): nothing uploaded is kept on disk.

``POST /api/live?session=ID``: the body is one JPEG (or PNG) frame of the camera (at most
``MAX_LIVE_PIXELS``); the answer lists the faces followed in this session, each with its
steadied answer (:mod:`lookalike.video.live`). Frames are small JPEGs over plain HTTP (one in
flight per page): no WebSocket server is needed. ``DELETE /api/live?session=ID`` ends it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from fastapi import FastAPI, Query, Request

from lookalike.errors import LookalikeError
from lookalike.schema import stamp
from lookalike.web.openapi import answer_responses
from lookalike.web.uploads import FORM_OVERHEAD, ApiError, mb, multipart_body, read_files

#: Clips sent to /api/video: at most this many bytes and seconds.
VIDEO_MAX_BYTES = 100 * 1024 * 1024
VIDEO_MAX_SECONDS = 600.0
LIVE_MAX_BYTES = 2 * 1024 * 1024
#: Clips analysed at once (more get 429 "busy").
VIDEOS_AT_ONCE = 2


def _memory_folder() -> Path:
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="lookalike-video-", dir=shm if shm.is_dir() and
                                 os.access(shm, os.W_OK) else None))


def _analyse(rec, name: str, data: bytes, top: int) -> dict:
    from lookalike.video import analyse_video

    folder = _memory_folder()
    try:
        path = folder / "clip"
        path.write_bytes(data)
        result = analyse_video(rec, path, name=name, max_duration=VIDEO_MAX_SECONDS)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result.to_dict(top)


def _too_large(request: Request, limit: int, what: str) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"the {what} is larger than {mb(limit)}; {FIX[what]}")


FIX = {"video": f"send at most {mb(VIDEO_MAX_BYTES)} (cut or re-encode the clip)",
       "frame": "send a smaller JPEG (640×480 at quality 0.7 is about 50 kB)"}


async def _raw_body(request: Request, limit: int) -> bytes:
    _too_large(request, limit, "frame")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"the frame is larger than {mb(limit)}; "
                           f"{FIX['frame']}")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode_frame(data: bytes):
    import cv2
    import numpy as np

    from lookalike.video.live import MAX_LIVE_PIXELS

    if not data:
        raise ApiError(400, "empty", "the frame is empty; send one JPEG picture as the body")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ApiError(415, "not_an_image", "the frame is not a JPEG or PNG picture")
    h, w = bgr.shape[:2]
    if w * h > MAX_LIVE_PIXELS:
        raise ApiError(413, "too_many_pixels", f"the frame is {w}×{h}, more than the "
                       f"{MAX_LIVE_PIXELS:,} pixels of a live frame; send it smaller "
                       "(640×480 is plenty)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def add_limits_route(app: FastAPI) -> None:
    """``GET /api/video/limits``: what /api/video and /api/live take."""

    @app.get("/api/video/limits", tags=["video"], summary="The limits of /api/video and live",
             response_model=None, responses=answer_responses("video-limits"))
    async def limits() -> dict:
        from lookalike.video.live import MAX_LIVE_PIXELS

        return stamp("video-limits", {
            "max_bytes": VIDEO_MAX_BYTES, "max_seconds": VIDEO_MAX_SECONDS,
            "at_once": VIDEOS_AT_ONCE,
            "live_max_pixels": MAX_LIVE_PIXELS, "live_max_bytes": LIVE_MAX_BYTES})


def add_video_routes(app: FastAPI, s) -> None:
    """``s``: the app's :class:`~lookalike.web.routes.Served`."""
    live: dict = {}
    busy = {"videos": 0}

    def sessions():
        if "sessions" not in live:
            from lookalike.video.live import LiveSessions

            live["sessions"] = LiveSessions(s.rec)
        return live["sessions"]

    add_limits_route(app)

    @app.post("/api/video", tags=["video"], openapi_extra=multipart_body("video"),
              response_model=None, responses=answer_responses("video"),
              summary="Who appears in a video clip?",
              description=f"Multipart field `video` (mp4, mov, webm, mkv, avi; at most "
              f"{mb(VIDEO_MAX_BYTES)} and {VIDEO_MAX_SECONDS:g} s). Faces are followed as "
              "tracks; each track: id, start, end (seconds), best_frame, and `face`, the "
              "answer shape of a face in /api/predict, fused over the track's views.")
    async def video(request: Request, top: int = Query(5, ge=1, le=1000)) -> dict:
        _too_large(request, VIDEO_MAX_BYTES + FORM_OVERHEAD, "video")
        if busy["videos"] >= VIDEOS_AT_ONCE:  # each holds up to 2 × 100 MB while it runs
            raise ApiError(429, "busy", f"{VIDEOS_AT_ONCE} videos are being analysed; "
                           "send it again in a minute")
        busy["videos"] += 1
        try:
            return await _video(request, top)
        finally:
            busy["videos"] -= 1

    async def _video(request: Request, top: int) -> dict:
        from lookalike.video.reader import sniff

        files = await read_files(request, VIDEO_MAX_BYTES + FORM_OVERHEAD, 1)
        (name, data), = files
        if not data:
            raise ApiError(400, "empty", f"{name} is empty (0 bytes); choose a video")
        if sniff(data[:16]) is None:
            raise ApiError(415, "not_a_video", f"{name} is not a video (MP4, MOV, WebM, MKV "
                           "or AVI); a photo goes to /api/predict")
        try:
            doc = await s.calls(_analyse, s.rec, name, data, top)
        except LookalikeError as err:
            raise ApiError(422, "unreadable_video", str(err)) from None
        if not doc["tracks"]:
            raise ApiError(422, "no_face", f"no face found in {name}")
        return doc

    @app.post("/api/live", tags=["video"], response_model=None,
              responses=answer_responses("live"),
              openapi_extra={"requestBody": {"required": True, "content": {
                  "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}},
              summary="One camera frame: the faces followed in this session",
              description="The body is one JPEG frame. Faces are followed from frame to "
              "frame within `session`; each answer is steadied over the track's views.")
    async def live_frame(request: Request, session: str = Query(..., min_length=1,
                                                                 max_length=64),
                         top: int = Query(3, ge=1, le=1000)) -> dict:
        data = await _raw_body(request, LIVE_MAX_BYTES)
        rgb = _decode_frame(data)
        try:
            sess = sessions().get(session)
            return await s.calls(sess.answer, rgb, top)
        except LookalikeError as err:
            raise ApiError(429 if "sessions" in str(err) else 422, "live_refused",
                           str(err)) from None

    @app.delete("/api/live", tags=["video"], summary="End a live session",
                response_model=None, responses=answer_responses("live-end"))
    async def live_end(session: str = Query(..., min_length=1, max_length=64)) -> dict:
        return stamp("live-end", {"ended": sessions().end(session) if "sessions" in live
                                  else False})
