"""The bad-input corpus (tests/utils/badinputs.py) through train, predict, gallery add and
POST /api/predict, printed as Markdown tables (the README's guarantees).

    .venv/bin/python -m bench.studies.web.badinputs_table > table.md

The assertions behind each cell are in tests/test_bad_inputs.py; this only shows the outcomes.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

os.environ.setdefault("LOOKALIKE_PROGRESS", "0")

import tests.utils.badinputs as bi  # noqa: E402
from lookalike.cli import main  # noqa: E402
from lookalike.errors import printable  # noqa: E402
from tests.utils import write_people  # noqa: E402


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def reason(line: str) -> str:
    """'PATH: what — fix' → 'what'."""
    return line.split(": ", 1)[-1].split(" — ")[0]


def lines_of(text: str, path: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip().startswith(f"{path}: ")]


def photo_table(base: Path) -> list[str]:
    from fastapi.testclient import TestClient

    from lookalike.web.app import create_app

    root = write_people(base / "DATA", per_person=4)
    cases = bi.write_photo_kinds(root / "astronaut")
    model, gallery = base / "m.lookalike", base / "g.gallery"
    _, trained, _ = run("train", root, "-o", model, "-q")
    run("gallery", "create", gallery)
    _, added, _ = run("gallery", "add", gallery, root, "--workers", "1", "-q")
    client = TestClient(create_app(model))
    rows = ["| kind | input | expected | train | predict (exit: stderr) | gallery add | "
            "POST /api/predict |", "|---|---|---|---|---|---|---|"]
    for case in cases:
        head = f"| {case.name} | {case.kind.description} | {case.expected} |"
        if case.skip:
            rows.append(f"{head} skipped here: {case.skip} | | | |")
            continue
        listed = lines_of(trained, printable(case.path.relative_to(root).as_posix()))
        train = "used" if not listed or "faces; chose" in listed[0] else \
            f"listed: {reason(listed[0])}"
        code, _, err = run("predict", model, case.path)
        predict = f"{code}" if code == 0 else \
            f"{code}: {reason(err.strip().split(printable(case.path) + ': ', 1)[-1])}"
        listed = lines_of(added, printable(case.path))
        enrol = "enrolled" if not listed or "faces; chose" in listed[0] else "listed"
        if case.kind.upload:
            r = client.post("/api/predict", files={"photo": (
                printable(case.path.name), case.path.read_bytes(), "application/octet-stream")})
            http = f"{r.status_code}" + ("" if r.status_code == 200 else f" {r.json()['error']}")
        else:
            http = "n/a (not a file's bytes)"
        rows.append(f"{head} {train} | {predict} | {enrol} | {http} |")
    return rows


def dataset_table(base: Path) -> list[str]:
    rows = ["| data-set kind | what | expected | `lookalike train` says |", "|---|---|---|---|"]
    for kind in bi.DATASET_KINDS:
        data = bi.write_dataset_kind(kind, base / kind.name / "DATA")
        code, out, err = run("train", data, "-o", data.parent / "m.lookalike", "-q")
        if code == 0:
            msg = next((ln.strip() for ln in out.splitlines() if kind.says and kind.says in ln),
                       "trains")
        else:
            msg = err.strip().splitlines()[-1].split(": ", 3)[-1]
        msg = msg.replace(str(data), "DATA").replace("|", "\\|")[:160]
        rows.append(f"| {kind.name} | {kind.description} | {kind.expected} | exit {code}: {msg} |")
    return rows


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="lookalike-badinputs-") as tmp:
        print("\n".join(photo_table(Path(tmp)) + [""] + dataset_table(Path(tmp) / "ds")))
