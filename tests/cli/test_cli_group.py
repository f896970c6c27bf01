"""``lookalike group`` on the command line: the summary, --json, --report, name / merge /
split, and one clear error line (exit 2) for each mistake."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from lookalike.cli import main
from tests.utils import astronaut, encode, grace_hopper, group_shot, variants


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def one_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lookalike: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def roll(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-roll")
    for i, v in enumerate(variants(astronaut(), 3, seed=4)):
        (root / f"a{i}.jpg").write_bytes(encode(v))
    for i, v in enumerate(variants(grace_hopper(), 3, seed=4)):
        (root / f"g{i}.jpg").write_bytes(encode(v))
    (root / "both.jpg").write_bytes(encode(group_shot([astronaut(), grace_hopper()],
                                                      [300, 300])))
    return root


@pytest.mark.slow  # 10 s under load 14
def test_group_name_merge_split_on_the_command_line(roll, tmp_path):
    out = tmp_path / "OUT"
    code, stdout, err = run("group", roll, "-o", out, "--report", tmp_path / "rep", "-q")
    assert code == 0, err
    assert "8 faces in 2 groups (0 named) and 0 unsorted" in stdout
    assert "lookalike group name" in stdout
    page = (tmp_path / "rep" / "index.html").read_text()
    assert page.count('class="group"') == 2 and "data:image/jpeg;base64," in page
    code, stdout, _ = run("group", "name", out, 1, "Eileen Collins")
    assert code == 0 and "Group 1 is Eileen Collins" in stdout
    assert (out / "Eileen Collins").is_dir()
    code, stdout, _ = run("group", "split", out, 2)
    assert code == 0 and "new group 3" in stdout
    code, stdout, _ = run("group", "merge", out, 2, 3)
    assert code == 0 and "Merged into group 2 (4 faces" in stdout
    code, stdout, _ = run("group", roll, "-o", out, "--json", "-q")
    doc = json.loads(stdout)
    assert [(g["id"], g["name"], g["size"]) for g in doc["groups"]] == \
        [(1, "Eileen Collins", 4), (2, None, 4)]
    assert doc == json.loads((out / "groups.json").read_text()) | {"out": str(out)}


@pytest.mark.slow  # 11 s under load 13
def test_mistakes_get_one_line(roll, tmp_path):
    out = tmp_path / "OUT"
    assert run("group", roll / "a0.jpg", roll / "a1.jpg", "-o", out, "-q")[0] == 0
    cases = [
        (["group", roll], "-o OUT/"),
        (["group", "name", out, 1, ".."], "not a safe folder name"),
        (["group", "name", out, 1, "a/b"], "not a safe folder name"),
        (["group", "name", out, 1, "bell\x07"], "control characters"),
        (["group", "name", out, "x", "Jane"], "'x' is not a group id"),
        (["group", "name", out, 1], "name takes OUT ID NAME"),
        (["group", "merge", out, 1], "merge takes"),
        (["group", "merge", out, 1, 1], "two different groups"),
        (["group", "split", tmp_path / "nothing", 1], "holds no grouping"),
        (["group", roll / "nope.jpg", "-o", tmp_path / "O2"], "no face found"),
    ]
    for args, text in cases:
        code, _, err = run(*args)
        assert code == 2 and text in one_error(err), (args, err)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    code, _, err = run("group", roll, "-o", mine, "-q")
    assert code == 2 and "not a lookalike grouping" in one_error(err)
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]
