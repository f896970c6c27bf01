"""A small on-disk cache of per-photo analysis (faces + embeddings), keyed by file content,
detector and embedder versions. Lives in the user's cache directory; a cache that cannot be
written degrades to no caching with one warning."""

from __future__ import annotations

import io
import os
import sqlite3
import threading
import warnings
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    env = os.environ.get("LOOKALIKE_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("lookalike"))


def cache_disabled() -> bool:
    return os.environ.get("LOOKALIKE_NO_CACHE", "").strip() not in ("", "0", "false", "no")


class ArrayCache:
    """Key → dict of numpy arrays, stored in one SQLite file (safe for several processes)."""

    def __init__(self, folder: Path | None = None, enabled: bool | None = None):
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.enabled = (not cache_disabled()) if enabled is None else enabled
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _disable(self, why: str) -> None:
        if self.enabled:
            warnings.warn(f"embedding cache off: {self.folder} {why} — set LOOKALIKE_CACHE_DIR to "
                          "a writable folder to speed up retraining", stacklevel=3)
        self.enabled = False

    def _conn(self) -> sqlite3.Connection | None:
        if not self.enabled:
            return None
        if self._db is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.folder / "analysis-v1.sqlite", timeout=30,
                                     check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB)")
                db.commit()
                self._db = db
            except (OSError, sqlite3.Error) as err:
                self._disable(f"is not writable ({err})")
                return None
        return self._db

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        with self._lock:
            db = self._conn()
            if db is None:
                return None
            try:
                row = db.execute("SELECT value FROM cache WHERE key=?", (key,)).fetchone()
            except sqlite3.Error:
                return None
        if row is None:
            return None
        try:
            with np.load(io.BytesIO(row[0]), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # a damaged entry is a miss, never an error
            return None

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        with self._lock:
            db = self._conn()
            if db is None:
                return
            try:
                db.execute("INSERT OR REPLACE INTO cache VALUES (?, ?)", (key, buf.getvalue()))
                db.commit()
            except sqlite3.Error as err:
                self._disable(f"cannot be written ({err})")
