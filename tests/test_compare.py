"""lookalike.compare, `lookalike compare` and boxes inside the photo."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from PIL import Image

import lookalike
from lookalike.answer.comparison import Comparer, same_person_probability
from lookalike.errors import ImageError, NoFaceError
from tests.utils import CMD, astronaut, encode, grace_hopper, variants


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("compare")
    a1, a2 = variants(astronaut(), 2, seed=3)
    paths = {"a1": d / "astronaut 1.jpg", "a2": d / "astronaut_2.jpg", "g": d / "hopper.jpg",
             "blank": d / "blank.png", "text": d / "notes.jpg"}
    paths["a1"].write_bytes(encode(a1, quality=92))
    paths["a2"].write_bytes(encode(a2, quality=92))
    paths["g"].write_bytes(encode(grace_hopper(), quality=92))
    paths["blank"].write_bytes(encode(np.full((200, 300, 3), 180, np.uint8), "PNG"))
    paths["text"].write_text("not a photo")
    return paths


def test_same_and_different_people(photos):
    same = lookalike.compare(photos["a1"], photos["a2"])
    other = lookalike.compare(photos["a1"], photos["g"])
    assert same.same_person and not other.same_person
    assert same.similarity >= same.threshold > other.similarity
    assert 0.0 <= other.probability < 0.5 < same.probability <= 1.0
    d = same.to_dict()
    assert set(d) >= {"similarity", "same_person", "probability", "threshold", "faces"}
    assert len(d["faces"]) == 2
    for face, path in zip(d["faces"], (photos["a1"], photos["a2"]), strict=True):
        assert {"box", "landmarks", "detection_score"} <= set(face)
        assert face["photo"] == str(path)
        w, h = Image.open(path).size
        x, y, bw, bh = face["box"]
        assert x >= 0 and y >= 0 and x + bw <= w + 0.05 and y + bh <= h + 0.05
    json.dumps(d)  # JSON-safe


def test_paths_bytes_and_arrays_agree(photos):
    by_path = lookalike.compare(photos["a1"], photos["g"])
    by_bytes = lookalike.compare(photos["a1"].read_bytes(), photos["g"].read_bytes())
    rgb = np.asarray(Image.open(photos["g"]).convert("RGB"))
    by_array = lookalike.compare(photos["a1"], rgb)
    assert by_bytes.similarity == pytest.approx(by_path.similarity, abs=1e-5)
    assert by_array.similarity == pytest.approx(by_path.similarity, abs=1e-5)
    assert by_bytes.photos == ("a", "b")


def test_no_face_and_bad_input_name_the_photo(photos):
    with pytest.raises(NoFaceError, match="blank.png: no face found"):
        lookalike.compare(photos["a1"], photos["blank"])
    with pytest.raises(ImageError, match="notes.jpg"):
        lookalike.compare(photos["text"], photos["a1"])
    with pytest.raises(ImageError, match="not a photo"):
        lookalike.compare(np.zeros((5, 5)), photos["a1"])


def test_probability_is_calibrated_shape():
    """The shipped Platt fit: monotone, 50 % near the verdict's threshold, near-certain at
    the extremes (fitted on LFW by bench/studies/compare/bench_compare.py)."""
    ps = [same_person_probability(s) for s in (-0.2, 0.1, 0.3, 0.5, 0.9)]
    assert all(p is not None for p in ps)
    assert ps == sorted(ps) and ps[0] < 0.01 and ps[-1] > 0.99
    t = Comparer(cache=False).threshold
    assert 0.2 < same_person_probability(t) < 0.8
    # dlib's fit (its cosines of different people sit near 0.83, of one person near 0.95)
    ps = [same_person_probability(s, "dlib") for s in (0.7, 0.85, 0.9, 0.95, 0.99)]
    assert all(p is not None for p in ps) and ps == sorted(ps)
    assert ps[0] < 0.01 and ps[-1] > 0.99
    ps = [same_person_probability(s, "sface+dlib") for s in (0.3, 0.5, 0.61, 0.7, 0.9)]
    assert all(p is not None for p in ps) and ps == sorted(ps)
    assert ps[0] < 0.01 and 0.3 < ps[2] < 0.7 and ps[-1] > 0.99
    assert same_person_probability(0.5, "no-such-embedder") is None


def test_threshold_override(photos):
    c = lookalike.compare(photos["a1"], photos["g"], threshold=-1.0)
    assert c.same_person and c.threshold == -1.0


def run(*args):
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # a real process: 13 s under load 13
def test_cli_compare(photos, tmp_path):
    r = run("compare", photos["a1"], photos["a2"])
    assert r.returncode == 0, r.stderr
    assert "same person: yes" in r.stdout and "similarity" in r.stdout
    r = run("compare", photos["a1"], photos["g"], "--json", "--card", tmp_path / "c.png")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["same_person"] is False and len(doc["faces"]) == 2
    with Image.open(tmp_path / "c.png") as im:
        assert im.format == "PNG" and im.size[0] > 600 and im.size[1] > 400


@pytest.mark.slow  # real processes: 12 s under load 13
def test_cli_compare_errors(photos):
    r = run("compare", photos["a1"], photos["blank"])
    assert r.returncode == 3
    assert "blank.png" in r.stderr and "no face" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = run("compare", photos["text"], photos["a1"])
    assert r.returncode == 2
    assert "notes.jpg" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("compare", photos["a1"], photos["a1"].with_name("missing.jpg"))
    assert r.returncode == 2 and "missing.jpg" in r.stderr


def test_box_of_a_face_cut_by_the_border_is_inside_the_photo(tmp_path):
    """YuNet boxes a face cut by the border past the photo's edge; answers clip it."""
    from lookalike.face.pipeline import FacePipeline

    img = astronaut()[90:420, 215:512].copy()  # forehead and left cheek outside the frame
    h, w = img.shape[:2]
    pipe = FacePipeline(cache=False)
    raw = pipe.detector.detect(img)[0]
    assert raw.box[0] < 0 or raw.box[1] < 0  # the detector's own box runs past the edge
    res = pipe.analyze(encode(img, "PNG"))
    x, y, bw, bh = res.faces[0].box
    assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
    assert res.faces[0].extra["raw_box"] == pytest.approx(raw.box, abs=0.01)
    # the embedding is the detector-box one (unchanged by the clipping)
    direct = pipe.embedder.embed(img, [raw])[0]
    assert float(np.dot(direct, res.embeddings[0])) > 0.999
    # and through a cached analysis the box stays clipped
    cached = FacePipeline()
    data = encode(img, "PNG")
    cached.analyze(data)
    again = cached.analyze(data).faces[0].box
    assert again[0] >= 0 and again[1] >= 0 and again[0] + again[2] <= w


def test_verdict_and_probability_depend_on_the_faces_size():
    """Large faces of one person are more alike: the verdict's threshold rises from 0.34
    (LFW-sized faces, up to 80 px) to 0.40 (from 160 px), and a given similarity is less
    likely the same person (issue 21: fitted on LFW and the wild set's pairs)."""
    from lookalike.answer.comparison import same_person_probability, verdict_threshold

    assert verdict_threshold("sface", 58) == pytest.approx(0.34)
    assert verdict_threshold("sface", 400) == pytest.approx(0.40)
    assert 0.34 < verdict_threshold("sface", 113) < 0.40
    assert verdict_threshold("sface") == pytest.approx(0.34)  # size unknown: LFW's
    p = [same_person_probability(0.384, "sface", w) for w in (58, 100, 300)]
    assert p[0] > p[1] > p[2] and p[2] < 0.7
    assert same_person_probability(0.384, "sface", 300) == same_person_probability(
        0.384, "sface", 3000)  # clipped to the sizes it was fitted on
    # embedders fitted on LFW alone have no size terms
    assert same_person_probability(0.93, "dlib", 58) == same_person_probability(
        0.93, "dlib", 300)


def test_compare_answers_the_threshold_of_its_faces(tmp_path):
    import lookalike

    img = astronaut()
    c = lookalike.compare(img, img[:, ::-1].copy())
    w = min(f.box[2] for f in c.faces)
    from lookalike.answer.comparison import verdict_threshold

    assert c.threshold == pytest.approx(verdict_threshold("sface", w))
    fixed = lookalike.compare(img, img[:, ::-1].copy(), threshold=0.5)
    assert fixed.threshold == 0.5
