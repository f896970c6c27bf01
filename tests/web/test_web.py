"""The REST API and the page's files, through FastAPI's test client and a real model trained on
package-shipped faces (scikit-image's astronaut, matplotlib's Grace Hopper)."""

from __future__ import annotations

import io
import re
import tempfile

import numpy as np
import pytest
from PIL import Image

from tests.utils import astronaut, encode, grace_hopper, group_shot, variants

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from lookalike.web.app import TOKEN_ENV, create_app, sniff_image_type  # noqa: E402


@pytest.fixture(scope="module")
def model_path(trained):
    return trained[2]


@pytest.fixture(scope="module")
def client(model_path):
    with TestClient(create_app(model_path)) as c:
        yield c


def _photo(rgb: np.ndarray, name: str = "me.jpg", fmt: str = "JPEG") -> dict:
    return {"photo": (name, encode(rgb, fmt), "application/octet-stream")}


def rocket() -> np.ndarray:
    """A photo without a face (YuNet finds a false face in coffee(), none here)."""
    from skimage import data

    return data.rocket()


def test_predict_ranks_the_right_person_with_the_shared_answer_shape(client):
    photo = variants(astronaut(), 1, seed=42)[0]
    r = client.post("/api/predict", files=_photo(photo, "astro.jpg"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["photo"] == "astro.jpg" and doc["error"] is None
    assert len(doc["faces"]) == 1
    face = doc["faces"][0]
    w, h = doc["image_size"]
    x, y, bw, bh = face["box"]
    assert 0 <= x < w and 0 <= y < h and bw > 20 and bh > 20
    assert len(face["landmarks"]) == 5
    ranking = face["ranking"]
    assert [m["person"] for m in ranking][0] == "astronaut"
    assert {m["person"] for m in ranking} == {"astronaut", "grace_hopper"}
    assert sum(m["probability"] for m in ranking) == pytest.approx(1.0, abs=1e-3)
    assert ranking[0]["probability"] > 0.5 and face["unknown"] is False
    # the closest training photo of each match is served as a JPEG
    thumb = client.get(ranking[0]["thumb"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    assert client.get("/api/thumbs/99999").status_code == 404


def test_every_face_of_a_group_shot_is_ranked_and_top_limits_the_ranking(client):
    img = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                     [150, 260])
    r = client.post("/api/predict?top=1", files=_photo(img, "group.png", "PNG"))
    assert r.status_code == 200, r.text
    faces = r.json()["faces"]
    assert len(faces) == 2
    assert all(len(f["ranking"]) == 1 for f in faces)
    assert {f["ranking"][0]["person"] for f in faces} == {"astronaut", "grace_hopper"}


def test_several_photos_give_one_verdict_and_a_faceless_photo_is_reported(client):
    files = [("photo", (f"gh{i}.jpg", encode(v), "image/jpeg"))
             for i, v in enumerate(variants(grace_hopper(), 3, seed=7))]
    files.append(("photo", ("rocket.jpg", encode(rocket()), "image/jpeg")))
    r = client.post("/api/verdict", files=files)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["verdict"]["person"] == "grace_hopper"
    assert doc["verdict"]["ranking"][0]["thumb"].startswith("/api/thumbs/")
    assert doc["verdict"]["photos"] == 4 and doc["verdict"]["photos_used"] == 3
    assert [p["photo"] for p in doc["photos"]] == ["gh0.jpg", "gh1.jpg", "gh2.jpg", "rocket.jpg"]
    assert doc["photos"][3]["faces"] == [] and doc["photos"][3]["error"]


def test_a_verdict_answers_its_photos_one_at_a_time(client, monkeypatch):
    """A server keeps what it compiles: photos side by side would keep the networks'
    side-by-side variants in it for good (+130-160 MB measured) for ~8 % less wait."""
    from lookalike.models import model, recognizer

    asked: list[int] = []
    each = recognizer.each

    def recorded(fn, items, lanes):
        asked.append(lanes)
        return each(fn, items, lanes)

    for cls in (recognizer.Recognizer, model.Model):  # as if the kind allowed 4 at once
        monkeypatch.setattr(cls, "lanes", lambda self, photos: 4)
    monkeypatch.setattr(recognizer, "each", recorded)
    files = [("photo", (f"gh{i}.jpg", encode(v), "image/jpeg"))
             for i, v in enumerate(variants(grace_hopper(), 4, seed=3))]
    r = client.post("/api/verdict", files=files)
    assert r.status_code == 200, r.text
    assert asked == [1]


@pytest.mark.parametrize("data, status, code", [
    (b"hello, this is text", 415, "not_an_image"),
    (b"%PDF-1.4\n" + b"0" * 100, 415, "not_an_image"),
    (b"", 400, "empty"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, 422, "unreadable_image"),  # a JPEG header, no image
])
def test_bad_uploads_get_clear_json_errors(client, data, status, code):
    r = client.post("/api/predict", files={"photo": ("photo.jpg", data, "image/jpeg")})
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code
    assert "photo.jpg" in body["detail"]


def test_a_photo_without_a_face_is_a_422_saying_so(client):
    r = client.post("/api/predict", files=_photo(rocket(), "rocket.jpg"))
    assert r.status_code == 422
    assert r.json()["error"] == "no_face" and "rocket.jpg" in r.json()["detail"]


def test_requests_without_a_photo_are_refused_clearly(client):
    r = client.post("/api/predict", data={"top": "3"})
    assert r.status_code in (400, 415) and r.json()["error"] in ("no_photo", "not_multipart")
    r = client.post("/api/predict", content=b"raw", headers={"content-type": "image/jpeg"})
    assert r.status_code == 415 and r.json()["error"] == "not_multipart"
    r = client.post("/api/predict?top=0", files=_photo(astronaut()))
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_size_and_pixel_limits(model_path):
    big = encode(np.random.default_rng(0).integers(0, 255, (400, 400, 3), np.uint8))
    assert len(big) > 60_000
    with TestClient(create_app(model_path, max_bytes=50_000, max_pixels=200_000,
                               warm_up=False)) as c:
        r = c.post("/api/predict", files={"photo": ("big.jpg", big, "image/jpeg")})
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        # A body far over the limit is refused from its Content-Length, before it is read.
        r = c.post("/api/predict", content=b"x" * 500_000,
                   headers={"content-type": "multipart/form-data; boundary=zz"})
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        # Few bytes, many pixels: a flat PNG of 1000 x 1000.
        flat = encode(np.zeros((1000, 1000, 3), np.uint8), "PNG")
        assert len(flat) < 50_000
        r = c.post("/api/predict", files={"photo": ("flat.png", flat, "image/png")})
        assert r.status_code == 413 and r.json()["error"] == "too_many_pixels"


@pytest.mark.slow  # 10 s under load 13
def test_uploads_stay_in_memory_unless_kept(model_path, tmp_path, monkeypatch):
    """A 3 MB upload (Starlette would spool it to an unlinked temporary file) is never rolled
    over to disk, and leaves nothing in the embedding cache; --keep-uploads keeps it by content
    hash."""
    spool, cache, kept = tmp_path / "tmp", tmp_path / "cache", tmp_path / "kept"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    rollovers = []
    rollover = tempfile.SpooledTemporaryFile.rollover

    def spy(self):
        rollovers.append(self)
        return rollover(self)

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", spy)
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(cache))
    im = Image.fromarray(astronaut()).resize((1024, 1024))
    buf = io.BytesIO()
    im.save(buf, "BMP")
    data = buf.getvalue()
    assert len(data) > 3_000_000
    with TestClient(create_app(model_path, warm_up=False)) as c:
        r = c.post("/api/predict", files={"photo": ("big.bmp", data, "image/bmp")})
        assert r.status_code == 200, r.text
    assert rollovers == [] and list(spool.iterdir()) == []
    # (the runtime's models/ folder — fp32 weights and compiled networks — holds no upload data)
    assert not cache.exists() or [p for p in cache.rglob("*")
                                  if p.relative_to(cache).parts[0] != "models"] == []
    with TestClient(create_app(model_path, keep_uploads=kept, warm_up=False)) as c:
        assert c.post("/api/predict", files={"photo": ("big.bmp", data, "image/bmp")}
                      ).status_code == 200
    assert [p.suffix for p in kept.iterdir()] == [".bmp"]
    assert next(kept.iterdir()).read_bytes() == data


def test_people_health_info_and_docs(client):
    assert client.get("/healthz").json()["status"] == "ok"
    people = client.get("/api/people").json()
    assert people["people"] == ["astronaut", "grace_hopper"] and people["editable"] is False
    info = client.get("/api/info").json()
    assert info["max_bytes"] == 10 * 1024 * 1024 and info["people"] == 2
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/predict", "/api/verdict", "/api/people", "/api/people/{name}",
            "/api/people/{name}/photos", "/healthz"} <= set(paths)
    body = paths["/api/predict"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body


def test_gallery_changes_need_a_token_and_a_gallery(model_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    photo = {"photo": ("a.jpg", encode(astronaut()), "image/jpeg")}
    with TestClient(create_app(model_path, warm_up=False)) as c:
        r = c.delete("/api/people/astronaut")
        assert r.status_code == 403 and r.json()["error"] == "changes_disabled"
        assert TOKEN_ENV in r.json()["detail"]
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    with TestClient(create_app(model_path, warm_up=False)) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = c.post("/api/people/x/photos", files=photo, headers=headers)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = c.delete("/api/people/astronaut", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 409 and r.json()["error"] == "needs_gallery"
        assert "gallery" in r.json()["detail"]
        assert c.get("/api/people").json()["people"] == ["astronaut", "grace_hopper"]


def test_the_page_makes_no_third_party_requests(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    texts = [page.text]
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        if ref.startswith("/static/"):
            r = client.get(ref)
            assert r.status_code == 200
            texts.append(r.text)
    assert len(texts) == 7  # the page, why.js, app.js, live.js, app.css, group.js, group.css
    for text in texts:
        assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), \
            "the page must not load anything from another site"
        assert "@import" not in text


def test_sniffing_uses_the_bytes_not_the_name():
    assert sniff_image_type(encode(astronaut())) == "jpg"
    assert sniff_image_type(encode(astronaut(), "PNG")) == "png"
    assert sniff_image_type(encode(astronaut(), "WEBP")) == "webp"
    assert sniff_image_type(encode(astronaut(), "GIF")) == "gif"
    assert sniff_image_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None


def test_a_stranger_is_marked_unknown(client):
    from skimage import data

    cameraman = np.stack([data.camera()] * 3, axis=-1)
    r = client.post("/api/predict", files=_photo(cameraman, "cameraman.jpg"))
    assert r.status_code == 200, r.text
    face = r.json()["faces"][0]
    assert face["unknown"] is True and face["best_similarity"] < r.json()["threshold"]


@pytest.fixture(scope="module")
def gallery_path(people_dir, tmp_path_factory):
    gallery = pytest.importorskip("lookalike.models.gallery")
    path = tmp_path_factory.mktemp("gallery") / "people.gallery"
    g = gallery.Gallery.create(path)
    try:
        g.add_folder(people_dir, workers=1, progress=False)
    finally:
        g.close()
    return path


@pytest.mark.slow  # 12 s under load 13
def test_a_gallery_is_served_and_changed_with_the_token(gallery_path, monkeypatch):
    """Served from its path (its SQLite connection lives on one dedicated thread): predict,
    thumbnails, add a person from uploads, then remove every trace of them."""
    from skimage import data

    monkeypatch.setenv(TOKEN_ENV, "t0ken")
    auth = {"Authorization": "Bearer t0ken"}
    cameraman = np.stack([data.camera()] * 3, axis=-1)
    with TestClient(create_app(gallery_path, warm_up=False)) as c:
        assert c.get("/api/people").json() == {"schema": "lookalike/people/1",
                                              "people": ["astronaut", "grace_hopper"],
                                              "count": 2, "editable": True}
        r = c.post("/api/predict", files=_photo(variants(grace_hopper(), 1, seed=5)[0]))
        assert r.status_code == 200, r.text
        top = r.json()["faces"][0]["ranking"][0]
        assert top["person"] == "grace_hopper"
        assert "source" not in top.get("best_photo", {})  # no server file paths leak out
        assert c.get(top["thumb"]).content[:3] == b"\xff\xd8\xff"
        before = c.post("/api/predict", files=_photo(cameraman)).json()["faces"][0]
        assert before["unknown"] is True

        files = [("photo", (f"cam{i}.jpg", encode(v), "image/jpeg"))
                 for i, v in enumerate(variants(cameraman, 2, seed=1))]
        r = c.post("/api/people/cameraman/photos", files=files)
        assert r.status_code == 401
        r = c.post("/api/people/cameraman/photos", files=files, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["people"] == 3 and r.json()["result"]["added"] == 2
        assert "lookalike-enrol-" not in r.text  # the temporary upload folder is not reported
        assert "cameraman" in c.get("/api/people").json()["people"]
        after = c.post("/api/predict", files=_photo(cameraman)).json()["faces"][0]
        assert after["ranking"][0]["person"] == "cameraman" and after["unknown"] is False

        r = c.delete("/api/people/cameraman", headers=auth)
        assert r.status_code == 200 and r.json()["people"] == 2, r.text
        assert c.get("/api/people").json()["people"] == ["astronaut", "grace_hopper"]
        gone = c.post("/api/predict", files=_photo(cameraman)).json()["faces"][0]
        assert "cameraman" not in {m["person"] for m in gone["ranking"]}
        r = c.delete("/api/people/cameraman", headers=auth)
        assert r.status_code == 404 and r.json()["error"] == "unknown_person"


@pytest.mark.slow  # 4.9 CPU-s (3 processes); fast: test_every_kind's serve, test_cli's errors
def test_lookalike_serve_starts_answers_and_reports_a_missing_model(model_path, tmp_path):
    """The command end to end: a server process on a free loopback port."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    exe = [sys.executable, "-m", "lookalike.cli"]
    bad = subprocess.run([*exe, "serve", str(tmp_path / "missing.lookalike")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "model file not found" in bad.stderr
    bad = subprocess.run([*exe, "serve", str(model_path), "--max-megapixels", "500"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "--max-megapixels 500 is not a pixel limit" in bad.stderr and "120" in bad.stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*exe, "serve", str(model_path), "--port", str(port),
                             "--max-megapixels", "1"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert r.json() == {"schema": "lookalike/health/1", "status": "ok", "people": 2,
                            "version": r.json()["version"]}
        r = httpx.post(f"http://127.0.0.1:{port}/api/predict",
                       files={"photo": ("a.jpg", encode(astronaut()), "image/jpeg")}, timeout=60)
        assert r.json()["faces"][0]["ranking"][0]["person"] == "astronaut"  # 0.26 MP
        big = np.tile(astronaut(), (2, 3, 1))  # 1024 × 1536: 1.57 MP, over the 1 MP limit
        r = httpx.post(f"http://127.0.0.1:{port}/api/predict",
                       files={"photo": ("big.jpg", encode(big), "image/jpeg")}, timeout=60)
        assert r.status_code == 413 and r.json()["error"] == "too_many_pixels"
        assert "1,000,000" in r.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "open http://127.0.0.1:" in proc.stderr.read()


def test_several_workers_load_the_model_from_the_environment(model_path, monkeypatch):
    from lookalike.errors import LookalikeError
    from lookalike.web.app import MODEL_ENV, app_from_env

    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(LookalikeError, match=MODEL_ENV):
        app_from_env()
    monkeypatch.setenv(MODEL_ENV, str(model_path))
    with TestClient(app_from_env()) as c:
        assert c.get("/healthz").json()["people"] == 2
