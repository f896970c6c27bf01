"""Faults: ``kill -9`` at named moments, full disks, unusable caches, two writers at once.

Real ``lookalike`` processes are killed with SIGKILL at exact points found through the
test-only hook ``LOOKALIKE_TEST_PAUSE_AT`` (lookalike.files.pause_point: the process writes a
marker file and waits there; the test kills it, or deletes the marker to let it go on).
Full-disk tests mount a small tmpfs where the machine allows (root) and skip with the reason
otherwise; a simulated ENOSPC variant runs everywhere.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.utils import CMD, Paused, write_people

pytestmark = pytest.mark.slow  # kills real lookalike processes at named points

PHOTO_A = "astronaut/astronaut_00.jpg"


# -- helpers ---------------------------------------------------------------------------------

def people(root: Path, suffix: str = "", seed: int = 0, per_person: int = 4) -> Path:
    """Two real people; ``suffix`` renames them, so two data sets give different labels."""
    write_people(root, per_person=per_person, seed=seed)
    if suffix:
        for d in list(root.iterdir()):
            d.rename(root / f"{d.name}{suffix}")
    return root


def env_for(cache: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, LOOKALIKE_CACHE_DIR=str(cache), LOOKALIKE_PROGRESS="0")
    env.pop("LOOKALIKE_NO_CACHE", None)
    env.pop("LOOKALIKE_TEST_PAUSE_AT", None)
    env.update(extra)
    return env


def lk(args: list, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(CMD + [str(a) for a in args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def ok(args: list, env: dict) -> subprocess.CompletedProcess:
    r = lk(args, env)
    assert r.returncode == 0, f"{args}: rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr
    return r


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def predict(model: Path, photo: Path) -> dict:
    """The model's answer, as the CLI's --json gives it (loaded in this process)."""
    from lookalike.models.model import load

    return load(model).predict(photo).to_dict(5)


def search(gallery: Path, photo: Path) -> dict:
    from lookalike.models.gallery import Gallery

    g = Gallery.open(str(gallery))
    try:
        return g.search(photo, top=5).to_dict(5)
    finally:
        g.close()


def gallery_people(gallery: Path) -> dict[str, int]:
    from lookalike.models.gallery import Gallery

    g = Gallery.open(str(gallery))
    try:
        return dict(g.people())
    finally:
        g.close()


def top(answer: dict) -> str:
    return answer["faces"][0]["ranking"][0]["person"]


def labels(model: Path) -> list[str]:
    from lookalike.models.model import load

    return load(model).labels


def partials(folder: Path) -> list[str]:
    return sorted(f.name for f in folder.iterdir() if f.name.endswith(".lookalike-partial"))


def one_line_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("lookalike: error:")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faults-data")
    # One embedding cache for the module (warm after the first runs), except where a test
    # needs a cold one.
    return {"one": people(root / "one", seed=0), "two": people(root / "two", "_b", seed=1),
            "three": people(root / "three", seed=2),  # one's people, other photos
            "cache": root / "cache"}


# -- kill -9 ---------------------------------------------------------------------------------

def test_kill_9_mid_embedding_keeps_the_model_and_the_cache(data, tmp_path):
    env = env_for(data["cache"])
    model = tmp_path / "people.lookalike"
    ok(["train", data["one"], "-o", model, "-q"], env)
    before, answer = sha(model), predict(model, data["one"] / PHOTO_A)

    cold = env_for(tmp_path / "cold-cache")  # nothing cached: every photo is embedded
    p = Paused(["train", data["two"], "-o", model, "-q"], cold, "cache-put:3", tmp_path)
    p.kill()  # inside the third cache transaction, not committed

    assert sha(model) == before and predict(model, data["one"] / PHOTO_A) == answer
    assert sorted(f.name for f in tmp_path.iterdir() if "lookalike" in f.name) == [model.name]
    db = sqlite3.connect(tmp_path / "cold-cache" / "analysis-v1.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM cache").fetchone() == (2,)  # the committed two
    db.close()

    r = ok(["train", data["two"], "-o", model, "-q"], cold)  # the re-run completes
    assert "warning" not in r.stderr and "malformed" not in r.stderr
    assert labels(model) == ["astronaut_b", "grace_hopper_b"]


def test_kill_9_during_model_save_keeps_the_previous_model(data, tmp_path):
    env = env_for(data["cache"])
    model = tmp_path / "people.lookalike"
    ok(["train", data["one"], "-o", model, "-q"], env)
    before, answer = sha(model), predict(model, data["one"] / PHOTO_A)

    p = Paused(["train", data["two"], "-o", model, "-q"], env, "model-save", tmp_path)
    (left,) = partials(tmp_path)  # the temporary file, half written
    assert left.startswith(f".{model.name}.{p.proc.pid}.")
    assert (tmp_path / left).stat().st_size > 0
    p.kill()

    assert sha(model) == before and predict(model, data["one"] / PHOTO_A) == answer
    assert labels(model) == ["astronaut", "grace_hopper"]
    # Given by mistake, the leftover is refused in one line, not loaded.
    one_line_error(lk(["predict", tmp_path / left, data["one"] / PHOTO_A], env), "damaged")

    ok(["train", data["two"], "-o", model, "-q"], env)  # re-run: completes, cleans up
    assert labels(model) == ["astronaut_b", "grace_hopper_b"] and partials(tmp_path) == []


def test_sigterm_during_model_save_cleans_up_and_keeps_the_previous_model(data, tmp_path):
    """`kill` (SIGTERM, what a service manager or a shell sends) is handled like Ctrl-C: the
    half-written file is removed at once, not left for the next writer to clean."""
    env = env_for(data["cache"])
    model = tmp_path / "people.lookalike"
    ok(["train", data["one"], "-o", model, "-q"], env)
    before = sha(model)
    p = Paused(["train", data["two"], "-o", model, "-q"], env, "model-save", tmp_path)
    assert len(partials(tmp_path)) == 1
    p.proc.send_signal(signal.SIGTERM)
    out, err = p.proc.communicate(timeout=60)
    assert p.proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "lookalike: terminated; no file was changed"
    assert "Traceback" not in err
    assert sha(model) == before and partials(tmp_path) == []
    assert labels(model) == ["astronaut", "grace_hopper"]


def _gallery(data: dict, tmp: Path, env: dict) -> Path:
    g = tmp / "G"
    ok(["gallery", "create", g], env)
    ok(["gallery", "add", g, data["one"], "--workers", "1", "-q"], env)
    return g


def test_kill_9_mid_enrolment_keeps_the_gallery(data, tmp_path):
    env = env_for(data["cache"])
    g = _gallery(data, tmp_path, env)
    before = search(g, data["two"] / "astronaut_b/astronaut_00.jpg")

    p = Paused(["gallery", "add", g, data["two"], "--workers", "1", "-q"], env,
               "gallery-batch", tmp_path)
    p.kill()  # rows inserted, transaction not committed

    assert gallery_people(g) == {"astronaut": 4, "grace_hopper": 4}
    assert search(g, data["two"] / "astronaut_b/astronaut_00.jpg") == before
    ok(["gallery", "check", g], env)

    ok(["gallery", "add", g, data["two"], "--workers", "1", "-q"], env)  # re-run completes
    assert gallery_people(g) == {"astronaut": 4, "grace_hopper": 4, "astronaut_b": 4,
                                      "grace_hopper_b": 4}
    ok(["gallery", "check", g], env)


def test_kill_9_during_gallery_create_then_the_rerun_completes(data, tmp_path):
    env = env_for(data["cache"])
    g = tmp_path / "G"
    Paused(["gallery", "create", g], env, "gallery-save", tmp_path).kill()  # marker half written
    one_line_error(lk(["gallery", "list", g], env), "not a lookalike gallery")
    ok(["gallery", "create", g], env)
    assert sorted(f.name for f in g.iterdir()) == ["gallery.sqlite", "lookalike-gallery.json"]
    assert gallery_people(g) == {}


def test_kill_9_mid_index_save_leaves_a_consistent_gallery(data, tmp_path):
    env = env_for(data["cache"])
    g = _gallery(data, tmp_path, env)
    index_before = sorted(f.name for f in g.glob("index-*.bin"))

    p = Paused(["gallery", "add", g, data["two"], "--workers", "1", "-q"], env,
               "gallery-save", tmp_path)
    assert len(partials(g)) == 1  # the new index snapshot, half written
    p.kill()

    # The photos were committed before the index; the old snapshot is still the named one and
    # is brought up to date from the database on the next use.
    assert sorted(f.name for f in g.glob("index-*.bin")) == index_before
    ok(["gallery", "check", g], env)
    assert top(search(g, data["two"] / "astronaut_b/astronaut_01.jpg")) == "astronaut_b"

    r = ok(["gallery", "add", g, data["two"], "--workers", "1", "-q"], env)  # re-run
    assert "8 already in the gallery" in r.stdout
    assert partials(g) == [] and len(gallery_people(g)) == 4
    ok(["gallery", "check", g], env)


def test_damaged_model_files_are_refused_in_one_line(trained, tmp_path):
    """Bit rot, truncation and zeroed blocks anywhere in a model file, and in its compressed
    manifest in particular (zlib errors used to escape as tracebacks): loading and answering
    either work or raise the one-line ModelError."""
    import random
    import zipfile

    from lookalike.errors import ModelError
    from lookalike.models.model import load

    model, _, src = trained
    good = src.read_bytes()
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo("manifest.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    E = model.train_embeddings[:2]  # answering without the face pipeline (slow to load)
    rng = random.Random(0)
    refused = 0
    for i in range(240):
        b = bytearray(good)
        if i < 40:  # inside the deflated manifest
            for _ in range(1 + i % 4):
                b[start + rng.randrange(info.compress_size)] ^= 1 << rng.randrange(8)
        elif i % 3 == 0:
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif i % 3 == 1:
            b = b[:rng.randrange(len(b))]
        else:
            at = rng.randrange(len(b))
            b[at:at + 64] = bytes(64)
        path = tmp_path / "damaged.lookalike"
        path.write_bytes(bytes(b))
        try:
            m = load(path)
            m.rank_embeddings(E)
            m.thumbnail(0)
        except ModelError as err:
            assert "\n" not in str(err) and str(path) in str(err)
            refused += 1
    assert refused >= 40


# -- full disk -------------------------------------------------------------------------------

@contextlib.contextmanager
def mounted(where: Path, *options: str):
    """Mount a tmpfs (or bind) at ``where``; skip the test where the machine does not allow."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small file system needs root (this run is not root)")
    r = subprocess.run(["mount", *options, str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount here ({r.stderr.strip() or r.returncode})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path, leave: int = 4096) -> None:
    """Fill the file system holding ``folder`` up to ``leave`` bytes."""
    free = shutil.disk_usage(folder).free - leave
    with open(folder / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * max(0, free))


def test_full_disk_clear_error_and_nothing_half_written(data, tmp_path):
    env = env_for(data["cache"])
    with mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=2m", "tmpfs") as disk:
        model = disk / "people.lookalike"
        ok(["train", data["one"], "-o", model, "-q"], env)
        g = disk / "G"
        ok(["gallery", "create", g], env)
        ok(["gallery", "add", g, data["one"], "--workers", "1", "-q"], env)
        answer = predict(model, data["one"] / PHOTO_A)
        found = search(g, data["one"] / PHOTO_A)
        before = sha(model)
        fill(disk)

        r = lk(["train", data["two"], "-o", model, "-q"], env)
        one_line_error(r, str(model), "no space left on device", "choose another -o")
        assert sha(model) == before and partials(disk) == []
        assert predict(model, data["one"] / PHOTO_A) == answer  # reading needs no space

        r = lk(["gallery", "add", g, data["two"], "--workers", "1", "-q"], env)
        one_line_error(r, str(g), "no space left on device")
        assert "damaged" not in r.stderr and partials(g) == []

        r = lk(["train", data["two"], "-o", tmp_path / "m2.lookalike", "-q", "--report",
                disk / "report"], env)
        one_line_error(r, "no space left on device")
        assert not [f for f in disk.rglob("*") if f.name.endswith(".lookalike-partial")]

        r = lk(["gallery", "create", disk / "G2"], env)
        one_line_error(r, "no space left on device")
        assert not (disk / "G2").exists()

        (disk / "filler").unlink()  # space again: all as before, and the re-runs complete
        assert gallery_people(g) == {"astronaut": 4, "grace_hopper": 4}
        assert search(g, data["one"] / PHOTO_A) == found
        ok(["gallery", "check", g], env)
        ok(["train", data["two"], "-o", model, "-q"], env)
        ok(["gallery", "add", g, data["two"], "--workers", "1", "-q"], env)
        assert labels(model) == ["astronaut_b", "grace_hopper_b"]
        assert len(gallery_people(g)) == 4


def test_simulated_enospc_gives_one_line_and_keeps_the_old_file(trained, people_dir, tmp_path,
                                                                 monkeypatch, capsys):
    """Runs without mount rights: the disk "fills" while a model, a report and a gallery
    marker are written."""
    import lookalike.files as files
    from lookalike.cli import main
    from lookalike.errors import LookalikeError

    _, _, src = trained
    model = tmp_path / "people.lookalike"
    shutil.copy(src, model)
    before = sha(model)

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(files.os, "fsync", full)
        assert main(["train", str(people_dir), "-o", str(model), "-q"]) == 2
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("lookalike")]
        assert len(err) == 1 and err[0].startswith("lookalike: error: ") and \
            "no space left on device" in err[0] and "choose another -o" in err[0], err
        assert sha(model) == before and partials(tmp_path) == []

        from lookalike.models.gallery import Gallery
        with pytest.raises(LookalikeError, match="no space left on device"):
            Gallery.create(str(tmp_path / "G"))
        assert not (tmp_path / "G").exists()

    # Half a file then a full disk, through the writer every model, report and picture uses.
    target = tmp_path / "report.html"
    target.write_text("old")

    def half(fh):
        fh.write(b"<html>" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(LookalikeError, match="no space left on device writing it") as e:
        files.atomic_write(target, half, example="index.html")
    assert str(e.value).count("\n") == 0 and str(target) in str(e.value)
    assert target.read_text() == "old" and partials(tmp_path) == []

    # A name the file system cannot hold: one line too, not a traceback.
    with pytest.raises(LookalikeError, match="file name is too long"):
        files.atomic_write(tmp_path / ("x" * 300 + ".lookalike"), lambda fh: fh.write(b"x"))
    assert partials(tmp_path) == []


def test_dead_writers_leftovers_are_cleaned_but_live_ones_kept(tmp_path):
    import lookalike.files as files

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".people.lookalike.{dead}.abcd1234.lookalike-partial"
    stale.write_bytes(b"PK\x03\x04 half")
    live = tmp_path / f".people.lookalike.{os.getppid()}.efgh5678.lookalike-partial"
    live.write_bytes(b"PK\x03\x04 other writer")
    files.atomic_write(tmp_path / "people.lookalike", lambda fh: fh.write(b"new"))
    assert not stale.exists() and live.exists()
    assert (tmp_path / "people.lookalike").read_bytes() == b"new"


# -- unusable cache --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["unwritable path", "damaged db", "read-only dir"])
def test_unusable_cache_means_one_warning_and_no_caching(kind, data, tmp_path):
    cache = {"unwritable path": tmp_path / "a-file" / "cache", "damaged db": tmp_path / "bad",
             "read-only dir": tmp_path / "ro"}[kind]
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "analysis-v1.sqlite").write_bytes(os.urandom(8192))
    with contextlib.ExitStack() as stack:
        if kind == "read-only dir":  # a warm cache, made read-only
            shutil.copytree(data["cache"], cache)
            if os.geteuid() == 0:
                stack.enter_context(mounted(cache, "--bind", "-o", "ro", str(cache)))
            else:
                cache.chmod(0o555)
                stack.callback(cache.chmod, 0o755)
        env = env_for(cache)
        model = tmp_path / "people.lookalike"
        runs = [lk(["train", data["one"], "-o", model, "-q"], env)]
        runs.append(lk(["predict", model, data["one"] / PHOTO_A], env))
        if kind == "read-only dir":  # enrolment's worker processes share the one warning
            g = tmp_path / "G"
            ok(["gallery", "create", g], env)
            runs.append(lk(["gallery", "add", g, data["two"], "--workers", "2", "-q"], env))
        for r in runs:
            assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
            warns = [ln for ln in r.stderr.splitlines() if "warning" in ln.lower()]
            assert len(warns) == 1 and warns[0].startswith("lookalike: warning: embedding "
                                                           "cache off: "), r.stderr
            assert {"unwritable path": "not writable", "damaged db": "is damaged",
                    "read-only dir": "not writable"}[kind] in warns[0]
        assert runs[1].stdout.splitlines()[1].split()[0] == "astronaut"
        if kind == "read-only dir":
            assert gallery_people(g) == {"astronaut_b": 4, "grace_hopper_b": 4}


# -- two writers at once ---------------------------------------------------------------------

def test_two_trains_into_one_path_end_with_one_whole_model(data, tmp_path):
    env = env_for(data["cache"])
    model = tmp_path / "people.lookalike"
    runs = {"one": ["astronaut", "grace_hopper"], "two": ["astronaut_b", "grace_hopper_b"]}
    # Free-running: both at once.
    procs = [subprocess.Popen(CMD + ["train", str(data[k]), "-o", str(model), "-q"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in runs]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0 and "Traceback" not in err, err
    assert labels(model) in runs.values() and partials(tmp_path) == []

    # Interleaved on purpose: "one" stops half-way through writing; "two" trains and saves in
    # full meanwhile; then "one" finishes. The last rename wins, whole.
    p = Paused(["train", data["one"], "-o", model, "-q"], env, "model-save", tmp_path)
    ok(["train", data["two"], "-o", model, "-q"], env)
    assert labels(model) == runs["two"] and len(partials(tmp_path)) == 1  # one's, still live
    r = p.resume()
    assert r.returncode == 0, r.stderr
    assert labels(model) == runs["one"] and partials(tmp_path) == []
    predict(model, data["one"] / PHOTO_A)


def test_two_enrolments_into_one_gallery_both_complete(data, tmp_path):
    """Both complete: the second waits for the first's transaction (SQLite's lock, up to a
    minute), then commits; people enrolled by both at once are one person each."""
    env = env_for(data["cache"])
    g = tmp_path / "G"
    ok(["gallery", "create", g], env)
    # "one" holds the write lock mid-transaction, having just added astronaut and
    # grace_hopper; "three" enrols other photos of the same two people meanwhile.
    p = Paused(["gallery", "add", g, data["one"], "--workers", "1", "-q"], env,
               "gallery-batch", tmp_path)
    three = Paused(["gallery", "add", g, data["three"], "--workers", "1", "-q"], env,
                   "gallery-batch-start", tmp_path)
    three.marker.unlink()  # let it look up the people and ask for the lock
    time.sleep(2)
    assert three.proc.poll() is None  # waiting for the lock, not failed
    r1, r3 = p.resume(), three.resume()
    for rc, e in ((r1.returncode, r1.stderr), (r3.returncode, r3.stderr)):
        assert rc == 0 and "locked" not in e and "Traceback" not in e, e
    assert gallery_people(g) == {"astronaut": 8, "grace_hopper": 8}
    ok(["gallery", "check", g], env)

    # Free-running, into a second gallery.
    g2 = tmp_path / "G2"
    ok(["gallery", "create", g2], env)
    procs = [subprocess.Popen(CMD + ["gallery", "add", str(g2), str(data[k]), "--workers", "1",
                                     "-q"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in ("one", "two")]
    for q in procs:
        out, err = q.communicate(timeout=180)
        assert q.returncode == 0 and "locked" not in err and "Traceback" not in err, err
    assert gallery_people(g2) == {"astronaut": 4, "grace_hopper": 4, "astronaut_b": 4,
                                  "grace_hopper_b": 4}
    ok(["gallery", "check", g2], env)
    assert top(search(g2, data["two"] / "astronaut_b/astronaut_01.jpg")) == "astronaut_b"
