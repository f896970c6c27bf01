"""One Face record that each stage fills in (issue 22): the detector's box and landmarks, the
face choice's quality, the embedder's vector, the thumbnail; the face order decided once; a
card drawn from the photo the answer decoded, not a second decode."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from lookalike.face import choose, pipeline
from lookalike.face.choose import (
    face_likeness,
    prominence,
    quality_factor,
    size_and_centrality,
    subject_score,
)
from lookalike.face.pipeline import FacePipeline
from lookalike.face.record import Face, inside
from tests.utils import astronaut, encode, grace_hopper, group_shot

MARKS = np.array([[30, 40], [60, 40], [45, 55], [33, 70], [57, 70]], np.float32)


def _two_faces() -> bytes:
    return encode(group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                             [200, 230]), "PNG")


def test_a_record_keeps_what_each_stage_filled_in_through_its_geometry():
    vec = np.arange(4, dtype=np.float32)
    f = Face((-10.0, 5.0, 100.0, 120.0), MARKS, 0.9, quality=11.5, embedding=vec,
             thumbnail=b"\xff\xd8jpeg")
    cut = f.clipped((80, 200))
    assert cut.box == (0.0, 5.0, 80.0, 120.0) and cut.raw_box == (-10.0, 5.0, 100.0, 120.0)
    assert cut.quality == 11.5 and cut.embedding is vec and cut.thumbnail == f.thumbnail
    big = cut.scaled(2.0)
    assert big.box == (0.0, 10.0, 160.0, 240.0) and big.raw_box == (-20.0, 10.0, 200.0, 240.0)
    np.testing.assert_allclose(big.landmarks, MARKS * 2)
    assert big.embedding is vec and big.quality == 11.5  # the face's own, not the photo's
    assert big.unclipped().box == (-20.0, 10.0, 200.0, 240.0)
    assert big.unclipped().raw_box is None
    # the typed fields, read the old way
    assert big.extra == {"raw_box": (-20.0, 10.0, 200.0, 240.0), "quality": 11.5}
    assert Face((0.0, 0.0, 1.0, 1.0), MARKS, 0.5, rotated=90, padded=True).extra == {
        "rotated": 90, "padded": True}
    assert f.clipped((500, 500)) is not f and Face((1.0, 1.0, 9.0, 9.0), MARKS,
                                                   0.5).clipped((20, 20)).raw_box is None


def test_inside_drops_boxes_not_centred_in_the_photo_and_cuts_the_rest():
    marks = np.zeros((5, 2), np.float32)
    absurd = Face((-43988356.0, 849.0, 87980550.0, 150.0), marks, 0.9)
    edge = Face((3674.0, -29.0, 70.0, 90.0), marks, 0.9)
    kept = inside([absurd, edge], (20, 4000, 3))
    assert [f.box for f in kept] == [(3674.0, 0.0, 70.0, 20.0)]
    assert kept[0].raw_box == edge.box


def test_subject_score_weighs_size_and_centrality_without_undoing_the_detector_weight():
    size = (400, 300)
    for score, quality in [(0.95, None), (0.7, 9.0), (0.85, 14.0)]:
        f = Face((150.0, 100.0, 90.0, 110.0), MARKS + 140, score, quality=quality)
        base = size_and_centrality(f, size)
        assert prominence(f, size) == pytest.approx(base * (0.5 + 0.5 * score))
        assert subject_score(f, size) == pytest.approx(
            base * face_likeness(f) * quality_factor(f))
    corner = Face((-45.0, -55.0, 90.0, 110.0), MARKS, 0.95)  # centred on the corner
    centre = Face((155.0, 95.0, 90.0, 110.0), MARKS, 0.95)
    assert size_and_centrality(centre, size) == pytest.approx(90 * 110)
    assert size_and_centrality(corner, size) == pytest.approx(0.2 * 90 * 110)


def test_a_fresh_analysis_finds_once_orders_once_and_fills_every_record(monkeypatch):
    pipe = FacePipeline(cache=False)
    calls = {"find": 0, "detect": 0, "order": 0}
    find, order = pipe.detector.find, pipeline.choose_order

    def counted_find(rgb, **kw):
        calls["find"] += 1
        return find(rgb, **kw)

    def counted_order(*a, **k):
        calls["order"] += 1
        return order(*a, **k)

    def no_detect(rgb):
        calls["detect"] += 1
        raise AssertionError("the face path orders once: find(), not detect()")

    monkeypatch.setattr(pipe.detector, "find", counted_find)
    monkeypatch.setattr(pipe.detector, "detect", no_detect)
    monkeypatch.setattr(pipeline, "choose_order", counted_order)
    for first_only in (True, False):
        calls.update(find=0, order=0)
        res = pipe.analyze(_two_faces(), first_only=first_only)
        assert calls == {"find": 1, "detect": 0, "order": 1}
        assert res.n_faces == 2 and len(res.faces) == (1 if first_only else 2)
        for f in res.faces:
            assert f.embedding.shape == (128,)
            assert np.linalg.norm(f.embedding) == pytest.approx(1.0, abs=1e-5)
            assert f.quality is not None  # two faces contended: measured
        # the arrays callers read are views of the records
        np.testing.assert_array_equal(res.embeddings, np.stack([f.embedding for f in res.faces]))
        assert res.thumbs == [f.thumbnail for f in res.faces]
        assert all(t[:2] == b"\xff\xd8" for t in res.thumbs)
    assert FacePipeline(cache=False).analyze(encode(np.full((80, 90, 3), 128, np.uint8))
                                             ).embeddings.shape == (0, 128)


def test_an_analysis_sent_to_another_process_carries_its_records_and_jpegs():
    res = FacePipeline(cache=False).analyze(_two_faces(), first_only=True)
    back = pickle.loads(pickle.dumps(res))
    assert back._pending is None and back.n_faces == 2
    assert back.thumbs == res.thumbs and len(back.thumbs) == 1
    np.testing.assert_array_equal(back.embeddings, res.embeddings)
    assert back.faces[0].quality == res.faces[0].quality


def test_the_order_is_the_face_choice_and_a_crowd_keeps_its_best_faces():
    rgb = np.zeros((400, 400, 3), np.uint8)
    faces = [Face((float(20 * i), 10.0, 30.0 + i, 36.0 + i), MARKS * (0.3 + 0.02 * i)
                  + (20 * i, 10), 0.95) for i in range(12)]
    full = choose.choose_order(rgb, faces, lambda img, fs: [11.0] * len(fs))
    cut = choose.choose_order(rgb, faces, lambda img, fs: [11.0] * len(fs), limit=5)
    assert len(cut) == 5 and [f.box for f in cut] == [f.box for f in full[:5]]


def test_a_card_draws_the_photo_the_answer_decoded(trained, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from lookalike.photos import images
    from lookalike.pictures.cards import render_card

    model = trained[0]
    photo = tmp_path / "two.png"
    photo.write_bytes(_two_faces())
    monkeypatch.setattr(model.pipeline, "cache", None)  # a fresh analysis each time
    calls = []
    original = images.decode_photo

    def counting(*a, **k):
        calls.append(1)
        return original(*a, **k)

    monkeypatch.setattr(images, "decode_photo", counting)
    monkeypatch.setattr("lookalike.face.pixels.decode_photo", counting)
    results, _ = model.predict_many([photo], keep_images=True)
    assert len(calls) == 1 and results[0].image is not None
    assert "image" not in results[0].to_dict()
    card = render_card(model, results, tmp_path / "card.png")
    assert len(calls) == 1 and card.path.exists()  # drawn from the kept photo
    plain, _ = model.predict_many([photo])
    assert plain[0].image is None  # kept only when asked
    render_card(model, plain, tmp_path / "card2.png")
    assert len(calls) == 3  # without it the card decodes the photo itself
