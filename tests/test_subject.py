"""Which face the answer is for (issue 21): prominence for a look-alike query, the known
person for a photo filed under someone; training that distrusts its own wrong photos."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from lookalike.answer.heads import CentroidHead, make_head, robust_members
from lookalike.answer.ranking import FaceResult, Match, PhotoResult
from lookalike.answer.subject import KNOWN, PROMINENT, choose_subject, known_index
from lookalike.cli import main
from lookalike.face.detector import Face
from tests.utils import CMD, astronaut, encode, grace_hopper, group_shot, variants


def _face(x: float, score: float = 0.95) -> Face:
    # a frontal face's landmarks inside a 100 px box at (x, 0)
    pts = np.array([[x + 30, 40], [x + 70, 40], [x + 50, 60], [x + 35, 80], [x + 65, 80]],
                   np.float32)
    return Face((x, 0.0, 100.0, 110.0), pts, score)


def _result(sims: list[float], threshold: float = 0.363, scores=None) -> PhotoResult:
    faces = []
    for k, s in enumerate(sims):
        f = _face(120.0 * k, (scores or [0.95] * len(sims))[k])
        faces.append(FaceResult(f, [Match(f"p{k}", 0.9, s)], s < threshold, s,
                                np.array([0.9, 0.1])))
    return PhotoResult("x.jpg", faces, (1000, 200))


def test_known_face_beats_a_more_prominent_stranger():
    res = _result([0.20, 0.70])  # face 1: a stranger (most prominent); face 2: known
    out = choose_subject(res, KNOWN)
    assert [f.index for f in out.faces] == [1]
    assert out.faces[0].chosen_by == "known person"
    assert out.n_faces == 2
    d = out.to_dict()["faces"][0]
    assert (d["face_index"], d["faces_in_photo"], d["chosen_by"]) == (2, 2, "known person")


def test_among_known_faces_the_most_similar_and_prominence_without_any():
    out = choose_subject(_result([0.45, 0.80, 0.60]), KNOWN, all_faces=True)
    assert [f.index for f in out.faces] == [1, 0, 2]
    assert [f.chosen_by for f in out.faces] == ["known person", None, None]
    out = choose_subject(_result([0.20, 0.10]), KNOWN)
    assert out.faces[0].index == 0 and out.faces[0].chosen_by == "prominence"
    # a look-alike query keeps the most prominent face
    assert choose_subject(_result([0.20, 0.70]), PROMINENT).faces[0].index == 0


def test_a_detection_that_does_not_look_like_a_face_is_never_the_known_subject():
    res = _result([0.20, 0.90], scores=[0.95, 0.65])  # face 2 scores under 0.8
    assert known_index(res.faces) is None
    assert choose_subject(res, KNOWN).faces[0].index == 0


def test_robust_centre_is_not_pulled_by_wrong_photos():
    rng = np.random.default_rng(0)
    base = rng.normal(size=64)
    same = base + 0.35 * rng.normal(size=(12, 64)) * np.linalg.norm(base) / 8
    costar = rng.normal(size=64)  # the same co-star, filed 4 times under the person
    wrong = costar + 0.35 * rng.normal(size=(4, 64)) * np.linalg.norm(costar) / 8
    X = np.vstack([same, wrong])
    y = np.zeros(len(X), int)
    X2 = np.vstack([X, rng.normal(size=(5, 64))])
    y2 = np.concatenate([y, np.ones(5, int)])
    members = robust_members(X2 / np.linalg.norm(X2, axis=1, keepdims=True), y2, 2, 0.363)
    assert members[:12].all() and not members[12:16].any()
    robust = make_head("centroid", radius=0.363).fit(X2, y2, 2)
    plain = CentroidHead().fit(X2, y2, 2)
    unit = base / np.linalg.norm(base)
    assert robust.centroids_[0] @ unit > 0.98 and plain.centroids_[0] @ unit < 0.95
    assert robust.calibrated_


def run(*args):
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def astronaut_model(tmp_path_factory):
    """A model that knows one person (the astronaut); Grace Hopper is a stranger to it."""
    root = tmp_path_factory.mktemp("one")
    (root / "astronaut").mkdir()
    for i, v in enumerate(variants(astronaut(), 5, seed=3)):
        (root / "astronaut" / f"a{i}.jpg").write_bytes(encode(v, quality=90))
    model = root / "m.lookalike"
    # trained in this process: a process of its own costs ~2 CPU-s more (the command in its
    # own process: test_predict_answers_the_prominent_face_and_known_on_request, test_cli)
    assert main(["train", str(root), "-o", str(model), "--json", "-q"]) == 0
    shot = root / "shot.jpg"  # Grace large (the most prominent), the astronaut small
    shot.write_bytes(encode(group_shot([grace_hopper(), astronaut()], [420, 200])))
    return model, shot


@pytest.mark.slow  # 31 s under load 13
def test_predict_answers_the_prominent_face_and_known_on_request(astronaut_model):
    model, shot = astronaut_model
    r = run("predict", model, shot, "--json")
    assert r.returncode == 0, r.stderr
    face = json.loads(r.stdout)["photos"][0]["faces"][0]
    assert (face["face_index"], face["faces_in_photo"]) == (1, 2)
    assert face["unknown"] and face["chosen_by"] == "prominence"
    r = run("predict", model, shot, "--json", "--subject", "known")
    assert r.returncode == 0, r.stderr
    face = json.loads(r.stdout)["photos"][0]["faces"][0]
    assert (face["face_index"], face["chosen_by"]) == (2, "known person")
    assert not face["unknown"] and face["ranking"][0]["person"] == "astronaut"
    r = run("predict", model, shot, "--subject", "known")
    assert "face 2 of 2" in r.stdout and "by known person" in r.stdout


def test_evaluate_answers_for_the_known_face(astronaut_model, tmp_path, capsys):
    model, shot = astronaut_model
    folder = tmp_path / "astronaut"
    folder.mkdir()
    (folder / "shot.jpg").write_bytes(shot.read_bytes())
    capsys.readouterr()
    assert main(["evaluate", str(model), str(tmp_path), "--json"]) == 0  # in this process
    doc = json.loads(capsys.readouterr().out)
    assert doc["chosen_against_prominence"] == ["astronaut/shot.jpg"]
    assert doc["subject"] == "known"


@pytest.mark.slow  # 13 s under load 13
def test_training_leaves_out_a_photo_of_another_known_person(tmp_path):
    from lookalike.models.train import train

    root = tmp_path / "people"
    for name, img in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        (root / name).mkdir(parents=True)
        for i, v in enumerate(variants(img, 5, seed=1)):
            (root / name / f"{i}.jpg").write_bytes(encode(v, quality=90))
    # a mislabelled photo: Grace Hopper filed under the astronaut
    (root / "astronaut" / "wrong.jpg").write_bytes(encode(variants(grace_hopper(), 1, 9)[0]))
    model, report = train(root, progress=False, validation_fraction=0.0)
    why = dict(report.distrusted)
    assert "astronaut/wrong.jpg" in why and "looks like grace_hopper" in why["astronaut/wrong.jpg"]
    assert "astronaut/wrong.jpg" not in model.manifest["train_photos"]
    assert model.manifest["distrusted"][0][0] == "astronaut/wrong.jpg"
    assert "astronaut/wrong.jpg" in report.faces  # its face box, for the report


def test_together_answers_each_photo_for_its_known_face(astronaut_model, tmp_path, capsys):
    model, shot = astronaut_model
    solo = tmp_path / "solo.jpg"
    solo.write_bytes(encode(variants(astronaut(), 1, seed=7)[0]))
    capsys.readouterr()
    assert main(["predict", str(model), str(shot), str(solo), "--together", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    first = doc["photos"][0]["faces"]
    assert len(first) == 1 and first[0]["face_index"] == 2
    assert first[0]["chosen_by"].startswith("known person")
    assert doc["verdict"]["person"] == "astronaut" and not doc["verdict"]["unknown"]
