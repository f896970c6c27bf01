"""Real photos: predict a folder, names shown one way, the face the answer is about."""

from __future__ import annotations

import json
import subprocess

import numpy as np
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
    from lookalike.names import display_name
    from lookalike.plots import display_name as cards_name
    from lookalike.ranking import Match

    assert display_name("Andre_Agassi") == "Andre Agassi" == cards_name("Andre_Agassi")
    assert display_name("George_W__Bush ") == "George W Bush"
    assert display_name("___") == "___" and display_name("王菲") == "王菲"
    d = Match("Andre_Agassi", 0.5, 0.4).to_dict()
    assert d["person"] == "Andre_Agassi" and d["name"] == "Andre Agassi"


def test_cli_table_shows_display_names(tmp_path):
    from lookalike.cli import ranking_table
    from lookalike.ranking import Match

    rows = ranking_table([Match("Andre_Agassi", 0.7, 0.5), Match("Li_Na", 0.3, 0.2)])
    assert "Andre Agassi" in rows[0] and "_" not in "".join(rows)
