"""Galleries: people added and removed without retraining, searched by face similarity.

A gallery keeps one embedding per enrolled photo (the face chosen as in training, see
:mod:`lookalike.face.choose`), with a thumbnail, and answers "whom does this face look like?" by
nearest-neighbour search over the photos, ranked per person::

    from lookalike.models.gallery import Gallery
    g = Gallery.create("people.gallery")            # or "postgresql://…" (pgvector)
    g.add_folder("photos/")                          # photos/<person>/*.jpg, resumable
    result = g.predict("me.jpg", top=5)              # a PhotoResult, as Model.predict gives
    g.remove("Jane Doe")                             # every trace of Jane is gone

Percentages: per person, the cosine similarity of their closest photo; a softmax of those
similarities times a temperature (fitted on the gallery's own people with ≥ 2 photos, else
:data:`lookalike.answer.heads.DEFAULT_SCALE`) over the people among the nearest
:data:`CANDIDATE_PHOTOS` photos. "Unknown / none of these" when the closest photo's
similarity is below the embedder's same-person threshold.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike._version import __version__
from lookalike.answer.ranking import FaceResult, Match, PhotoResult
from lookalike.errors import ImageError, printable
from lookalike.models import kinds
from lookalike.models.gallery.store_local import (
    FORMAT,
    FORMAT_VERSION,
    MARKER,
    GalleryError,
    LocalStore,
    PhotoRow,
)
from lookalike.models.recognizer import Editable, EmbeddingRecognizer
from lookalike.photos.images import PhotoSource

__all__ = ["CANDIDATE_PHOTOS", "EnrolReport", "Gallery", "GalleryError", "GalleryMatch",
           "MARKER", "is_gallery", "is_gallery_spec"]

#: Photos fetched per query face; the people among them are ranked.
CANDIDATE_PHOTOS = 100
#: Photos committed per transaction during enrolment (a crash loses at most this many).
BATCH = 64


def is_gallery(path: str | Path) -> bool:
    """A directory holding a gallery marker file."""
    return LocalStore.is_gallery(path)


def is_gallery_spec(spec: str | Path) -> bool:
    s = str(spec)
    return s.startswith(("postgresql://", "postgres://")) or is_gallery(s)


@dataclass
class GalleryMatch(Match):
    """A ranked person plus their closest enrolled photo."""

    photo_id: int | None = None
    photo: str | None = None

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["best_photo"] = {"id": self.photo_id, "source": self.photo,
                           "similarity": d.get("similarity")}
        return d


@dataclass
class EnrolReport:
    added: int = 0
    already: int = 0
    people: set[str] = field(default_factory=set)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, why)
    ambiguous: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"added": self.added, "already_enrolled": self.already,
                "people": sorted(self.people), "skipped": self.skipped,
                "ambiguous": self.ambiguous, "seconds": round(self.seconds, 2)}


class Gallery(EmbeddingRecognizer):
    """A searchable set of people (see the module doc). Also a :class:`Recognizer`, so
    ``lookalike predict``, evaluation and the web layer accept it where they take a model;
    its :meth:`editable` part is itself."""

    has_thumbnails = True  # thumbnail ids are enrolled photos' ids

    def __init__(self, store: Any, spec: str):
        self.store = store
        self.spec = spec
        self.path = Path(spec) if not spec.startswith("postgres") else None
        self.manifest = dict(store.manifest)
        self._pipeline = None
        self._labels: tuple[int, list[str], dict[str, int]] | None = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, spec: str | Path, *, embedder: str = "sface", crops: bool = False
               ) -> Gallery:
        from lookalike.answer.heads import DEFAULT_SCALE
        from lookalike.face.embedders import get_embedder
        from lookalike.models.archive import new_manifest

        e = get_embedder(embedder)
        manifest = new_manifest(kind="gallery", embedder={"name": e.name, "version": e.version},
                                dim=int(e.dim), threshold={"similarity": float(e.threshold)},
                                crops=bool(crops), scale=DEFAULT_SCALE)
        manifest["format"], manifest["format_version"] = FORMAT, FORMAT_VERSION
        s = str(spec)
        if s.startswith("postgres"):
            from lookalike.models.gallery.store_pg import PgStore

            return cls(PgStore.create_at(s, manifest), s)
        return cls(LocalStore.create(Path(s), manifest), s)

    @classmethod
    def open(cls, spec: str | Path) -> Gallery:
        s = str(spec)
        if s.startswith("postgres"):
            from lookalike.models.gallery.store_pg import PgStore

            return cls(PgStore.open_at(s), s)
        return cls(LocalStore.open(Path(s)), s)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what it holds ---------------------------------------------------------------------
    def people(self) -> list[tuple[str, int]]:
        """(person, number of photos), by name."""
        return self.store.people()

    @property
    def labels(self) -> list[str]:
        return self._label_index()[1]

    def _label_index(self) -> tuple[int, list[str], dict[str, int]]:
        gen = self.store.generation()
        if self._labels is None or self._labels[0] != gen:
            names = [p for p, n in self.store.people() if n > 0]
            self._labels = (gen, names, {p: i for i, p in enumerate(names)})
        return self._labels

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"]["similarity"])

    @property
    def scale(self) -> float:
        return float(self.store.meta("scale") or self.manifest.get("scale") or 24.0)

    def editable(self) -> Editable:
        return self

    def describe(self) -> dict:
        people = self.people()
        return {"kind": "gallery", "gallery": self.spec, "embedder": self.manifest["embedder"],
                "threshold": self.manifest["threshold"], "scale": self.scale,
                "people": len(people), "photos": sum(n for _, n in people),
                "index": self.store.index_kind(), "created": self.manifest.get("created"),
                "lookalike_version": __version__}

    def thumbnail(self, photo_id: int) -> bytes | None:
        """JPEG thumbnail of an enrolled photo's face (ids are in ``nearest``/``best_photo``)."""
        return self.store.thumbnail(int(photo_id))

    # -- enrolment -------------------------------------------------------------------------
    def add_folder(self, folder: str | Path, *, person: str | None = None,
                   workers: int | None = None, progress: bool = True, cluster: Any = None,
                   ship: str = "auto") -> EnrolReport:
        """Enrol ``folder/<person>/*`` or, with ``person``, every photo below ``folder``."""
        from lookalike.photos.folders import _walk_photos, check_folder, list_labelled

        root = check_folder(folder)
        ignored: list[tuple[str, str]] = []  # not photos: reported, not enrolled
        if person:
            items = [(person, p) for p in _walk_photos(root, ignored)]
            if not items:
                raise GalleryError("no photos found", root, "give a folder with photos")
        else:
            items = [(ph.person, ph.path) for ph in list_labelled(root, ignored)]
        report = self.add_photos(items, workers=workers, progress=progress, cluster=cluster,
                                 ship=ship)
        report.skipped[:0] = [(p, "ignored: " + why) for p, why in ignored]
        return report

    def add_photos(self, items: Sequence[tuple], *, workers: int | None = None,
                   progress: bool = True, cache: bool = True, cluster: Any = None,
                   ship: str = "auto") -> EnrolReport:
        """Enrol (person, photo path) pairs — or (person, path, source name to record) — on
        ``workers`` processes (default: all cores). ``cache=False``: the photos' analyses are
        not written to the embedding cache (web uploads stay off the disk).

        ``cluster``/``ship``: the embeddings made on a Dask cluster (:mod:`lookalike.face.cluster`);
        what is stored is the same, and this process commits it.

        Resumable: photos already in the gallery (same content hash) are skipped, and every
        person is committed as soon as all their new photos are analysed, in batches of
        :data:`BATCH` photos, so an interrupted run keeps what was done."""
        from lookalike.face.embedders import embedder_spec
        from lookalike.models.gallery.enrol import analyse
        from lookalike.progress import bar

        t0 = time.perf_counter()
        # vectors from another embedder version (weights, precision) would not compare: refuse
        # before enrolling, in one line (Recognizer.pipeline); workers embed at its precision
        self.pipeline  # noqa: B018
        report = EnrolReport()
        known = self.store.known_digests()
        tasks, info = self._new_photos(items, known, report)
        remaining: dict[str, int] = defaultdict(int)
        for person, _, _ in info.values():
            remaining[person] += 1
        # A person's only photo (none enrolled before): only its most prominent face is used.
        enrolled = set(known.values())
        tasks = [(t, path, remaining[info[t][0]] == 1 and info[t][0] not in enrolled)
                 for t, path in tasks]
        done: dict[str, list] = defaultdict(list)
        rows: list[PhotoRow] = []
        skipped_rows: list[tuple[str, str, str, str]] = []
        workers = workers or os.cpu_count() or 1

        def commit() -> None:
            report.added += self.store.add_batch(rows, skipped_rows)
            rows.clear()
            skipped_rows.clear()

        try:
            stream = analyse(tasks, embedder=embedder_spec(self.pipeline.embedder),
                             crops=bool(self.manifest.get("crops")),
                             workers=min(workers, len(tasks)) or 1, cache=cache,
                             cluster=cluster, ship=ship, digests=[info[t[0]][1] for t in tasks])
            for r in bar(stream, total=len(tasks), desc="enrolling", enabled=progress):
                person = info[r.task][0]
                done[person].append(r)
                remaining[person] -= 1
                if remaining[person] == 0:
                    self._finish_person(person, done.pop(person), info, report, rows,
                                        skipped_rows)
                    if len(rows) + len(skipped_rows) >= BATCH:
                        commit()
        finally:
            commit()  # an interrupted run keeps every person fully analysed so far
        self.store.refresh_index()
        if report.added or self.store.meta("scale_count") != str(self.store.count()):
            # also when a killed run committed photos but never got to calibrate them
            self.calibrate()
        report.seconds = time.perf_counter() - t0
        return report

    @staticmethod
    def _new_photos(items: Sequence[tuple], known: dict[str, str], report: EnrolReport
                    ) -> tuple[list[tuple[int, str]], dict[int, tuple[str, str, str]]]:
        """The photos to analyse — (task, path) and task → (person, digest, source) — after
        leaving out unreadable, empty and already enrolled ones (noted in ``report``)."""
        from lookalike.photos.images import content_hash, read_bytes

        tasks: list[tuple[int, str]] = []
        info: dict[int, tuple[str, str, str]] = {}
        seen: dict[str, str] = {}
        for item in items:
            person, path = item[0], item[1]
            # printable: stored as UTF-8 text and shown (a non-UTF-8 file name cannot be)
            source = printable(item[2] if len(item) > 2 else path)
            person = printable(person).strip()
            if not person:
                raise GalleryError("a person's name is empty", path, "name the person")
            try:
                data = read_bytes(path)
            except ImageError as err:
                report.skipped.append((source, err.detail))
                continue
            if not data:  # not "already enrolled" when another empty file came first
                report.skipped.append((source, "is an empty file (0 bytes) — remove it or "
                                               "replace it with a photo"))
                continue
            digest = content_hash(data)
            owner = known.get(digest) or seen.get(digest)
            if owner is not None:
                if owner == person:
                    report.already += 1
                else:
                    report.skipped.append((source, f"the same photo is already enrolled as "
                                                   f"{owner}"))
                continue
            seen[digest] = person
            info[len(tasks)] = (person, digest, source)
            tasks.append((len(tasks), str(path)))
        return tasks, info

    def _finish_person(self, person: str, results: list, info: dict[int, tuple[str, str, str]],
                       report: EnrolReport, rows: list[PhotoRow],
                       skipped_rows: list[tuple[str, str, str, str]]) -> None:
        """All new photos of ``person`` are analysed: choose the face that is them in each
        (against their photos already enrolled) and queue the rows."""
        from lookalike.face.choose import choose_faces

        with_faces = [r for r in results if r.embeddings is not None and len(r.embeddings)]
        for r in results:
            _, digest, src = info[r.task]
            if r.embeddings is None:
                report.skipped.append((src, r.error or "unreadable"))
            elif not len(r.embeddings):
                report.skipped.append((src, "no face found"))
                skipped_rows.append((person, digest, src, "no face found"))
        if not with_faces:
            return
        choice = [0] * len(with_faces)
        ambiguous = [False] * len(with_faces)
        if any(len(r.embeddings) > 1 for r in with_faces):
            old = self.store.person_vectors(person)
            ch = choose_faces([v[None] for v in old] + [r.embeddings for r in with_faces],
                              self.threshold)[len(old):]
            choice = [c.index for c in ch]
            ambiguous = [c.ambiguous for c in ch]
        for r, c, amb in zip(with_faces, choice, ambiguous, strict=True):
            _, digest, src = info[r.task]
            if amb:
                report.ambiguous.append((src, f"{len(r.embeddings)} faces; chose face "
                                              f"{c + 1}"))
            elif r.n_faces > len(r.embeddings):
                report.ambiguous.append((src, f"{r.n_faces} faces and no other photo of "
                                              f"{person} to compare with; chose the most "
                                              "prominent"))
            rows.append(PhotoRow(person, digest, src, c, max(r.n_faces, len(r.embeddings)),
                                 amb, r.embeddings[c],
                                 r.thumbs[c] if c < len(r.thumbs) else None))
            report.people.add(person)

    def add_uploads(self, person: str, files: Sequence[tuple[str, bytes]]) -> EnrolReport:
        """Enrol photos of ``person`` given as (name, bytes), e.g. web uploads: written to a
        private temporary folder (in memory under /dev/shm where it exists) for the enrolling
        processes, deleted right after, and kept out of the embedding cache."""
        shm = Path("/dev/shm")
        folder = Path(tempfile.mkdtemp(prefix="lookalike-enrol-", dir=shm if shm.is_dir()
                                       and os.access(shm, os.W_OK) else None))
        try:
            items = []
            for i, (name, data) in enumerate(files):
                # not the client's file name: one too long for the file system was a 500
                path = folder / f"{i:02d}.photo"
                path.write_bytes(data)
                items.append((person, path, f"web upload {name}"))  # the source name recorded
            report = self.add_photos(items, workers=1, progress=False, cache=False)
            strip = str(folder) + os.sep
            report.skipped = [(s.replace(strip, ""), w.replace(strip, ""))
                              for s, w in report.skipped]
            report.ambiguous = [(s.replace(strip, ""), w.replace(strip, ""))
                                for s, w in report.ambiguous]
            return report
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def remove(self, person: str, *, purge_cache: bool = True) -> int:
        """Forget a person: photos, embeddings, thumbnails, index entries and metadata (and,
        with ``purge_cache``, their photos' entries in the local embedding cache). Returns the
        number of photos removed."""
        digests = self.store.remove_person(person)
        stored = printable(person).strip()  # the name as add_photos stored it
        if digests is None and stored != person:
            digests = self.store.remove_person(stored)
        if digests is None:
            close = [p for p, _ in self.people() if p.casefold() == person.casefold()]
            raise GalleryError(f"{person!r} is not in the gallery", self.spec,
                               f"did you mean {close[0]!r}?" if close else
                               "see `lookalike gallery list`")
        if purge_cache and digests:
            from lookalike.cache import purge_photos

            purge_photos(digests)
        self._labels = None
        return len(digests)

    def calibrate(self, max_rows: int = 2000, seed: int = 0) -> float | None:
        """Fit the softmax temperature on the gallery's people with ≥ 2 photos: each sampled
        photo is searched with itself left out. Stored in the gallery; returns it (None when
        there are too few such people)."""
        from lookalike.answer.heads import DEFAULT_SCALE, fit_scale

        count = str(self.store.count())
        multi = self.store.multi_photo_vectors(max_rows, seed)
        if multi is None or len(multi[0]) < 20:
            self.store.set_meta("scale_count", count)
            return None
        ids, X, owners = multi
        D, ids_ = self.store.search(X, min(CANDIDATE_PHOTOS + 1, self.store.count()))
        names = self.store.photo_info({int(i) for i in ids_.ravel() if i >= 0})
        width = 20
        logits, y = [], []
        for row in range(len(ids)):
            best: dict[str, float] = {}
            for s, pid in zip(D[row], ids_[row], strict=True):
                if pid < 0 or pid == ids[row] or int(pid) not in names:
                    continue
                p = names[int(pid)][0]
                best.setdefault(p, float(s))
            cands = sorted(best.items(), key=lambda kv: -kv[1])[:width]
            who = [p for p, _ in cands]
            if owners[row] not in who:
                continue
            z = np.full(width, -4.0)
            z[:len(cands)] = [s for _, s in cands]
            logits.append(z)
            y.append(who.index(owners[row]))
        if len(y) < 20:
            self.store.set_meta("scale_count", count)
            return None
        scale = fit_scale(np.array(logits), np.array(y), prior=DEFAULT_SCALE)
        self.store.set_meta("scale", repr(float(scale)))
        self.store.set_meta("scale_count", count)  # after the scale: a kill between re-fits
        return scale

    # -- answering -------------------------------------------------------------------------
    def _mismatch(self, what: str) -> GalleryError:
        return GalleryError(f"was enrolled with {what}", self.spec,
                            "enrol the photos again in a new gallery")

    def face_results(self, faces, embeddings: np.ndarray, top: int | None = None
                     ) -> list[FaceResult]:
        """Rank people for each face embedding (see the module doc)."""
        if len(embeddings) == 0:
            return []
        n = self.store.count()
        if n == 0:
            raise GalleryError("the gallery is empty", self.spec,
                               "enrol people with `lookalike gallery add`")
        k = min(n, max(CANDIDATE_PHOTOS, 10 * (top or 0)))
        D, ids_ = self.store.search(np.asarray(embeddings, np.float32), k)
        info = self.store.photo_info({int(i) for i in ids_.ravel() if i >= 0})
        _, labels, where = self._label_index()
        scale = self.scale
        out = []
        for face, sims, ids in zip(faces, D, ids_, strict=True):
            best: dict[str, tuple[float, int]] = {}
            for s, pid in zip(sims, ids, strict=True):
                if pid < 0 or int(pid) not in info:
                    continue
                best.setdefault(info[int(pid)][0], (float(s), int(pid)))
            if not best:
                raise GalleryError(
                    "none of the closest photos is in the gallery any more (removed meanwhile, "
                    "or the index is out of step with the database)", self.spec,
                    "try again; if it persists run `lookalike gallery check --repair`")
            people = list(best)
            sim = np.array([best[p][0] for p in people])
            z = scale * (sim - sim.max())
            prob = np.exp(z) / np.exp(z).sum()
            order = np.argsort(-prob, kind="stable")
            ranking = [GalleryMatch(people[i], float(prob[i]), float(sim[i]), best[people[i]][1],
                                    info[best[people[i]][1]][1]) for i in order]
            proba = np.zeros(len(labels))
            for p, q in zip(people, prob, strict=True):
                if p in where:
                    proba[where[p]] = q
            top_sim = float(sim.max())
            out.append(FaceResult(face, list(ranking), top_sim < self.threshold, top_sim, proba,
                                  [m.photo_id for m in ranking]))
        return out

    def predict(self, photo: PhotoSource, *, all_faces: bool = False,
                name: str | None = None, top: int | None = None) -> PhotoResult:
        """Whom the face in ``photo`` (every face with ``all_faces``) looks like; ``top``:
        rank at least this many people (more candidate photos are fetched)."""
        label = name or ("<bytes>" if isinstance(photo, bytes) else str(photo))
        analysis = self.pipeline.analyze(photo, name=label)
        n = len(analysis.faces) if all_faces else min(1, len(analysis.faces))
        faces = self.face_results(analysis.faces[:n], analysis.embeddings[:n], top)
        return PhotoResult(label, faces, analysis.image_size, None if faces else "no face found",
                           analysis.n_faces)

    #: The gallery's own word for :meth:`predict` (kept for existing callers).
    search = predict

    def check(self, repair: bool = False) -> list[str]:
        return self.store.check(repair=repair)


kinds.register("gallery", opener=lambda spec: Gallery.open(spec))
