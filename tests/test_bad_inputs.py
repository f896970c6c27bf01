"""Every kind of bad or odd input (tests/badinputs.py) through every surface: ``lookalike train``,
``lookalike predict``, ``lookalike gallery add`` and the HTTP API.

The promise: a valid photo is answered; a photo without a face says so (exit 3, HTTP 422
``no_face``); anything else gets one line naming the file and the fix (exit 2, a 4xx JSON
error) — never a traceback, a 5xx or a hang.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from lookalike.cli import main
from lookalike.errors import printable
from tests.utils import REPO, write_people
from tests.utils.badinputs import (
    DATASET_KINDS,
    ERROR,
    LONG_PERSON,
    NO_FACE,
    OK,
    PHOTO_KINDS,
    UNICODE_PERSON,
    Case,
    write_dataset_kind,
    write_photo_kinds,
)

pytestmark = pytest.mark.slow  # the bad-input corpus through every surface: ~500 s under load 13

PORTRAIT = (320, 420)  # the size (after orientation) of the photos most ok kinds are made of


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail instead of hanging: raises TimeoutError in this thread after ``seconds``."""
    def expired(*_):
        raise TimeoutError(f"no answer after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(*args, seconds: float = 60) -> tuple[int, str, str]:
    """``lookalike ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), deadline(seconds):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def assert_one_error_line(err: str, case: Case | None, code: str = "error: ") -> str:
    """stderr is exactly one line: 'lookalike: error: <file>: <what> — <fix>'."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"lookalike: {code}"), line
    if case is not None:
        assert printable(case.path) in line, line
    assert " — " in line, f"no fix given: {line}"
    return line


def listed(stdout: str, title: str) -> list[str]:
    """The indented lines under the summary's ``title`` line ("Skipped 3 file(s):")."""
    lines = stdout.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith(title)), len(lines))
    out = []
    for ln in lines[start + 1:]:
        if not ln.startswith("  "):
            break
        out.append(ln.strip())
    return out


# -- the corpus --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[Case]]:
    """DATA/astronaut and DATA/grace_hopper with 4 good photos each, plus one file of every
    photo-level kind in DATA/astronaut (the ok kinds are photos of the astronaut)."""
    root = write_people(tmp_path_factory.mktemp("bad") / "DATA", per_person=4)
    return root, write_photo_kinds(root / "astronaut")


def live(cases: list[Case], expected: str | None = None) -> list[Case]:
    """Cases that could be made here (chmod 000 denies nothing to root), of one outcome."""
    return [c for c in cases if c.skip is None and expected in (None, c.expected)]


def case_of(corpus, name: str) -> Case:
    case = next(c for c in corpus[1] if c.name == name)
    if case.skip:
        pytest.skip(case.skip)
    return case


def test_the_corpus_has_at_least_30_kinds_of_each_promise():
    names = [k.name for k in PHOTO_KINDS] + [k.name for k in DATASET_KINDS]
    assert len(names) == len(set(names))
    assert len(PHOTO_KINDS) >= 30 and len(names) >= 45
    assert {k.expected for k in PHOTO_KINDS} == {OK, NO_FACE, ERROR}


# -- train -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_on_corpus(corpus, tmp_path_factory):
    root, _ = corpus
    out = tmp_path_factory.mktemp("bad_model") / "people.lookalike"
    code, stdout, stderr = run_cli("train", root, "-o", out, "-q", seconds=120)
    return code, stdout, stderr, out


@pytest.mark.slow  # 23 s under load 14
def test_train_uses_every_good_photo_and_lists_each_bad_file_on_one_line(corpus,
                                                                           trained_on_corpus):
    root, cases = corpus
    code, stdout, stderr, out = trained_on_corpus
    assert code == 0, stderr
    assert "Traceback" not in stdout + stderr
    from lookalike.models.model import load

    model = load(out)
    assert model.labels == ["astronaut", "grace_hopper"]
    split = model.manifest["split"]
    used = {p for side in ("train", "validation") for ps in split[side].values() for p in ps}
    skipped_lines = listed(stdout, "Skipped ")
    for case in live(cases):
        rel = printable(case.path.relative_to(root).as_posix())
        lines = [ln for ln in skipped_lines if ln.startswith(f"{rel}: ")]
        if case.expected == OK:
            assert rel in used, f"{case.name}: {rel} was not used for training"
            assert not lines, lines
        else:
            assert len(lines) == 1, f"{case.name}: {rel} not listed once in\n{stdout}"
            assert rel not in used
            if case.expected == NO_FACE:
                assert "no face found" in lines[0]
            else:
                assert " — " in lines[0] or "ignored" in lines[0], lines[0]
    # every good photo of the other person is in the model too
    assert len(split["train"]["grace_hopper"]) + len(split["validation"]["grace_hopper"]) == 4


@pytest.mark.parametrize("kind", DATASET_KINDS, ids=lambda k: k.name)
def test_train_on_each_data_set_kind(kind, tmp_path):
    root = write_dataset_kind(kind, tmp_path / "DATA")
    code, stdout, stderr = run_cli("train", root, "-o", tmp_path / "m.lookalike", "-q")
    assert "Traceback" not in stdout + stderr
    if kind.expected == OK:
        assert code == 0, stderr
        assert kind.says in stdout, stdout
        assert (tmp_path / "m.lookalike").is_file()
    else:
        assert code == 2, (stdout, stderr)
        lines = stderr.strip().splitlines()
        assert lines[-1].startswith("lookalike: error: ") and kind.says in lines[-1], stderr
        assert printable(root) in lines[-1] and " — " in lines[-1]
        assert not (tmp_path / "m.lookalike").exists()


def test_unicode_and_long_person_names_survive_training_and_prediction(tmp_path):
    kind = next(k for k in DATASET_KINDS if k.name == "unicode-and-long-person-names")
    root = write_dataset_kind(kind, tmp_path / "DATA")
    model = tmp_path / "names.lookalike"
    assert run_cli("train", root, "-o", model, "-q")[0] == 0
    photo = next((root / UNICODE_PERSON).glob("*.jpg"))
    code, stdout, _ = run_cli("predict", model, photo, "--json")
    assert code == 0
    ranking = json.loads(stdout)["photos"][0]["faces"][0]["ranking"]
    assert [m["person"] for m in ranking] == [UNICODE_PERSON, LONG_PERSON.strip()]


# -- predict -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_path(trained):
    return trained[2]


def expected_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return (ImageOps.exif_transpose(im) or im).size


@pytest.mark.parametrize("name", [k.name for k in PHOTO_KINDS])
def test_predict_each_kind(name, corpus, model_path):
    case = case_of(corpus, name)
    code, stdout, stderr = run_cli("predict", model_path, case.path, "--json", "--all-faces")
    assert "Traceback" not in stdout + stderr
    doc = json.loads(stdout)["photos"][0]
    if case.expected == OK:
        assert code == 0 and stderr == "", stderr
        assert doc["error"] is None and doc["faces"]
        assert tuple(doc["image_size"]) == expected_size(case.path)
        tops = [f["ranking"][0]["person"] for f in doc["faces"]]
        if name == "twenty-faces":  # a group photo: every face ranked, both people among them
            assert len(doc["faces"]) == 20 and set(tops) == {"astronaut", "grace_hopper"}
        else:
            assert tops[0] == "astronaut" and not doc["faces"][0]["unknown"]
    elif case.expected == NO_FACE:
        assert code == 3 and doc["faces"] == []
        assert_one_error_line(stderr, case, code="")
        assert "no face found" in stderr
    else:
        assert code == 2 and doc["faces"] == [] and doc["error"]
        assert_one_error_line(stderr, case)


def test_absurd_detector_boxes_are_dropped(trained):
    """On flat strips YuNet's retries returned boxes millions of pixels wide (a 4000×20 grey
    strip gave one 88,000,000 px wide); the pipeline keeps only boxes centred in the photo."""
    import numpy as np

    from lookalike.face.detector import Face

    pipe = trained[0].pipeline
    rgb = np.full((20, 4000, 3), 150, np.uint8)
    marks = np.zeros((5, 2), np.float32)
    absurd = [Face((-43988356.0, 849.0, 87980550.0, 150.0), marks, 0.9),
              Face((3674.0, -29.0, 70.0, 90.0), marks, 0.9)]  # centred inside: kept
    kept = pipe.analyze_array(rgb, faces=absurd).faces
    assert [f.extra["raw_box"] for f in kept] == [absurd[1].box]
    assert [f.box for f in kept] == [(3674.0, 0.0, 70.0, 20.0)]  # clipped to the photo


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_the_upright_photo_and_the_same_face_box(orientation,
                                                                              corpus, trained):
    model = trained[0]
    reference = model.predict(case_of(corpus, "exif-orientation-1").path).faces[0].face.box
    result = model.predict(case_of(corpus, f"exif-orientation-{orientation}").path)
    assert result.image_size == PORTRAIT
    box = result.faces[0].face.box
    assert all(abs(a - b) < 8 for a, b in zip(box, reference, strict=True)), (box, reference)


def test_predict_text_output_of_odd_names_stays_on_one_line(corpus, model_path):
    odd = [case_of(corpus, n) for n in ("non-utf8-file-name", "newline-in-file-name",
                                        "unicode-file-name")]
    code, stdout, stderr = run_cli("predict", model_path, *[c.path for c in odd])
    assert code == 2  # one of them is an empty file
    assert stdout.count("latin1_caf\ufffd.jpg") == 1 and "astronaut" in stdout
    # the error is said once, on stderr (it was also printed on stdout: issue 14)
    assert "two\\nlines.jpg" not in stdout
    assert "two\\nlines.jpg: is an empty file" in stderr
    assert_one_error_line(stderr, odd[1])
    code, stdout, _ = run_cli("predict", model_path, odd[0].path, "--json")
    assert code == 0 and json.loads(stdout)["photos"][0]["photo"].endswith("latin1_caf\ufffd.jpg")


def test_card_of_odd_names_is_drawn(corpus, model_path, tmp_path):
    pytest.importorskip("matplotlib")
    photos = [case_of(corpus, n).path for n in ("non-utf8-file-name", "unicode-file-name",
                                                 "zero-bytes")]
    code, _, stderr = run_cli("predict", model_path, *photos, "--card", tmp_path / "card.png")
    assert code == 2 and "Traceback" not in stderr  # the empty file: exit 2, the card is drawn
    assert (tmp_path / "card.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- gallery add -------------------------------------------------------------------------------

def test_gallery_add_enrols_every_good_photo_and_lists_each_bad_file(corpus, trained_on_corpus,
                                                                    tmp_path):
    root, cases = corpus
    gallery = tmp_path / "bad.gallery"
    assert run_cli("gallery", "create", gallery)[0] == 0
    code, stdout, stderr = run_cli("gallery", "add", gallery, root, "--workers", "1", "-q",
                                   seconds=120)
    assert code == 0, stderr
    assert "Traceback" not in stdout + stderr
    n_good = len(live(cases, OK)) + sum(c.skip is not None for c in cases) + 8
    assert f"Enrolled {n_good} photo(s) of 2 people" in stdout, stdout
    lines = listed(stdout, "Skipped ")
    for case in live(cases):
        mine = [ln for ln in lines if ln.startswith(f"{printable(case.path)}: ")]
        if case.expected == OK:
            assert not mine, mine
        else:
            assert len(mine) == 1, f"{case.name} not listed once in\n{stdout}"
            assert ("no face found" in mine[0]) == (case.expected == NO_FACE), mine[0]
    from lookalike.models.gallery import Gallery

    with Gallery.open(gallery) as g:
        assert dict(g.people()) == {"astronaut": n_good - 4, "grace_hopper": 4}


# -- HTTP --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(model_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from lookalike.web.app import create_app

    with TestClient(create_app(model_path)) as c:
        yield c


@pytest.fixture(scope="module")
def gallery_client(people_dir, tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from lookalike.models.gallery import Gallery
    from lookalike.web.app import create_app

    path = tmp_path_factory.mktemp("web_gallery") / "people.gallery"
    with Gallery.create(path) as g:
        g.add_folder(people_dir, workers=1, progress=False)
    with TestClient(create_app(path, token="secret")) as c:
        yield c


UPLOADS = [k.name for k in PHOTO_KINDS if k.upload]
#: The documented status and error code of some kinds (README "Web page and REST API").
HTTP_CODES = {"zero-bytes": (400, "empty"), "random-bytes": (415, "not_an_image"),
              "text-file": (415, "not_an_image"), "heic-named-jpg": (415, "not_an_image"),
              "bomb-png": (413, "too_many_pixels"), "bomb-jpeg": (413, "too_many_pixels"),
              "tiny-8x8": (422, "too_small"), "strip-4000x4": (422, "too_small"),
              "truncated-jpeg": (422, "unreadable_image"), "no-face": (422, "no_face")}


def assert_api_error(r, case: Case) -> dict:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    doc = r.json()
    assert set(doc) == {"error", "detail"} and doc["error"] and doc["detail"]
    assert "\n" not in doc["detail"]
    if case.name != "newline-in-file-name":  # sent percent-encoded by the client
        assert case.path.name in doc["detail"], doc
    return doc


def upload(case: Case) -> dict:
    name = case.path.name
    if name != printable(name):  # not UTF-8: send what a browser would show
        name = printable(name)
    return {"photo": (name, case.path.read_bytes(), "application/octet-stream")}


@pytest.mark.parametrize("name", UPLOADS)
def test_http_predict_each_kind(name, corpus, client):
    case = case_of(corpus, name)
    with deadline(60):
        r = client.post("/api/predict", files=upload(case))
    assert r.status_code < 500, r.text
    if case.expected == OK:
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["faces"] and tuple(doc["image_size"]) == expected_size(case.path)
    else:
        doc = assert_api_error(r, case)
        assert (doc["error"] == "no_face") == (case.expected == NO_FACE), doc
        if name in HTTP_CODES:
            assert (r.status_code, doc["error"]) == HTTP_CODES[name], doc


@pytest.mark.parametrize("name", UPLOADS)
def test_http_gallery_add_each_kind(name, corpus, gallery_client):
    case = case_of(corpus, name)
    with deadline(60):
        r = gallery_client.post("/api/people/Eileen%20Collins%20%E5%AE%87%E8%88%AA/photos",
                                files=upload(case), headers={"Authorization": "Bearer secret"})
    assert r.status_code < 500, r.text
    if case.expected == OK:
        assert r.status_code == 200, r.text
        assert r.json()["result"]["added"] == 1 and r.json()["person"] == "Eileen Collins 宇航"
    else:
        doc = assert_api_error(r, case)
        if case.expected == NO_FACE:
            assert doc["error"] == "not_added" and "no face found" in doc["detail"]


def test_http_gallery_upload_is_not_written_to_the_embedding_cache(gallery_client):
    """README: uploads are processed in memory, 'not even the embedding cache' is written."""
    import sqlite3

    from lookalike.cache import default_cache_dir
    from lookalike.photos.images import content_hash
    from tests.utils import astronaut, encode, variants

    data = encode(variants(astronaut(), 1, seed=4242)[0], quality=83)
    r = gallery_client.post("/api/people/astronaut/photos", files={"photo": ("new.jpg", data)},
                            headers={"Authorization": "Bearer secret"})
    assert r.status_code == 200 and r.json()["result"]["added"] == 1, r.text
    digest = content_hash(data)
    db = default_cache_dir() / "analysis-v1.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as con:
        hits = con.execute("SELECT count(*) FROM cache WHERE key >= ? AND key < ?",
                           (digest + "|", digest + "}")).fetchone()[0]
    assert hits == 0


def test_http_file_name_that_is_not_utf8(corpus, client):
    """A multipart file name in raw Latin-1 bytes (what an old client sends) is answered."""
    data = case_of(corpus, "non-utf8-file-name").path.read_bytes()
    for payload, status in ((data, 200), (b"", 400)):
        body = (b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="caf\xe9.jpg"'
                b"\r\nContent-Type: image/jpeg\r\n\r\n" + payload + b"\r\n--XyZ--\r\n")
        r = client.post("/api/predict", content=body,
                        headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        assert r.status_code == status, r.text
        assert r.json()["faces" if status == 200 else "error"]


# -- real processes ----------------------------------------------------------------------------

LOOKALIKE = REPO / ".venv" / "bin" / "lookalike"


def run_process(*args, timeout: float = 90) -> subprocess.CompletedProcess:
    exe = [str(LOOKALIKE)] if LOOKALIKE.exists() else [sys.executable, "-m", "lookalike.cli"]
    env = dict(os.environ, LOOKALIKE_PROGRESS="0")
    return subprocess.run(exe + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env, errors="replace")


def test_real_process_predict_answers_and_refuses_without_hang_or_traceback(corpus, model_path):
    names = ("named-pipe", "device-file", "symlink-loop", "huge-file", "bomb-png",
             "newline-in-file-name", "non-utf8-file-name", "no-face")
    cases = [case_of(corpus, n) for n in names]
    proc = run_process("predict", model_path, *[c.path for c in cases])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == len(cases) - 1, proc.stderr  # one line per photo without an answer
    for case, line in zip([c for c in cases if c.expected != OK], lines, strict=True):
        assert printable(case.path) in line and " — " in line, line
    assert "latin1_caf\ufffd.jpg" in proc.stdout and "astronaut" in proc.stdout


def test_real_process_train_with_a_pipe_a_device_and_odd_names(corpus, tmp_path):
    root = write_people(tmp_path / "DATA", per_person=3)
    write_photo_kinds(root / "astronaut", [k for k in PHOTO_KINDS if k.name in (
        "named-pipe", "device-file", "non-utf8-file-name", "newline-in-file-name",
        "symlink-loop")])
    proc = run_process("train", root, "-o", tmp_path / "m.lookalike")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in ("named_pipe.jpg: is not a regular file", "dev_zero.jpg: is not a regular",
                   "loop_a.jpg: is a loop of symbolic links", "two\\nlines.jpg: is an empty"):
        assert needle in proc.stdout, proc.stdout
    assert (tmp_path / "m.lookalike").is_file()
