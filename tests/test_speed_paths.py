"""The faster paths around the networks answer exactly as the plain ones: all faces of a photo
through SFace in one inference, a measured contender's vector reused as its embedding, the
face order computed once, thumbnails made only when read."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike import runtime
from lookalike.face import choose, pipeline
from lookalike.face.choose import (
    choose_indices,
    contenders,
    eligible,
    measure_quality,
    order_indices,
    subject_score,
)
from lookalike.face.detector import Face
from lookalike.face.embedders import SFaceEmbedder, l2_normalize
from lookalike.face.pipeline import FacePipeline, face_thumbnail
from tests.utils import astronaut, detector, encode, grace_hopper, group_shot


def _group(n: int = 4) -> np.ndarray:
    a, g = astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]
    return group_shot([a, g, a, g][:n], [200, 230, 150, 120][:n])


def _one_by_one(emb: SFaceEmbedder, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
    """The raw vectors the way they were computed before batching: one crop per inference."""
    return np.stack([emb.feature(c) for c in emb.crops(rgb, faces)])


# opencv: 1.7 CPU-s; fast: test_runtime_backends' same outputs on both backends
@pytest.mark.parametrize("backend", ["openvino", pytest.param("opencv", marks=pytest.mark.slow)])
def test_one_inference_for_all_faces_gives_each_face_its_own_vector(backend):
    if backend == "openvino" and not runtime.openvino_available():
        pytest.skip("openvino not installed")
    rgb = _group()
    faces = detector().detect(rgb)
    assert len(faces) == 4
    emb = SFaceEmbedder(backend=backend)
    batched = emb.features(rgb, faces)
    assert batched.shape == (4, 128)
    np.testing.assert_allclose(batched, _one_by_one(emb, rgb, faces), atol=1e-5)
    # a different batch size (1, then 3) answers the same: one compiled model serves all
    np.testing.assert_allclose(emb.features(rgb, faces[:1]), batched[:1], atol=1e-5)
    np.testing.assert_allclose(emb.features(rgb, faces[1:]), batched[1:], atol=1e-5)
    np.testing.assert_allclose(emb.embed(rgb, faces), l2_normalize(batched), atol=1e-6)
    if backend == "openvino":
        assert emb._network().compiles == 1  # not one compile per batch size


def test_flip_test_adds_the_mirrored_crop_in_the_same_inference():
    rgb = _group(2)
    faces = detector().detect(rgb)
    emb = SFaceEmbedder(flip_test=True)
    crops = emb.crops(rgb, faces)
    want = np.stack([emb.feature(c) + emb.feature(np.ascontiguousarray(c[:, ::-1]))
                     for c in crops])
    np.testing.assert_allclose(emb.features(rgb, faces), want, atol=1e-4)
    # the quality signal stays the plain crop's norm
    plain = np.linalg.norm(_one_by_one(emb, rgb, faces), axis=1)
    assert emb.feature_norms(rgb, faces) == pytest.approx(plain.tolist(), abs=1e-4)


def test_batches_larger_than_the_limit_are_split(monkeypatch):
    from lookalike.face import embedders

    rgb = _group()
    faces = detector().detect(rgb)
    emb = SFaceEmbedder()
    whole = emb.features(rgb, faces)
    monkeypatch.setattr(embedders, "BATCH", 3)
    np.testing.assert_allclose(emb.features(rgb, faces), whole, atol=1e-5)


def _random_faces(rng: np.random.Generator, n: int) -> list[Face]:
    out = []
    for _ in range(n):
        x, y = rng.uniform(0, 300, 2)
        s = rng.uniform(20, 120)
        lm = np.array([[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]])
        lm = (lm + rng.normal(0, 0.08, lm.shape)) * s + (x, y)
        quality = float(rng.uniform(5, 14)) if rng.random() < 0.3 else None
        out.append(Face((float(x), float(y), float(s), float(s * 1.2)), lm.astype(np.float32),
                        float(rng.uniform(0.6, 1.0)), quality=quality))
    return out


def test_the_order_computed_once_is_the_order_of_the_plain_rules():
    rng = np.random.default_rng(0)
    rgb = np.zeros((400, 400, 3), np.uint8)
    measured = []

    def quality(img, faces):
        measured.append(len(faces))
        return [float(rng.uniform(6, 13)) for _ in faces]

    seen_contest = 0
    for _ in range(300):
        faces = _random_faces(rng, int(rng.integers(0, 6)))
        size = (400, 400)
        keys = [(eligible(f), subject_score(f, size)) for f in faces]
        plain = sorted(range(len(faces)), key=lambda i: (not keys[i][0], -keys[i][1]))
        assert order_indices(faces, size) == plain
        near = contenders(faces, size)
        measured.clear()
        state = rng.bit_generator.state
        order, scored = choose_indices(rgb, faces, quality)
        if near:
            seen_contest += 1
            assert measured == [len(near)]
            # the plain composition, with the same qualities measured
            rng.bit_generator.state = state
            qs = [float(rng.uniform(6, 13)) for _ in near]
            ref = list(faces)
            for i, q in zip(near, qs, strict=True):
                ref[i] = Face(ref[i].box, ref[i].landmarks, ref[i].score, quality=q)
            assert order == order_indices(ref, size)
            assert [f.quality for f in scored] == [f.quality for f in ref]
        else:
            assert measured == [] and order == plain and scored == list(faces)
    assert seen_contest > 10  # the contest path was exercised


def test_the_first_face_alone_is_the_first_of_the_full_order_with_fewer_measured():
    rng = np.random.default_rng(1)
    rgb = np.zeros((400, 400, 3), np.uint8)
    saved = 0
    for _ in range(400):
        faces = _random_faces(rng, int(rng.integers(2, 12)))
        for f in faces:
            f.quality = None
        qualities = {id(f.landmarks): float(rng.uniform(4, 15)) for f in faces}
        counts = []

        def quality(img, fs, counts=counts, qualities=qualities):
            counts.append(len(fs))
            return [qualities[id(f.landmarks)] for f in fs]

        order, scored = choose_indices(rgb, faces, quality)
        full = sum(counts)
        counts.clear()
        fulls = [f.quality for f in scored]
        for f in faces:  # the contest fills the records' quality in: unmeasured again
            f.quality = None
        first, scored1 = choose_indices(rgb, faces, quality, first_only=True)
        assert first[0] == order[0]
        assert scored1[first[0]].quality == fulls[order[0]]
        assert sum(counts) <= full and all(c <= choose.MEASURE_CHUNK for c in counts)
        saved += full - sum(counts)
    assert saved > 0


def test_the_first_face_alone_measures_the_best_contender_alone_first():
    rgb = np.zeros((400, 400, 3), np.uint8)
    marks = np.array([[0, 0], [10, 0], [5, 6], [1, 11], [9, 11]], np.float32)

    def face(x: float, side: float) -> Face:
        return Face((x, 150.0, side, side * 1.2), marks * side / 25 + [x + side * 0.3, 170.0],
                    0.97)

    big, mid, small = face(170.0, 80.0), face(40.0, 60.0), face(300.0, 50.0)
    faces = [small, big, mid]
    assert sorted(contenders(faces, (400, 400))) == [0, 1, 2]

    def run(norms: dict[float, float]) -> tuple[list[int], list[int]]:
        calls: list[int] = []

        def quality(img, fs):
            calls.append(len(fs))
            return [norms[f.box[2]] for f in fs]

        return choose_indices(rgb, faces, quality, first_only=True)[0], calls

    # a sharp big face: the others cannot win even at the highest quality: one face measured
    order, calls = run({80.0: 12.0, 60.0: 12.0, 50.0: 12.0})
    assert order[0] == 1 and calls == [1]
    # a poor big face (a false detection's norm): the others are measured, together
    order, calls = run({80.0: 4.0, 60.0: 12.0, 50.0: 12.0})
    assert order[0] == 2 and calls == [1, 2]


def test_a_measured_contender_is_not_run_again_for_its_embedding(monkeypatch):
    img = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                     [200, 230])
    pipe = FacePipeline(cache=False)
    plain = FacePipeline(cache=False)
    runs: list[int] = []
    net = pipe.embedder._network()
    original = net.run

    def counting(blob):
        runs.append(len(blob))
        return original(blob)

    monkeypatch.setattr(net, "run", counting)
    for first_only in (True, False):
        runs.clear()
        got = pipe.analyze(encode(img, "PNG"), first_only=first_only)
        assert all(f.quality is not None for f in got.faces)  # contenders were measured
        # all faces: both in one inference; the first face alone: the best contender alone,
        # whose measured score rules the other out; the embeddings are those vectors
        assert runs == ([1] if first_only else [2])
        faces = [f.unclipped() for f in got.faces]
        want = l2_normalize(_one_by_one(plain.embedder, *_decoded(img, faces)))
        np.testing.assert_allclose(got.embeddings, want[: len(got.faces)], atol=1e-5)


def _decoded(img: np.ndarray, faces: list[Face]) -> tuple[np.ndarray, list[Face]]:
    from lookalike.face.pipeline import decode_for_faces

    rgb, _ = decode_for_faces(encode(img, "PNG"))
    return rgb, faces


def test_quality_measure_without_a_pipeline_still_uses_its_own_sface():
    rgb = _group(2)
    faces = detector().detect(rgb)
    norms = measure_quality(rgb, faces)
    emb = SFaceEmbedder()
    assert norms == pytest.approx(np.linalg.norm(_one_by_one(emb, rgb, faces), axis=1).tolist(),
                                  abs=1e-4)
    assert choose._quality_embedder() is choose._quality_embedder()


def test_thumbnails_of_a_first_face_answer_are_made_only_when_read(monkeypatch):
    made: list[int] = []
    original = pipeline.face_thumbnails  # a photo's thumbnails, made in one call

    def counting(rgb, faces, *a, **k):
        made.extend(1 for _ in faces)
        return original(rgb, faces, *a, **k)

    monkeypatch.setattr(pipeline, "face_thumbnails", counting)
    data = encode(astronaut(), "JPEG", quality=92)
    pipe = FacePipeline(cache=False)
    first = pipe.analyze(data, first_only=True)
    assert made == [] and len(first.thumbs) == 1 and first.thumbs  # known without making it
    thumb = first.thumbs[0]
    assert made == [1] and thumb[:2] == b"\xff\xd8"
    assert list(first.thumbs) == [thumb] and made == [1]  # made once
    import pickle

    lazy = pipe.analyze(data, first_only=True)
    sent = pickle.loads(pickle.dumps(lazy))  # a worker's answer carries JPEGs, not the photo
    assert len(pickle.dumps(lazy.thumbs)) < 2 * len(thumb) + 200 and sent.thumbs == [thumb]
    made.clear()
    made.append(1)
    full = pipe.analyze(data)  # every face: made at once (they are cached and kept)
    assert made == [1, 1] and full.thumbs == [thumb] and first.thumbs == full.thumbs
    rgb, _ = pipeline.decode_for_faces(data)
    face = first.faces[0]
    assert thumb == face_thumbnail(rgb, face) or first.image_size != (rgb.shape[1],
                                                                       rgb.shape[0])


def test_a_cached_full_analysis_and_a_fresh_first_face_analysis_agree(tmp_path):
    from lookalike.cache import ArrayCache

    data = encode(_group(), "JPEG", quality=92)
    cached = FacePipeline(cache=ArrayCache(tmp_path))
    cached.analyze(data)
    hit = cached.analyze(data, first_only=True)
    fresh = FacePipeline(cache=False).analyze(data, first_only=True)
    np.testing.assert_allclose([f.box for f in hit.faces], [f.box for f in fresh.faces],
                               atol=1e-3)
    np.testing.assert_allclose(hit.embeddings, fresh.embeddings, atol=1e-5)
    assert list(hit.thumbs) == list(fresh.thumbs)
    assert hit.n_faces == fresh.n_faces == 4
