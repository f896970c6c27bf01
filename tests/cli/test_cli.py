"""End to end through the command line, each step in a new process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.utils import encode, grace_hopper, variants


def run(*args, check=True):
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "lookalike.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow  # 66 s under load 14
def test_train_predict_evaluate_in_new_processes(people_dir, tmp_path):
    model = tmp_path / "people.lookalike"
    out = run("train", people_dir, "-o", model)
    assert "Learned 2 people" in out.stdout and model.exists()
    photos = []
    for i, v in enumerate(variants(grace_hopper(), 3, seed=11)):
        photos.append(tmp_path / f"me{i}.jpg")
        photos[-1].write_bytes(encode(v))
    text = run("predict", model, *photos, "--together").stdout
    assert "grace hopper" in text and "grace_hopper" not in text and "%" in text
    assert "3 of 3 say grace hopper" in text
    doc = json.loads(run("predict", model, photos[0], "--json", "--top", "1").stdout)
    face = doc["photos"][0]["faces"][0]
    assert set(face) >= {"box", "landmarks", "ranking", "unknown"}
    assert face["ranking"][0]["person"] == "grace_hopper" and len(face["ranking"]) == 1
    assert doc["photos"][0]["error"] is None
    ev = json.loads(run("evaluate", model, people_dir, "--json").stdout)
    assert ev["n"] == 12 and ev["accuracy"] >= 0.9 and ev["top3_accuracy"] == 1.0
    info = json.loads(run("info", model).stdout)
    assert info["labels"] == ["astronaut", "grace_hopper"]


@pytest.mark.slow  # 28 s under load 14
def test_user_mistakes_get_one_line_and_no_traceback(trained, tmp_path):
    _, _, model = trained
    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(np.full((80, 80, 3), 128, np.uint8), "PNG"))
    cases = [
        (("train", tmp_path / "missing", "-o", tmp_path / "m.lookalike"), 2, "folder not found"),
        (("train", tmp_path, "-o", tmp_path), 2, "is a folder"),
        (("predict", tmp_path / "nope.lookalike", blank), 2, "model file not found"),
        (("predict", model, tmp_path / "nope.jpg"), 2, "file not found"),  # README: 2 = input
        (("predict", model, blank), 3, "no face found"),
    ]
    for args, code, needle in cases:
        proc = run(*args, check=False)
        assert proc.returncode == code, (args, proc.stderr)
        assert needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(run("predict", model, blank, "--json", check=False).stdout)
    assert doc["photos"][0]["error"] == "no face found" and doc["photos"][0]["faces"] == []


def test_importing_lookalike_loads_no_model_and_no_heavy_library():
    code = ("import sys, lookalike, lookalike.cli, lookalike.models.model, lookalike.face.detector;"
            "heavy = [m for m in ('cv2', 'tensorflow', 'matplotlib', 'dlib', 'sklearn') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
