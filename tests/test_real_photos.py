"""Real photos: predict a folder, names shown one way, the face the answer is about."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import CMD, encode


def run(*args, check: bool = False):
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True,
                          timeout=300, check=check)


def test_predict_a_folder_answers_every_photo(trained, people_dir, tmp_path):
    _, _, model = trained
    folder = people_dir / "astronaut"
    photos = sorted(folder.glob("*.jpg"))
    (tmp_path / "notes.txt").write_text("x")
    r = run("predict", model, folder, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [p["photo"] for p in doc["photos"]] == [str(p) for p in photos]
    assert all(p["faces"] for p in doc["photos"])
    # text output: every photo once; a folder of photos mixed with a photo file
    r = run("predict", model, folder, photos[0], "--top", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(".jpg") == len(photos) + 1


def test_predict_folder_errors_once(trained, tmp_path):
    _, _, model = trained
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("predict", model, empty)
    assert r.returncode == 2
    assert r.stderr.count("empty") == 1 and "no photos in this folder" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not r.stdout.strip()
    # a bad photo among good ones: its error is said once (stderr), not also on stdout
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (mixed / "blank.png").write_bytes(encode(np.full((64, 64, 3), 200, np.uint8), "PNG"))
    (mixed / "readme.txt").write_text("not a photo")
    r = run("predict", model, mixed)
    assert r.returncode == 2
    assert (r.stdout + r.stderr).count("broken.jpg") == 1
    assert (r.stdout + r.stderr).count("blank.png") == 1
    assert "passed over 1 file(s)" in r.stderr


def test_names_shown_one_way():
    from lookalike.answer.ranking import Match
    from lookalike.names import display_name
    from lookalike.names import display_name as cards_name

    assert display_name("Andre_Agassi") == "Andre Agassi" == cards_name("Andre_Agassi")
    assert display_name("George_W__Bush ") == "George W Bush"
    assert display_name("___") == "___" and display_name("王菲") == "王菲"
    d = Match("Andre_Agassi", 0.5, 0.4).to_dict()
    assert d["person"] == "Andre_Agassi" and d["name"] == "Andre Agassi"


def test_cli_table_shows_display_names(tmp_path):
    from lookalike.answer.ranking import Match
    from lookalike.cli.output import ranking_table

    rows = ranking_table([Match("Andre_Agassi", 0.7, 0.5), Match("Li_Na", 0.3, 0.2)])
    assert "Andre Agassi" in rows[0] and "_" not in "".join(rows)


def _face(box, score, landmarks=None):
    from lookalike.face.detector import Face

    x, y, w, h = box
    if landmarks is None:  # an upright face's landmarks in its box
        landmarks = [[x + 0.3 * w, y + 0.4 * h], [x + 0.7 * w, y + 0.4 * h],
                     [x + 0.5 * w, y + 0.58 * h], [x + 0.35 * w, y + 0.75 * h],
                     [x + 0.65 * w, y + 0.75 * h]]
    return Face(tuple(float(v) for v in box), np.array(landmarks, np.float32), score)


def test_a_big_doubtful_detection_is_not_the_answer():
    """The issue's photo: a blurred background region (score 0.69, 790 px) was chosen over
    the subject's sharp face (0.93, 270 px) by size x centrality x score."""
    from lookalike.face.choose import eligible, order_indices
    from lookalike.face.detector import prominence

    size = (2000, 1500)
    region = _face((600, 350, 790, 790), 0.69)
    subject = _face((1400, 500, 270, 270), 0.93)
    assert prominence(region, size) > prominence(subject, size)  # the old rule's answer
    assert not eligible(region) and eligible(subject)
    assert order_indices([region, subject], size) == [1, 0]
    # with no face that qualifies, the most prominent detection still answers
    assert order_indices([region, _face((1400, 500, 270, 270), 0.7)], size) == [0, 1]


def test_landmark_geometry():
    from lookalike.face.choose import eligible, geometry

    upright = _face((100, 100, 100, 120), 0.92)
    assert geometry(upright) == 1.0
    x, y = 100, 100  # mouth above the eyes, eyes 5 px apart: not a face's landmarks
    odd = _face((x, y, 100, 120), 0.92, [[150, 160], [155, 160], [150, 150], [140, 120],
                                         [160, 120]])
    assert geometry(odd) < 0.7 and not eligible(odd)


def test_training_never_chooses_a_detection_that_does_not_look_like_a_face():
    from lookalike.face.choose import choose_faces

    rng = np.random.default_rng(0)
    person = rng.normal(size=16)
    person /= np.linalg.norm(person)
    e = [np.stack([person + 0.1 * rng.normal(size=16), rng.normal(size=16)]) for _ in range(3)]
    e = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in e]
    # photo 0: the person's face is a doubtful detection, the other one a clear face
    faces = [[_face((0, 0, 50, 50), 0.65), _face((60, 0, 50, 50), 0.95)]] + \
        [[_face((0, 0, 50, 50), 0.95), _face((60, 0, 50, 50), 0.95)]] * 2
    assert choose_faces(e, 0.3)[0].index == 0  # agreement alone picks the doubtful one
    assert choose_faces(e, 0.3, faces)[0].index == 1
    assert [c.index for c in choose_faces(e, 0.3, faces)[1:]] == [0, 0]


def test_quality_is_measured_for_contenders_and_cached(tmp_path):
    from conftest import astronaut, grace_hopper, group_shot

    from lookalike.face.pipeline import FacePipeline

    img = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                     [200, 230])
    data = encode(img, "PNG")
    fresh = FacePipeline(cache=False).analyze(data)
    assert len(fresh.faces) == 2
    assert all("quality" in f.extra for f in fresh.faces)  # two contenders: measured
    assert all(8 < f.extra["quality"] < 20 for f in fresh.faces)
    pipe = FacePipeline()
    pipe.analyze(data)
    cached = pipe.analyze(data)
    assert [f.box for f in cached.faces] == [f.box for f in fresh.faces]
    assert [f.extra.get("quality") for f in cached.faces] == pytest.approx(
        [f.extra["quality"] for f in fresh.faces], abs=1e-3)


def test_evaluate_says_when_the_labelled_person_is_another_face(trained, tmp_path):
    from conftest import astronaut, grace_hopper, group_shot

    from lookalike.measure.evaluate import evaluate

    model = trained[0]
    folder = tmp_path / "eval" / "astronaut"
    folder.mkdir(parents=True)
    # the astronaut is the smaller face beside a bigger Grace Hopper: the answer is for her
    img = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                     [120, 300])
    (folder / "with_grace.jpg").write_bytes(encode(img, quality=92))
    res = evaluate(model, tmp_path / "eval", progress=False)
    (wrong,) = res["misclassified"]
    assert wrong["predicted"] == "grace_hopper" and wrong["person"] == "astronaut"
    assert wrong["other_face"]["rank"] == 2 and wrong["other_face"]["of"] == 2
    r = run("evaluate", trained[2], tmp_path / "eval", "-q")
    assert "astronaut is face 2 of 2 in this photo: a face-choice error" in r.stdout, r.stdout
