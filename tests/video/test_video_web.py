"""Video over HTTP: POST /api/video answers a clip's tracks (limits stated, bad clips a 4xx),
and POST /api/live follows faces across camera frames with a steady answer."""

from __future__ import annotations

import numpy as np
import pytest

from tests.utils import astronaut, encode, grace_hopper

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from lookalike.video.synth import Appearance, background, render_clip  # noqa: E402
from lookalike.web.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(trained):
    with TestClient(create_app(trained[2])) as c:
        yield c


@pytest.fixture(scope="module")
def two_people_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("webclip") / "two.mp4"
    return render_clip(path, [
        Appearance("astronaut", astronaut(), 0.0, 3.0, (0.3, 0.5), (0.3, 0.5), 0.5, 0.5),
        Appearance("grace_hopper", grace_hopper(), 0.5, 3.0, (0.75, 0.5), (0.7, 0.5), 0.5,
                   0.5)], duration=3.0, fps=10, size=(640, 360))


def test_video_answers_tracks(client, two_people_clip):
    r = client.post("/api/video?top=1",
                    files={"video": ("two.mp4", two_people_clip.read_bytes(), "video/mp4")})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["video"] == "two.mp4" and doc["fps"] == 10
    assert [t["face"]["ranking"][0]["person"] for t in doc["tracks"]] == [
        "astronaut", "grace_hopper"]
    assert doc["tracks"][1]["start"] == pytest.approx(0.5, abs=0.15)
    limits = client.get("/api/video/limits").json()
    assert limits["max_bytes"] >= 50 * 2**20 and limits["max_seconds"] >= 60


def test_video_bad_uploads_are_4xx(client, two_people_clip):
    photo = encode(astronaut())
    r = client.post("/api/video", files={"video": ("me.mp4", photo, "video/mp4")})
    assert r.status_code == 415 and "/api/predict" in r.json()["detail"]
    data = two_people_clip.read_bytes()
    r = client.post("/api/video", files={"video": ("cut.mp4", data[: len(data) // 3],
                                                   "video/mp4")})
    assert r.status_code == 422 and r.json()["error"] == "unreadable_video"
    assert "cut.mp4" in r.json()["detail"]
    r = client.post("/api/video", files={"video": ("empty.mp4", b"", "video/mp4")})
    assert r.status_code == 400
    r = client.post("/api/video", content=b"x" * 10,
                    headers={"content-type": "multipart/form-data; boundary=x",
                             "content-length": str(200 * 2**20)})
    assert r.status_code == 413 and "video" in r.json()["detail"]


def _frame(x: float, seed: int = 0) -> bytes:
    """A 640×480 camera frame with the astronaut at ``x`` (fraction of the width)."""
    from lookalike.video.synth import _paste

    frame = background((640, 480), seed)
    _paste(frame, astronaut(), x, 0.5, 0.55)
    return encode(frame, quality=75)


def test_live_follows_one_face_with_a_steady_answer(client):
    ids, people, answers = set(), [], []
    for k in range(12):
        r = client.post("/api/live?session=t1&top=2", content=_frame(0.35 + 0.02 * k),
                        headers={"content-type": "image/jpeg"})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["size"] == [640, 480]
        assert len(doc["tracks"]) == 1, doc
        t = doc["tracks"][0]
        ids.add(t["id"])
        people.append(t["face"]["ranking"][0]["person"])
        answers.append(t["answers"])
        x, y, w, h = t["face"]["box"]
        assert abs((x + w / 2) / 640 - (0.35 + 0.02 * k)) < 0.08  # the box follows the face
    assert ids == {1} and set(people) == {"astronaut"}
    assert answers[-1] <= 4  # embedded when it started and when worth it, not every frame
    assert client.delete("/api/live?session=t1").json() == {"schema": "lookalike/live-end/1",
                                                            "ended": True}


def test_live_bad_frames_are_4xx(client):
    r = client.post("/api/live?session=t2", content=b"not a picture",
                    headers={"content-type": "image/jpeg"})
    assert r.status_code == 415
    big = encode(np.zeros((1200, 2000, 3), np.uint8), quality=50)
    r = client.post("/api/live?session=t2", content=big, headers={"content-type": "image/jpeg"})
    assert r.status_code == 413 and "640×480" in r.json()["detail"]
    r = client.post("/api/live", content=_frame(0.5), headers={"content-type": "image/jpeg"})
    assert r.status_code == 422  # no session named
    r = client.post("/api/live?session=t2", content=encode(background((640, 480), 3)),
                    headers={"content-type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["tracks"] == []


def test_videos_beyond_the_limit_at_once_are_told_to_wait(client, two_people_clip, monkeypatch):
    from lookalike.web import video_routes

    monkeypatch.setattr(video_routes, "VIDEOS_AT_ONCE", 0)  # as if every place were taken
    r = client.post("/api/video", files={"video": ("two.mp4", two_people_clip.read_bytes(),
                                                   "video/mp4")})
    assert r.status_code == 429 and r.json()["error"] == "busy"
