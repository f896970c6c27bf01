"""Big photos (issue 26): decoded at the scale the detector needs (JPEG DCT scaling), the faces
found there, and a finer decode made only for faces too small in it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lookalike.face import pipeline
from lookalike.face.pipeline import FacePipeline
from lookalike.face.pixels import EYES_NEED, Pixels, decode_for_detector, eye_distance
from lookalike.face.record import Face
from lookalike.photos import images
from tests.utils import astronaut, encode


def _big(face_side: int, size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A camera-sized JPEG: a grey-blue scene with the astronaut's face ``face_side`` px
    tall in the middle."""
    w, h = size
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = (90, 110, 130)
    face = astronaut()[20:260, 120:340]
    k = face_side / face.shape[0]
    face = cv2.resize(face, (round(face.shape[1] * k), face_side), interpolation=cv2.INTER_AREA)
    y, x = (h - face.shape[0]) // 2, (w - face.shape[1]) // 2
    canvas[y:y + face.shape[0], x:x + face.shape[1]] = face
    return encode(canvas, "JPEG", quality=90)


def _marks(eyes: float) -> np.ndarray:
    return np.array([[100, 100], [100 + eyes, 100], [100 + eyes / 2, 100 + eyes / 2],
                     [100 + eyes * 0.1, 100 + eyes], [100 + eyes * 0.9, 100 + eyes]],
                    np.float32)


def test_a_big_jpeg_decodes_at_the_detectors_scale_and_offers_a_finer_decode():
    rgb, full, finer = decode_for_detector(_big(1200), 640)
    assert full == (4000, 3000) and rgb.shape == (750, 1000, 3)  # 1/4: DCT scaling
    assert finer is not None and finer().shape == (1500, 2000, 3)  # what faces got before
    small, full, finer = decode_for_detector(encode(astronaut(), "JPEG"), 640)
    assert small.shape == (512, 512, 3) and full == (512, 512) and finer is None
    png = encode(np.zeros((1300, 1500, 3), np.uint8), "PNG")
    rgb, full, finer = decode_for_detector(png, 640)
    assert rgb.shape == (1300, 1500, 3) and finer is None  # no DCT scaling: decoded once


def test_pixels_read_each_face_where_it_has_enough_pixels():
    coarse = np.zeros((300, 400, 3), np.uint8)
    fine = np.ones((600, 800, 3), np.uint8)
    made = []

    def finer():
        made.append(1)
        return fine

    big = Face((80.0, 80.0, 120.0, 140.0), _marks(50), 0.9)
    small = Face((90.0, 90.0, 30.0, 36.0), _marks(12), 0.9)
    assert eye_distance(big) == pytest.approx(50) and eye_distance(small) < EYES_NEED
    calls = []

    def fn(img, faces):
        calls.append((img.shape, [eye_distance(f) for f in faces]))
        return [float(img.mean()) * 100 + eye_distance(f) for f in faces]

    px = Pixels(coarse, finer)
    assert px.read([big], fn).tolist() == [50.0] and made == []  # big enough: no decode
    rows = px.read([small, big, small], fn)
    assert made == [1] and rows.tolist() == pytest.approx([124.0, 50.0, 124.0])
    assert calls[-2:] == [((300, 400, 3), [50.0]), ((600, 800, 3), [24.0, 24.0])]
    img, face = px.one(small)
    assert img is fine and face.box == (180.0, 180.0, 60.0, 72.0) and made == [1]
    assert Pixels(coarse).one(small)[0] is coarse  # nothing finer: what there is


def _count_decodes(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    original = images.decode_photo

    def counting(data, **kw):
        out = original(data, **kw)
        calls.append(out[0].shape)
        return out

    monkeypatch.setattr("lookalike.face.pixels.decode_photo", counting)
    return calls


def test_a_big_face_in_a_big_photo_is_decoded_once_at_a_quarter(monkeypatch):
    data = _big(1400)
    calls = _count_decodes(monkeypatch)
    res = FacePipeline(cache=False).analyze(data, first_only=True)
    assert calls == [(750, 1000, 3)]
    assert res.image_size == (4000, 3000) and res.n_faces == 1
    # hashed beside the decode (no cache to look up first), the same key as read_photo's
    assert len(data) >= images.ASIDE_BYTES and res.digest == images.content_hash(data)
    # the face as the earlier path found it, in the finer decode (2000 px)
    fine, _ = pipeline.decode_for_faces(data)
    ref = FacePipeline(cache=False).analyze_array(fine, first_only=True)
    np.testing.assert_allclose(res.faces[0].box, np.array(ref.faces[0].box) * 2, rtol=0.03,
                               atol=12)
    assert float(res.embeddings[0] @ ref.embeddings[0]) > 0.9


def test_a_small_face_in_a_big_photo_is_read_from_the_finer_decode(monkeypatch):
    data = _big(260)  # eyes ~20 px apart at 1/4 scale
    calls = _count_decodes(monkeypatch)
    res = FacePipeline(cache=False).analyze(data, first_only=True)
    assert calls == [(750, 1000, 3), (1500, 2000, 3)]
    assert res.n_faces == 1
    face = res.faces[0]
    assert eye_distance(face) * 1000 / 4000 < EYES_NEED  # small in the detector's decode
    # its embedding is SFace's on the finer pixels, the face's landmarks scaled to them
    fine, _ = pipeline.decode_for_faces(data)
    emb = FacePipeline(cache=False).embedder
    want = emb.embed(fine, [face.unclipped().scaled(2000 / 4000)])[0]
    np.testing.assert_allclose(res.embeddings[0], want, atol=1e-5)
    assert res.thumbs[0][:2] == b"\xff\xd8"


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_the_reduced_decode_in_rgb_is_pillows_draft(mode):
    """OpenCV decodes a big JPEG straight to RGB (no BGR copy turned): Pillow's draft pixels,
    a grey photo as three equal channels."""
    import io

    from PIL import Image

    data = _big(600)
    if mode == "L":
        buf = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("L").save(buf, "JPEG", quality=90)
        data = buf.getvalue()
    got, full = images.decode_photo(data, draft_side=640)
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (1000, 750))
        want = np.asarray(im.convert("RGB"))
    assert full == (4000, 3000) and got.shape == want.shape == (750, 1000, 3)
    assert np.array_equal(got, want)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
    assert np.array_equal(got, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


@pytest.mark.parametrize(("score", "runs"), [(0.93, 1), (0.86, 4)])
def test_a_sure_face_in_profile_does_not_turn_the_photo(monkeypatch, score, runs):
    """A face in profile has its eyes close together (implausible upright landmarks): scored
    at least UPRIGHT_SCORE it is taken as upright, without the three turned copies a
    doubtful face costs (12 MP wild photos: 4 of 6 that ran them)."""
    from lookalike.face import detector as det_module
    from lookalike.face.detector import FaceDetector, upright_landmarks

    assert det_module.UPRIGHT_SCORE == 0.9
    profile = Face((100.0, 100.0, 100.0, 120.0),
                   np.array([[140, 140], [160, 141], [150, 165], [142, 190], [158, 190]],
                            np.float32), score)
    assert not upright_landmarks(profile)  # eyes 20 px apart in a 100 px box
    calls = []

    def once(rgb, max_side=None, shape=None):
        calls.append(rgb.shape)
        return [profile] if len(calls) == 1 else []

    det = FaceDetector()
    monkeypatch.setattr(det, "_detect_once", once)
    faces = det.find(np.zeros((400, 300, 3), np.uint8))
    assert len(calls) == runs and [f.score for f in faces] == [score]
