"""POST /api/compare, /api/compare/card and /api/card through FastAPI's test client."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.utils import astronaut, encode, grace_hopper, group_shot, variants

pytest.importorskip("fastapi")
pytest.importorskip("httpx")




def _files(*photos: tuple[str, np.ndarray]) -> list:
    return [("photo", (name, encode(rgb), "image/jpeg")) for name, rgb in photos]


def test_compare_two_photos(client):
    a1, a2 = variants(astronaut(), 2, seed=5)
    r = client.post("/api/compare", files=_files(("a1.jpg", a1), ("a2.jpg", a2)))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["same_person"] is True and doc["similarity"] >= doc["threshold"]
    assert 0.5 < doc["probability"] <= 1
    assert [f["photo"] for f in doc["faces"]] == ["a1.jpg", "a2.jpg"]
    assert {"box", "landmarks", "detection_score"} <= set(doc["faces"][0])
    r = client.post("/api/compare", files=_files(("a.jpg", a1), ("g.jpg", grace_hopper())))
    assert r.status_code == 200 and r.json()["same_person"] is False


def test_compare_refuses_clearly(client):
    a = astronaut()
    r = client.post("/api/compare", files=_files(("a.jpg", a)))
    assert r.status_code == 400 and r.json()["error"] == "two_photos"
    r = client.post("/api/compare", files=_files(("a.jpg", a), ("b.jpg", a), ("c.jpg", a)))
    assert r.status_code == 400 and r.json()["error"] == "bad_form"
    blank = np.full((120, 160, 3), 200, np.uint8)
    r = client.post("/api/compare", files=_files(("a.jpg", a), ("blank.jpg", blank)))
    assert r.status_code == 422 and r.json()["error"] == "no_face"
    assert "blank.jpg" in r.json()["detail"]
    r = client.post("/api/compare", files=[("photo", ("a.jpg", encode(a), "image/jpeg")),
                                           ("photo", ("n.txt", b"not a photo", "text/plain"))])
    assert r.status_code == 415 and r.json()["error"] == "not_an_image"
    assert "n.txt" in r.json()["detail"]
    r = client.post("/api/compare", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"] == "not_multipart"


def _png(r) -> Image.Image:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(r.content))


def test_cards_to_download(client):
    img = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                     [150, 260])
    files = _files(("group.jpg", img))
    one = _png(client.post("/api/card?face=1", files=files))
    assert one.size[0] >= 900 and one.size[1] >= 250
    assert "attachment" in client.post("/api/card", files=files).headers["content-disposition"]
    r = client.post("/api/card?face=5", files=files)
    assert r.status_code == 422 and r.json()["error"] == "no_such_face"
    card = _png(client.post("/api/compare/card",
                            files=_files(("a.jpg", astronaut()), ("g.jpg", grace_hopper()))))
    assert card.size == (890, 525)


def test_the_api_docs_list_the_new_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/compare", "/api/compare/card", "/api/card"} <= set(paths)
