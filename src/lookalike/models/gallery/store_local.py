"""The embedded gallery: one directory holding a SQLite database and a vector index file.

Layout of ``GALLERY/``:

* ``lookalike-gallery.json`` — the marker: format, version, embedder (written atomically);
* ``gallery.sqlite`` — people, photos (content hash, source, chosen face, the embedding and
  its CRC-32, a JPEG thumbnail), photos skipped for having no face, and ``meta``;
* ``index-<generation>.bin`` — a snapshot of the vectors for search: the plain matrix (exact
  search, numpy) below :data:`EXACT_MAX` photos, a FAISS IVF index above. Written to a
  temporary file and renamed; its BLAKE2 checksum, photo count and highest photo id are
  recorded in ``meta`` in the same transaction that makes it current.

SQLite transactions make every batch of enrolment atomic (a crash keeps whole batches).
Deleted rows are overwritten (``secure_delete``), the file is vacuumed and the write-ahead
log truncated on removal, so a removed person's bytes do not linger in free pages.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from lookalike.files import pause_point
from lookalike.models.gallery.common import (
    FORMAT,
    FORMAT_VERSION,
    MARKER,
    GalleryError,
    PhotoRow,
    damaged,
    db_error,
    write_atomic,
)
from lookalike.models.gallery.store_index import IndexFiles

DB_NAME = "gallery.sqlite"


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, added TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id),
    digest TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    face INTEGER NOT NULL,
    n_faces INTEGER NOT NULL,
    ambiguous INTEGER NOT NULL DEFAULT 0,
    vector BLOB NOT NULL,
    crc INTEGER NOT NULL,
    thumb BLOB,
    added TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS photos_person ON photos(person_id);
CREATE TABLE IF NOT EXISTS skipped (
    digest TEXT PRIMARY KEY, person_id INTEGER NOT NULL, source TEXT NOT NULL,
    why TEXT NOT NULL);
"""


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class LocalStore(IndexFiles):
    """Storage of one embedded gallery directory (see the module doc)."""

    def __init__(self, path: Path, db: sqlite3.Connection, manifest: dict):
        self.path = path
        self.db = db
        self.manifest = manifest
        self._index = None  # (generation, kind, object, info)
        self._count: tuple[int, int] | None = None

    # -- opening -------------------------------------------------------------------------
    @staticmethod
    def is_gallery(path: str | Path) -> bool:
        return (Path(path) / MARKER).is_file()

    @classmethod
    def create_at(cls, spec: str, manifest: dict) -> LocalStore:
        """The :class:`~lookalike.models.gallery.store.Store` constructor: :meth:`create`."""
        return cls.create(Path(spec), manifest)

    @classmethod
    def open_at(cls, spec: str) -> LocalStore:
        """The :class:`~lookalike.models.gallery.store.Store` opener: :meth:`open`."""
        return cls.open(Path(spec))

    @classmethod
    def create(cls, path: Path, manifest: dict) -> LocalStore:
        if path.is_dir() and not cls.is_gallery(path) and all(
                f.name.startswith(DB_NAME) or f.name.endswith(".lookalike-partial")
                for f in path.iterdir()):
            # What a create killed before its marker was written leaves: start again.
            for f in list(path.iterdir()):
                with contextlib.suppress(OSError):
                    f.unlink()
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            if cls.is_gallery(path):
                raise GalleryError("a gallery already exists here", path,
                                   "add photos with `lookalike gallery add`")
            raise GalleryError("exists and is not an empty folder", path,
                               "choose a new folder name for the gallery")
        new = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        db = None
        try:
            db = cls._connect(path)
            with db:
                db.executescript(SCHEMA)
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [("data_gen", "0"), ("manifest", json.dumps(manifest))])
            # The marker last: a folder without it is not (yet) a gallery.
            write_atomic(path / MARKER, json.dumps(manifest, indent=1).encode())
        except (GalleryError, sqlite3.DatabaseError) as err:
            # Full disk or the like: leave the folder as it was (empty, or absent).
            if db is not None:
                db.close()
            for f in path.glob(f"{DB_NAME}*"):
                with contextlib.suppress(OSError):
                    f.unlink()
            if new:
                with contextlib.suppress(OSError):
                    path.rmdir()
            if isinstance(err, sqlite3.DatabaseError):
                raise db_error(path, err) from None
            raise
        return cls(path, db, manifest)

    @classmethod
    def open(cls, path: Path) -> LocalStore:
        if not path.exists():
            raise GalleryError("gallery not found", path,
                               f"create it with `lookalike gallery create {path}`")
        if not cls.is_gallery(path):
            raise GalleryError("is not a lookalike gallery (no lookalike-gallery.json)", path,
                               f"create one with `lookalike gallery create {path}`")
        try:
            manifest = json.loads((path / MARKER).read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            raise damaged(path, f"{MARKER} unreadable") from None
        if manifest.get("format") != FORMAT:
            raise damaged(path, f"{MARKER} is not a gallery marker")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise GalleryError(f"gallery format {manifest.get('format_version')} is not "
                               f"{FORMAT_VERSION}", path, "upgrade lookalike")
        if not (path / DB_NAME).is_file():
            raise damaged(path, f"{DB_NAME} missing")
        db = cls._connect(path)
        try:
            row = db.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
        except sqlite3.DatabaseError as err:
            db.close()
            raise db_error(path, err) from None
        if row is None or json.loads(row[0]).get("embedder") != manifest.get("embedder"):
            db.close()
            raise damaged(path, "database and marker disagree")
        return cls(path, db, manifest)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(path / DB_NAME, timeout=60, isolation_level=None)
            # Write transactions take the write lock at BEGIN: two processes enrolling at
            # once wait for each other (up to the timeout) instead of failing with "database
            # is locked" when a read inside a transaction would have to upgrade.
            db.isolation_level = "IMMEDIATE"
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA secure_delete=ON")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as err:
            db.close()
            raise db_error(path, err) from None
        return db

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            with self.db:
                yield self.db
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.IntegrityError):
                raise
            raise db_error(self.path, err) from None

    def _q(self, sql: str, args: Iterable = ()) -> list[tuple]:
        try:
            return self.db.execute(sql, tuple(args)).fetchall()
        except sqlite3.DatabaseError as err:
            raise db_error(self.path, err) from None

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._q("SELECT value FROM meta WHERE key=?", (key,))
        return row[0][0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- reading ---------------------------------------------------------------------------
    def generation(self) -> int:
        return int(self.meta("data_gen", "0") or 0)

    def refresh_index(self) -> None:
        self.index()

    def multi_photo_vectors(self, max_rows: int, seed: int = 0
                            ) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """A sample of photos of people with ≥ 2 photos: (ids, vectors, person names)."""
        ids = np.array([r[0] for r in self._q(
            "SELECT id FROM photos WHERE person_id IN (SELECT person_id FROM photos "
            "GROUP BY person_id HAVING COUNT(*) >= 2) ORDER BY id")], np.int64)
        if not len(ids):
            return None
        if len(ids) > max_rows:
            ids = np.sort(np.random.default_rng(seed).choice(ids, max_rows, replace=False))
        rows = []
        for s in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[s:s + 500]]
            rows += self._q("SELECT f.id, f.vector, p.name FROM photos f JOIN people p ON "
                            f"p.id=f.person_id WHERE f.id IN ({','.join('?' * len(chunk))}) "
                            "ORDER BY f.id", chunk)
        return (np.array([r[0] for r in rows], np.int64),
                np.stack([np.frombuffer(r[1], np.float32) for r in rows]),
                [r[2] for r in rows])

    def people(self) -> list[tuple[str, int]]:
        return [(r[0], int(r[1])) for r in self._q(
            "SELECT p.name, COUNT(f.id) FROM people p LEFT JOIN photos f ON f.person_id = p.id "
            "GROUP BY p.id ORDER BY p.name")]

    def count(self) -> int:
        """Photos in the gallery (cached per data generation: COUNT(*) scans the table)."""
        gen = self.generation()
        if self._count is None or self._count[0] != gen:
            self._count = (gen, int(self._q("SELECT COUNT(*) FROM photos")[0][0]))
        return self._count[1]

    def known_digests(self) -> dict[str, str]:
        """Content hash → person of every photo enrolled or skipped (for resuming)."""
        rows = self._q("SELECT f.digest, p.name FROM photos f JOIN people p ON p.id=f.person_id "
                       "UNION ALL SELECT s.digest, p.name FROM skipped s "
                       "JOIN people p ON p.id=s.person_id")
        return {d: n for d, n in rows}

    def person_vectors(self, person: str) -> np.ndarray:
        rows = self._q("SELECT f.vector FROM photos f JOIN people p ON p.id=f.person_id "
                       "WHERE p.name=? ORDER BY f.id", (person,))
        dim = int(self.manifest["dim"])
        return np.stack([np.frombuffer(r[0], np.float32) for r in rows]) if rows else \
            np.zeros((0, dim), np.float32)

    def photo_info(self, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """photo id → (person, source)."""
        ids = [int(i) for i in ids]
        out: dict[int, tuple[str, str]] = {}
        for s in range(0, len(ids), 500):
            chunk = ids[s:s + 500]
            rows = self._q("SELECT f.id, p.name, f.source FROM photos f JOIN people p ON "
                           f"p.id=f.person_id WHERE f.id IN ({','.join('?' * len(chunk))})",
                           chunk)
            out.update({int(r[0]): (r[1], r[2]) for r in rows})
        return out

    def thumbnail(self, photo_id: int) -> bytes | None:
        rows = self._q("SELECT thumb FROM photos WHERE id=?", (int(photo_id),))
        return rows[0][0] if rows else None

    # -- writing ---------------------------------------------------------------------------
    def _person_id(self, db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()
        if row:
            return int(row[0])
        return int(db.execute("INSERT INTO people (name, added) VALUES (?, ?)",
                              (name, _now())).lastrowid)

    def add_batch(self, rows: list[PhotoRow], skipped: list[tuple[str, str, str, str]]) -> int:
        """Commit photos (and photos skipped for having no face: person, digest, source, why)
        in one transaction. Returns the number of photos added."""
        if not rows and not skipped:
            return 0
        now = _now()
        pause_point("gallery-batch-start")  # test-only (files.pause_point)
        with self._tx() as db:
            # The write lock first: a person looked up and then inserted by another process
            # enrolling at the same time would break the unique name otherwise.
            db.execute("BEGIN IMMEDIATE")
            for r in rows:
                v = np.ascontiguousarray(r.vector, np.float32).tobytes()
                db.execute(
                    "INSERT OR IGNORE INTO photos (person_id, digest, source, face, n_faces, "
                    "ambiguous, vector, crc, thumb, added) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (self._person_id(db, r.person), r.digest, r.source, r.face, r.n_faces,
                     int(r.ambiguous), v, zlib.crc32(v), r.thumb, now))
            for person, digest, source, why in skipped:
                db.execute("INSERT OR IGNORE INTO skipped VALUES (?,?,?,?)",
                           (digest, self._person_id(db, person), source, why))
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='data_gen'")
            pause_point("gallery-batch")  # test-only (files.pause_point): killed mid-commit
        return len(rows)

    def remove_person(self, name: str) -> list[str] | None:
        """Delete the person, their photos, thumbnails, skipped-photo records and index
        entries; compact the database so no freed page keeps their bytes. Returns the removed
        photos' content hashes (None when the person is not in the gallery)."""
        row = self._q("SELECT id FROM people WHERE name=?", (name,))
        if not row:
            return None
        pid = int(row[0][0])
        ids = [int(r[0]) for r in self._q("SELECT id FROM photos WHERE person_id=?", (pid,))]
        digests = [r[0] for r in self._q(
            "SELECT digest FROM photos WHERE person_id=? UNION ALL "
            "SELECT digest FROM skipped WHERE person_id=?", (pid, pid))]
        # The index first: a crash after this leaves an index missing those photos (rebuilt
        # from the database on next use), never a database without them and an index with.
        self._index_remove(np.array(ids, np.int64))
        with self._tx() as db:
            db.execute("DELETE FROM photos WHERE person_id=?", (pid,))
            db.execute("DELETE FROM skipped WHERE person_id=?", (pid,))
            db.execute("DELETE FROM people WHERE id=?", (pid,))
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='data_gen'")
        self.compact()
        return digests

    def compact(self) -> None:
        try:
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as err:
            raise db_error(self.path, err) from None

    def check(self, repair: bool = False) -> list[str]:
        """Problems found (empty when healthy). ``repair`` rebuilds the index from the
        database when the database itself is sound."""
        problems: list[str] = []
        try:
            res = [r[0] for r in self.db.execute("PRAGMA integrity_check").fetchall()]
            if res != ["ok"]:
                problems += [f"database: {r}" for r in res[:10]]
        except sqlite3.DatabaseError as err:
            return [f"database: {err}"]
        try:
            self._all_vectors(verify=True)
        except GalleryError as err:
            problems.append(str(err).split(" — ")[0])
        db_ok = not problems
        try:
            loaded = self._load_index()
            if loaded is not None:
                _, _, info = loaded
                gen = int(self.meta("data_gen", "0") or 0)
                if info["gen"] == gen and info["count"] != self.count():
                    problems.append(f"index holds {info['count']} photos, database "
                                    f"{self.count()}")
        except GalleryError as err:
            problems.append(str(err).split(" — ")[0])
        if repair and db_ok:
            self.index(rebuild=True)
        return problems
