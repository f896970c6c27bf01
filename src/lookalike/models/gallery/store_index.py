"""The local store's vector index: a snapshot file of the vectors for search (the plain
matrix for exact search below :data:`EXACT_MAX` photos, a FAISS IVF index above), its
checksum and generation in ``meta``, kept up to date as photos are added and removed."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sqlite3
import zlib
from pathlib import Path

import numpy as np

from lookalike.models.gallery.common import GalleryError, damaged, write_atomic

#: Up to this many photos, search is exact (a matrix product); past it, a FAISS IVF index.
#: Measured (BENCHMARKS.md, 2 busy cores): exact search of 20 k vectors ≈ 0.3–0.5 ms a query
#: and growing linearly, the IVF index ≈ 0.1 ms at recall@10 ≈ 0.98 but with a build step.
EXACT_MAX = 20_000


class IndexFiles:
    """The vector index of :class:`~lookalike.models.gallery.store_local.LocalStore` (a mixin: it
    uses the store's ``path``, ``db``, ``manifest``, ``meta`` and queries)."""

    def index_kind(self) -> str:
        kind = "ivf" if self.count() > EXACT_MAX else "exact"
        return {"exact": "exact (numpy)", "ivf": "FAISS IVF-Flat"}[kind]

    def _index_files(self) -> list[Path]:
        return sorted(self.path.glob("index-*.bin"))

    def _all_vectors(self, min_id: int = 0, verify: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
        dim = int(self.manifest["dim"])
        ids: list[int] = []
        vecs: list[bytes] = []
        try:
            cur = self.db.execute("SELECT id, vector, crc FROM photos WHERE id > ? ORDER BY id",
                                  (min_id,))
            for pid, v, crc in cur:
                if verify and (len(v) != 4 * dim or zlib.crc32(v) != crc):
                    raise damaged(self.path, f"photo {pid}'s embedding fails its checksum")
                ids.append(pid)
                vecs.append(v)
        except sqlite3.DatabaseError as err:
            raise damaged(self.path, f"database: {err}") from None
        X = np.frombuffer(b"".join(vecs), np.float32).reshape(-1, dim) if vecs else \
            np.zeros((0, dim), np.float32)
        return np.array(ids, np.int64), X

    def _save_index(self, kind: str, obj, ids_max: int, count: int, gen: int) -> None:
        """Write the index snapshot file, then make it current in one transaction."""
        if kind == "exact":
            ids, X = obj
            buf = io.BytesIO()
            np.savez(buf, ids=ids, vectors=X)
            data = buf.getvalue()
        else:
            data = obj.to_bytes()
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        # Named by generation and content: two processes refreshing the same generation
        # write the same file, and none deletes a newer generation's file.
        name = f"index-{gen}-{digest[:16]}.bin"
        write_atomic(self.path / name, data)
        info = {"file": name, "kind": kind, "blake2b": digest, "max_id": ids_max,
                "count": count, "gen": gen}
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('index', ?)", (json.dumps(info),))
        for f in self._index_files():
            try:
                older = int(f.name.split("-")[1]) < gen
            except (IndexError, ValueError):
                older = True
            if f.name != name and older:
                with contextlib.suppress(OSError):
                    f.unlink()
        self._index = (gen, kind, obj, info)

    def _load_index(self) -> tuple[str, object, dict] | None:
        raw = self.meta("index")
        if raw is None:
            return None
        info = json.loads(raw)
        f = self.path / info["file"]
        if not f.is_file():
            # Deleted (by hand, or a concurrent writer's clean-up): rebuilt from the database,
            # whose every embedding is checked against its CRC on the way.
            return None
        data = f.read_bytes()
        if hashlib.blake2b(data, digest_size=16).hexdigest() != info["blake2b"]:
            raise damaged(self.path, f"index file {info['file']} fails its checksum")
        try:
            if info["kind"] == "exact":
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    obj: object = (z["ids"], z["vectors"])
            else:
                from lookalike.models.gallery.ann import IVFIndex

                obj = IVFIndex.from_bytes(data)
        except (ValueError, KeyError, OSError, RuntimeError):
            raise damaged(self.path, f"index file {info['file']} unreadable") from None
        return info["kind"], obj, info

    def index(self, *, rebuild: bool = False):
        """The current search index, brought up to date with the database: (kind, object).
        Kind "exact" → (ids, vectors); "ivf" → :class:`~.ann.IVFIndex`."""
        gen = int(self.meta("data_gen", "0") or 0)
        if not rebuild and self._index is not None and self._index[0] == gen:
            return self._index[1], self._index[2]
        loaded = None if rebuild else self._load_index()
        count = self.count()
        if loaded is not None:
            kind, obj, info = loaded
            if info["gen"] == gen:
                if info["count"] != count:
                    raise damaged(self.path, f"index holds {info['count']} photos, database "
                                  f"{count}")
                self._index = (gen, kind, obj, info)
                return kind, obj
            # Photos were added since (removals update the index at once): add them.
            new_ids, new_X = self._all_vectors(min_id=int(info["max_id"]))
            total = info["count"] + len(new_ids)
            if total == count and (kind == "ivf") == (count > EXACT_MAX) and (
                    kind == "exact" or total < 4 * obj.ntotal + 1000):
                if kind == "exact":
                    ids, X = obj
                    obj = (np.concatenate([ids, new_ids]), np.concatenate([X, new_X]))
                else:
                    obj.add(new_X, new_ids)
                max_id = int(new_ids.max()) if len(new_ids) else int(info["max_id"])
                self._save_index(kind, obj, max_id, total, gen)
                return kind, obj
        # Build from scratch (first use, past the crossover, or inconsistent).
        ids, X = self._all_vectors()
        if len(ids) > EXACT_MAX:
            from lookalike.models.gallery.ann import IVFIndex

            kind, obj = "ivf", IVFIndex.build(X, ids)
        else:
            kind, obj = "exact", (ids, X)
        self._save_index(kind, obj, int(ids.max()) if len(ids) else 0, len(ids), gen)
        return kind, obj

    def _index_remove(self, ids: np.ndarray) -> None:
        """Take photos out of the index snapshot now (privacy: no stale copy on disk)."""
        if self.meta("index") is None:
            return
        try:
            kind, obj, info = self._load_index()  # type: ignore[misc]
        except GalleryError:
            # An unreadable index: delete it; it is rebuilt from the database.
            for f in self._index_files():
                with contextlib.suppress(OSError):
                    f.unlink()
            with self._tx() as db:
                db.execute("DELETE FROM meta WHERE key='index'")
            self._index = None
            return
        keep_count = info["count"]
        if kind == "exact":
            old_ids, X = obj
            keep = ~np.isin(old_ids, ids)
            keep_count = int(keep.sum())
            obj = (old_ids[keep], X[keep])
        else:
            keep_count -= obj.remove(ids)
        # Same generation stamp rules: the transaction that deletes the rows bumps data_gen,
        # so the index is marked as of the new generation in advance.
        gen = int(self.meta("data_gen", "0") or 0) + 1
        self._save_index(kind, obj, int(info["max_id"]), keep_count, gen)
        self._index = None

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k photos per query row: (similarities, photo ids); ids -1 past the end."""
        kind, obj = self.index()
        Q = np.atleast_2d(np.asarray(Q, np.float32))
        if kind == "ivf":
            return obj.search(Q, k)
        ids, X = obj
        n = len(ids)
        k_eff = min(k, n)
        D = np.full((len(Q), k), -np.inf, np.float32)
        top_ids = np.full((len(Q), k), -1, np.int64)
        if k_eff == 0:
            return D, top_ids
        if len(Q) < 16:
            # Row blocks small enough that BLAS stays on one thread: its threads cost 10-100×
            # a single-thread product of this size on a busy machine (BENCHMARKS.md).
            S = np.concatenate([Q @ X[s:s + 4096].T for s in range(0, n, 4096)], axis=1)
        else:
            S = Q @ X.T
        part = np.argpartition(-S, k_eff - 1, axis=1)[:, :k_eff] if k_eff < n else \
            np.tile(np.arange(n), (len(Q), 1))
        rows = np.take_along_axis(S, part, axis=1)
        order = np.argsort(-rows, axis=1, kind="stable")
        D[:, :k_eff] = np.take_along_axis(rows, order, axis=1)
        top_ids[:, :k_eff] = ids[np.take_along_axis(part, order, axis=1)]
        return D, top_ids

    # -- checking --------------------------------------------------------------------------
