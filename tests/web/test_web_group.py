"""POST /api/group through FastAPI's test client: the groups.json shape, thumbnails, limits."""

from __future__ import annotations

import numpy as np
import pytest

from tests.utils import astronaut, encode, grace_hopper, group_shot, variants

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


from lookalike.web.group_routes import MAX_GROUP_PHOTOS  # noqa: E402


def _files(*photos: tuple[str, np.ndarray]) -> list:
    return [("photo", (name, encode(rgb), "image/jpeg")) for name, rgb in photos]


def test_group_photos_over_http(client):
    a = [(f"a{i}.jpg", v) for i, v in enumerate(variants(astronaut(), 3, seed=1))]
    g = [(f"g{i}.jpg", v) for i, v in enumerate(variants(grace_hopper(), 3, seed=1))]
    both = ("both.jpg", group_shot([astronaut(), grace_hopper()], [300, 300]))
    blank = ("blank.jpg", np.full((120, 160, 3), 200, np.uint8))
    r = client.post("/api/group", files=_files(*a, *g, both, blank))
    assert r.status_code == 200, r.text
    doc = r.json()
    people = sorted(sorted({f["photo"][0] for f in grp["faces"]}) for grp in doc["groups"])
    assert people == [["a", "b"], ["b", "g"]]
    assert doc["unsorted"] == [] and [s["photo"] for s in doc["skipped"]] == ["blank.jpg"]
    face = doc["groups"][0]["faces"][0]
    assert {"photo", "box", "similarity", "unsure"} <= set(face) and "thumb" not in face
    r = client.post("/api/group?thumbs=1", files=_files(*a[:2]))
    face = r.json()["groups"][0]["faces"][0]
    assert face["thumb"].startswith("data:image/jpeg;base64,")


def test_group_refuses_clearly(client):
    r = client.post("/api/group", files=_files(("blank.jpg", np.full((99, 99, 3), 9, np.uint8))))
    assert r.status_code == 422 and "no face found" in r.json()["detail"]
    r = client.post("/api/group", files=[("photo", ("notes.jpg", b"not a photo", "image/jpeg"))])
    assert r.status_code == 415 or r.status_code == 422, r.text
    assert "notes.jpg" in r.json()["detail"]
    small = encode(np.full((64, 64, 3), 128, np.uint8))
    many = [("photo", (f"p{i}.jpg", small, "image/jpeg")) for i in range(MAX_GROUP_PHOTOS + 1)]
    r = client.post("/api/group", files=many)
    assert r.status_code == 400 and r.json()["error"] == "bad_form"
