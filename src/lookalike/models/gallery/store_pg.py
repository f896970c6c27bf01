"""A gallery in PostgreSQL with pgvector, shared by many web workers.

``postgresql://user@host/db#name`` names gallery ``name`` (default ``gallery``) in database
``db``: its tables live in schema ``lkg_<name>`` — ``meta``, ``people``, ``photos`` (with a
``vector(dim)`` column and an HNSW index over inner product, which pgvector keeps up to date
on every insert and delete) and ``skipped``. Every enrolment batch is one transaction.
``remove`` deletes the rows and runs ``VACUUM FULL`` so the tables and the HNSW index are
rewritten without them (the server's write-ahead log and backups are the database
operator's: they keep old pages until they are recycled).

psycopg is imported only here.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from lookalike.errors import require
from lookalike.files import pause_point
from lookalike.models.gallery.store_local import FORMAT, GalleryError, PhotoRow

#: pgvector HNSW search breadth (``hnsw.ef_search``): recall@10 ≥ 0.95 in BENCHMARKS.md.
DEFAULT_EF_SEARCH = 100


def _psycopg():
    return require("psycopg", extra="gallery", error=GalleryError,
                   purpose="a PostgreSQL gallery needs psycopg")


def split_spec(spec: str) -> tuple[str, str]:
    uri, _, name = spec.partition("#")
    name = name or "gallery"
    if not re.fullmatch(r"[a-z0-9_]{1,40}", name):
        raise GalleryError(f"gallery name {name!r} is not usable in PostgreSQL", spec,
                           "use lower-case letters, digits and _ (at most 40)")
    return uri, name


def vec_literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(v, np.float32).ravel()) + "]"


def start_local_server(pgdata: Path):
    """Start (or reuse) a private PostgreSQL with pgvector from the ``pgserver`` wheel.
    Returns (server, uri); ``server.cleanup()`` stops it."""
    import pgserver

    srv = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    srv.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    return srv, srv.get_uri()


class PgStore:
    def __init__(self, conn, uri: str, name: str, manifest: dict | None = None):
        self.conn = conn
        self.uri = uri
        self.name = name
        self.schema = f"lkg_{name}"
        self.manifest = manifest or {}
        self.ef_search = DEFAULT_EF_SEARCH
        self._ef_set: int | None = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def _connect(cls, uri: str, spec: str):
        psycopg = _psycopg()
        try:
            return psycopg.connect(uri, autocommit=False, connect_timeout=10)
        except psycopg.Error as err:
            msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise GalleryError(f"cannot connect to PostgreSQL ({msg})", uri,
                               "check the URI and that the server is running") from None

    @classmethod
    def create_at(cls, spec: str, manifest: dict) -> PgStore:
        uri, name = split_spec(spec)
        store = cls(cls._connect(uri, spec), uri, name, manifest)
        store.create(dim=int(manifest["dim"]), manifest=manifest)
        return store

    @classmethod
    def open_at(cls, spec: str) -> PgStore:
        uri, name = split_spec(spec)
        store = cls(cls._connect(uri, spec), uri, name)
        row = store._one("SELECT to_regclass(%s)", (f"{store.schema}.meta",))
        if row is None or row[0] is None:
            store.close()
            raise GalleryError(f"no gallery named {name!r} in this database", spec,
                               f"create it with `lookalike gallery create {name} --db {uri}`")
        raw = store._one(f"SELECT value FROM {store.schema}.meta WHERE key='manifest'")
        if raw is None:
            store.close()
            raise GalleryError("gallery is damaged (manifest missing)", spec,
                               "re-create it")
        store.manifest = json.loads(raw[0])
        if store.manifest.get("format") != FORMAT:
            store.close()
            raise GalleryError("is not a lookalike gallery", spec, "re-create it")
        return store

    def create(self, *, dim: int, manifest: dict | None = None, embedder: str = "",
               embedder_version: str = "", threshold: float = 0.0, index: bool = True) -> None:
        manifest = manifest or {"format": FORMAT, "format_version": 1, "dim": dim,
                                "embedder": {"name": embedder, "version": embedder_version},
                                "threshold": {"similarity": threshold}}
        s = self.schema
        exists = self._one("SELECT to_regclass(%s)", (f"{s}.meta",))
        if exists and exists[0] is not None:
            raise GalleryError(f"a gallery named {self.name!r} already exists", self.uri,
                               "choose another name or add photos to it")
        with self.conn.transaction():
            self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            self.conn.execute(f"CREATE TABLE {s}.meta (key text PRIMARY KEY, value text "
                              "NOT NULL)")
            self.conn.execute(f"CREATE TABLE {s}.people (id serial PRIMARY KEY, name text "
                              "NOT NULL UNIQUE, added timestamptz NOT NULL DEFAULT now())")
            self.conn.execute(
                f"CREATE TABLE {s}.photos (id bigserial PRIMARY KEY, person_id int NOT NULL "
                f"REFERENCES {s}.people(id), digest text NOT NULL UNIQUE, source text NOT NULL "
                "DEFAULT '', face int NOT NULL DEFAULT 0, n_faces int NOT NULL DEFAULT 1, "
                f"ambiguous bool NOT NULL DEFAULT false, embedding vector({int(dim)}) NOT NULL, "
                "thumb bytea, added timestamptz NOT NULL DEFAULT now())")
            self.conn.execute(f"CREATE INDEX ON {s}.photos (person_id)")
            self.conn.execute(f"CREATE TABLE {s}.skipped (digest text PRIMARY KEY, person_id "
                              f"int NOT NULL REFERENCES {s}.people(id), source text NOT NULL, "
                              "why text NOT NULL)")
            self.conn.execute(f"INSERT INTO {s}.meta VALUES ('manifest', %s), ('data_gen', '0')",
                              (json.dumps(manifest),))
            if index:
                self.conn.execute(f"CREATE INDEX photos_hnsw ON {s}.photos USING hnsw "
                                  "(embedding vector_ip_ops)")
        self.manifest = manifest

    def drop(self) -> None:
        with self.conn.transaction():
            self.conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    def close(self) -> None:
        self.conn.close()

    # -- helpers -----------------------------------------------------------------------------
    def _one(self, sql: str, args: Iterable = ()):
        with self.conn.transaction():
            return self.conn.execute(sql, tuple(args)).fetchone()

    def _all(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self.conn.transaction():
            return self.conn.execute(sql, tuple(args)).fetchall()

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._one(f"SELECT value FROM {self.schema}.meta WHERE key=%s", (key,))
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.conn.transaction():
            self.conn.execute(f"INSERT INTO {self.schema}.meta VALUES (%s, %s) ON CONFLICT "
                              "(key) DO UPDATE SET value = excluded.value", (key, value))

    def generation(self) -> int:
        return int(self.meta("data_gen", "0") or 0)

    def index_kind(self) -> str:
        return "pgvector HNSW"

    def refresh_index(self) -> None:
        pass  # pgvector maintains its index on every write

    # -- reading -----------------------------------------------------------------------------
    def people(self) -> list[tuple[str, int]]:
        s = self.schema
        return [(r[0], int(r[1])) for r in self._all(
            f"SELECT p.name, COUNT(f.id) FROM {s}.people p LEFT JOIN {s}.photos f ON "
            "f.person_id = p.id GROUP BY p.id ORDER BY p.name")]

    def count(self) -> int:
        return int(self._one(f"SELECT COUNT(*) FROM {self.schema}.photos")[0])

    def known_digests(self) -> dict[str, str]:
        s = self.schema
        rows = self._all(f"SELECT f.digest, p.name FROM {s}.photos f JOIN {s}.people p ON "
                         f"p.id=f.person_id UNION ALL SELECT k.digest, p.name FROM {s}.skipped k "
                         f"JOIN {s}.people p ON p.id=k.person_id")
        return {d: n for d, n in rows}

    def person_vectors(self, person: str) -> np.ndarray:
        s = self.schema
        rows = self._all(f"SELECT f.embedding::real[] FROM {s}.photos f JOIN {s}.people p ON "
                         "p.id=f.person_id WHERE p.name=%s ORDER BY f.id", (person,))
        dim = int(self.manifest["dim"])
        return np.array([r[0] for r in rows], np.float32).reshape(-1, dim)

    def multi_photo_vectors(self, max_rows: int, seed: int = 0):
        s = self.schema
        rows = self._all(
            f"SELECT f.id, f.embedding::real[], p.name FROM {s}.photos f JOIN {s}.people p ON "
            f"p.id=f.person_id WHERE f.person_id IN (SELECT person_id FROM {s}.photos GROUP BY "
            "person_id HAVING COUNT(*) >= 2) ORDER BY f.id")
        if not rows:
            return None
        if len(rows) > max_rows:
            pick = np.random.default_rng(seed).choice(len(rows), max_rows, replace=False)
            rows = [rows[i] for i in sorted(pick)]
        return (np.array([r[0] for r in rows], np.int64),
                np.array([r[1] for r in rows], np.float32), [r[2] for r in rows])

    def photo_info(self, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        s = self.schema
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        rows = self._all(f"SELECT f.id, p.name, f.source FROM {s}.photos f JOIN {s}.people p "
                         "ON p.id=f.person_id WHERE f.id = ANY(%s)", (ids,))
        return {int(r[0]): (r[1], r[2]) for r in rows}

    def thumbnail(self, photo_id: int) -> bytes | None:
        row = self._one(f"SELECT thumb FROM {self.schema}.photos WHERE id=%s", (int(photo_id),))
        return bytes(row[0]) if row and row[0] is not None else None

    # -- writing -----------------------------------------------------------------------------
    def _person_id(self, name: str) -> int:
        s = self.schema
        row = self.conn.execute(f"INSERT INTO {s}.people (name) VALUES (%s) ON CONFLICT (name) "
                                "DO NOTHING RETURNING id", (name,)).fetchone()
        if row:
            return int(row[0])
        return int(self.conn.execute(f"SELECT id FROM {s}.people WHERE name=%s",
                                     (name,)).fetchone()[0])

    def add_batch(self, rows: list[PhotoRow], skipped: list[tuple[str, str, str, str]]) -> int:
        if not rows and not skipped:
            return 0
        s = self.schema
        n = 0
        pause_point("gallery-batch-start")  # test-only (files.pause_point)
        with self.conn.transaction():
            # One round trip for the batch (psycopg's pipelined executemany) and one person
            # look-up per person, not per row: row by row, ~150 rows/s (BENCHMARKS.md).
            pid = {p: self._person_id(p) for p in sorted({r.person for r in rows}
                                                         | {sk[0] for sk in skipped})}
            with self.conn.cursor() as cur:
                if rows:
                    cur.executemany(
                        f"INSERT INTO {s}.photos (person_id, digest, source, face, n_faces, "
                        "ambiguous, embedding, thumb) VALUES (%s,%s,%s,%s,%s,%s,%s::vector,%s) "
                        "ON CONFLICT (digest) DO NOTHING",
                        [(pid[r.person], r.digest, r.source, r.face, r.n_faces,
                          bool(r.ambiguous), vec_literal(r.vector), r.thumb) for r in rows])
                    n = max(cur.rowcount, 0)
                if skipped:
                    cur.executemany(f"INSERT INTO {s}.skipped VALUES (%s,%s,%s,%s) ON CONFLICT "
                                    "DO NOTHING", [(digest, pid[person], source, why)
                                                   for person, digest, source, why in skipped])
            self.conn.execute(f"UPDATE {s}.meta SET value = (value::bigint + 1)::text "
                              "WHERE key='data_gen'")
            pause_point("gallery-batch")  # test-only (files.pause_point): killed mid-commit
        return n

    def bulk_vectors(self, X: np.ndarray, person_every: int = 10) -> None:
        """Benchmark loading: vectors with synthetic people (COPY, one transaction)."""
        s = self.schema
        n_people = (len(X) + person_every - 1) // person_every
        with self.conn.transaction():
            with self.conn.cursor().copy(f"COPY {s}.people (id, name) FROM STDIN") as cp:
                for i in range(n_people):
                    cp.write_row((i + 1, f"p{i}"))
            with self.conn.cursor().copy(
                    f"COPY {s}.photos (person_id, digest, embedding) FROM STDIN") as cp:
                for i, v in enumerate(X):
                    cp.write_row((i // person_every + 1, str(i), vec_literal(v)))

    def build_ann(self, m: int = 16, ef_construction: int = 64) -> None:
        s = self.schema
        with self.conn.transaction():
            self.conn.execute("SET LOCAL maintenance_work_mem = '2GB'")
            self.conn.execute(f"DROP INDEX IF EXISTS {s}.photos_hnsw")
            self.conn.execute(f"CREATE INDEX photos_hnsw ON {s}.photos USING hnsw (embedding "
                              f"vector_ip_ops) WITH (m = {int(m)}, ef_construction = "
                              f"{int(ef_construction)})")

    def size_mb(self) -> float:
        row = self._one("SELECT pg_total_relation_size(%s)", (f"{self.schema}.photos",))
        return float(row[0]) / 1e6

    def remove_person(self, name: str) -> list[str] | None:
        s = self.schema
        with self.conn.transaction():
            row = self.conn.execute(f"SELECT id FROM {s}.people WHERE name=%s",
                                    (name,)).fetchone()
            if row is None:
                return None
            pid = int(row[0])
            digests = [r[0] for r in self.conn.execute(
                f"DELETE FROM {s}.photos WHERE person_id=%s RETURNING digest", (pid,))]
            digests += [r[0] for r in self.conn.execute(
                f"DELETE FROM {s}.skipped WHERE person_id=%s RETURNING digest", (pid,))]
            self.conn.execute(f"DELETE FROM {s}.people WHERE id=%s", (pid,))
            self.conn.execute(f"UPDATE {s}.meta SET value = (value::bigint + 1)::text "
                              "WHERE key='data_gen'")
        # Rewrite the tables and their indexes (HNSW included) without the deleted tuples.
        with self._autocommit():
            self.conn.execute(f"VACUUM FULL {s}.photos, {s}.skipped, {s}.people")
        return digests

    @contextlib.contextmanager
    def _autocommit(self) -> Iterator[None]:
        """For statements PostgreSQL refuses inside a transaction (VACUUM, REINDEX)."""
        self.conn.autocommit = True
        try:
            yield
        finally:
            self.conn.autocommit = False

    # -- searching -----------------------------------------------------------------------
    def nearest_photo_ids(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.search(q[None], k)[1][0]

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.schema
        Q = np.atleast_2d(np.asarray(Q, np.float32))
        D = np.full((len(Q), k), -np.inf, np.float32)
        top_ids = np.full((len(Q), k), -1, np.int64)
        with self.conn.transaction():
            self.conn.execute(f"SET LOCAL hnsw.ef_search = {max(int(self.ef_search), k)}")
            for i, q in enumerate(Q):
                lit = vec_literal(q)
                rows = self.conn.execute(
                    f"SELECT id, -(embedding <#> %s::vector) FROM {s}.photos "
                    "ORDER BY embedding <#> %s::vector LIMIT %s", (lit, lit, int(k))).fetchall()
                for j, (pid, sim) in enumerate(rows):
                    top_ids[i, j], D[i, j] = pid, sim
        return D, top_ids

    def check(self, repair: bool = False) -> list[str]:
        s = self.schema
        problems = []
        dim = int(self.manifest["dim"])
        bad = self._one(f"SELECT COUNT(*) FROM {s}.photos WHERE vector_dims(embedding) <> %s OR "
                        "abs(vector_norm(embedding) - 1) > 0.01", (dim,))
        if bad and bad[0]:
            problems.append(f"{bad[0]} photo embedding(s) are not unit vectors of dim {dim}")
        orphans = self._one(f"SELECT COUNT(*) FROM {s}.photos f LEFT JOIN {s}.people p ON "
                            "p.id=f.person_id WHERE p.id IS NULL")
        if orphans and orphans[0]:
            problems.append(f"{orphans[0]} photo(s) without a person")
        if repair:
            with self._autocommit():
                self.conn.execute(f"REINDEX TABLE {s}.photos")
        return problems
