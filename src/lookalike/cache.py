"""A small on-disk cache of per-photo analysis (faces + embeddings), keyed by file content,
detector and embedder versions. Lives in the user's cache directory; a cache that cannot be
written degrades to no caching with one warning."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import threading
import warnings
from pathlib import Path

import numpy as np

from lookalike.files import disk_full, pause_point


def default_cache_dir() -> Path:
    env = os.environ.get("LOOKALIKE_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("lookalike"))


def cache_disabled() -> bool:
    return os.environ.get("LOOKALIKE_NO_CACHE", "").strip() not in ("", "0", "false", "no")


DB_NAME = "analysis-v1.sqlite"

_warned: set[str] = set()  # one warning per cache folder and process


def _damaged(err: sqlite3.Error) -> bool:
    text = str(err).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


class ArrayCache:
    """Key → dict of numpy arrays, stored in one SQLite file (safe for several processes).

    Never an error: a cache folder that cannot be created or written, a damaged database or a
    full disk turns caching off for this process with one warning line saying why."""

    def __init__(self, folder: Path | None = None, enabled: bool | None = None):
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.enabled = (not cache_disabled()) if enabled is None else enabled
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def db_path(self) -> Path:
        return self.folder / DB_NAME

    def _disable(self, err: BaseException) -> None:
        if not self.enabled:
            return
        self.enabled = False
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if isinstance(err, sqlite3.Error) and _damaged(err):
            why = (f"{self.db_path} is damaged ({err}) — delete that file to start a fresh "
                   "cache")
        elif disk_full(err, self.folder):
            why = f"no space left on device writing {self.db_path} — free some space"
        else:
            why = (f"{self.folder} is not writable ({err}) — set LOOKALIKE_CACHE_DIR to a "
                   "writable folder to speed up retraining")
        if str(self.folder) not in _warned:
            _warned.add(str(self.folder))
            warnings.warn(f"embedding cache off: {why} (or LOOKALIKE_NO_CACHE=1 to silence "
                          "this)", stacklevel=4)

    def available(self) -> bool:
        """Open the cache now (warning once if it cannot be used); whether it is in use."""
        with self._lock:
            return self._conn() is not None

    def _conn(self) -> sqlite3.Connection | None:
        if not self.enabled:
            return None
        if self._db is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
                self._db = db
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB)")
                db.commit()
            except (OSError, sqlite3.Error) as err:
                self._disable(err)
                return None
        return self._db

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        with self._lock:
            db = self._conn()
            if db is None:
                return None
            try:
                row = db.execute("SELECT value FROM cache WHERE key=?", (key,)).fetchone()
            except sqlite3.Error as err:
                if _damaged(err):
                    self._disable(err)
                return None  # busy: a miss
        if row is None:
            return None
        try:
            with np.load(io.BytesIO(row[0]), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # a damaged entry is a miss, never an error
            return None

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        self.put_many([(key, arrays)])

    def put_many(self, items: list[tuple[str, dict[str, np.ndarray]]]) -> None:
        """Several entries in one transaction: one disk sync rather than one each (a client
        storing what a cluster's workers send, ~270 separate puts/s here)."""
        if not items:
            return
        blobs = []
        for key, arrays in items:
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            blobs.append((key, buf.getvalue()))
        with self._lock:
            db = self._conn()
            if db is None:
                return
            try:
                db.executemany("INSERT OR REPLACE INTO cache VALUES (?, ?)", blobs)
                pause_point("cache-put")  # test-only (files.pause_point): killed mid-write
                db.commit()
            except sqlite3.Error as err:
                with contextlib.suppress(sqlite3.Error):
                    db.rollback()
                if "locked" in str(err).lower() or "busy" in str(err).lower():
                    return  # another process held it past the timeout: not cached this time
                self._disable(err)


def purge_photos(digests: list[str], folder: Path | None = None) -> None:
    """Delete the cache's entries for these photos (keys start with the photo's digest), and
    overwrite the freed pages: a gallery's removed person leaves no trace here. A cache that
    cannot be changed is one warning."""
    db_path = (folder or default_cache_dir()) / DB_NAME
    if not digests or not db_path.exists():
        return
    try:
        db = sqlite3.connect(db_path, timeout=30)
        try:
            db.execute("PRAGMA secure_delete=ON")
            with db:
                for d in digests:
                    db.execute("DELETE FROM cache WHERE key >= ? AND key < ?", (d + "|", d + "}"))
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
    except sqlite3.Error as err:
        warnings.warn(f"could not purge the embedding cache {db_path} ({err})", stacklevel=2)
