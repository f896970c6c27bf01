"""Why do they look alike, over HTTP: /api/predict?why=K, /api/compare?why=1 and
/api/compare/many (FastAPI's test client)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.utils import astronaut, encode, grace_hopper, variants

pytest.importorskip("fastapi")
pytest.importorskip("httpx")




def _files(*photos: tuple[str, np.ndarray]) -> list:
    return [("photo", (name, encode(rgb), "image/jpeg")) for name, rgb in photos]


def _check_why(why: dict) -> None:
    assert why["available"] is True and why["sentence"].startswith("mostly")
    assert abs(sum(p["share"] for p in why["parts"]) - 1) < 0.01
    assert len(why["images"]) == 2 and all(i.startswith("data:image/jpeg;base64,")
                                           for i in why["images"])
    assert len(why["heatmap"]["faces"]) == 2 and set(why["regions"]) == {
        p["part"] for p in why["parts"]}


def test_predict_explains_the_first_k_matches_only_when_asked(client):
    a = variants(astronaut(), 1, seed=11)[0]
    doc = client.post("/api/predict", files=_files(("a.jpg", a))).json()
    assert "why" not in doc["faces"][0]["ranking"][0]
    doc = client.post("/api/predict?why=1", files=_files(("a.jpg", a))).json()
    ranking = doc["faces"][0]["ranking"]
    assert ranking[0]["person"] == "astronaut"
    _check_why(ranking[0]["why"])
    assert "why" not in ranking[1]
    r = client.post("/api/predict?why=99", files=_files(("a.jpg", a)))
    assert r.status_code == 422


def test_compare_with_why_and_many_photos(client):
    a1, a2 = variants(astronaut(), 2, seed=5)
    plain = client.post("/api/compare", files=_files(("a1.jpg", a1), ("a2.jpg", a2))).json()
    doc = client.post("/api/compare?why=1", files=_files(("a1.jpg", a1), ("a2.jpg", a2))).json()
    _check_why(doc.pop("why"))
    assert doc == plain and "why" not in plain
    r = client.post("/api/compare/many", files=_files(("me.jpg", a1), ("grace.jpg", grace_hopper()),
                                                      ("astro.jpg", a2)))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["most_alike"] == "astro.jpg"
    assert [c["photo"] for c in doc["candidates"]] == ["astro.jpg", "grace.jpg"]
    assert doc["candidates"][0]["probability"] > 0.9
    _check_why(doc["candidates"][0]["why"])
    r = client.post("/api/compare/many", files=_files(("me.jpg", a1)))
    assert r.status_code == 400 and r.json()["error"] == "more_photos"
    blank = np.full((120, 160, 3), 200, np.uint8)
    r = client.post("/api/compare/many", files=_files(("me.jpg", a1), ("blank.jpg", blank)))
    assert r.status_code == 422 and "blank.jpg" in r.json()["detail"]
