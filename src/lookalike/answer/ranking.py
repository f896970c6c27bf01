"""The answer shape shared by every surface (Python API, CLI ``--json``, HTTP).

Per face: ``{"box": [x, y, w, h], "landmarks": [[x, y]×5], "detection_score": s,
"ranking": [{"person": p, "name": shown, "probability": q, "similarity": c}, …], "unknown": bool,
"best_similarity": c, "face_index": k, "faces_in_photo": n, "chosen_by": how}``: which face
of the photo's ``n`` it is (1 = the most prominent) and why the answer is for it
("prominence" or "known person", :mod:`lookalike.answer.subject`; null on the other faces).
Probabilities are over the known people and sum to 1; ``unknown``
says the face is not close enough to anyone's photos to be called the same person (the
ranking still says whom it resembles most). This module computes; it never prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from lookalike.face.record import Face, to_dicts
from lookalike.names import display_name
from lookalike.schema import stamp

#: A person's shown name, made once per person (and process): every answer shows it.
_shown = lru_cache(maxsize=4096)(display_name)


@dataclass
class Match:
    person: str
    probability: float
    similarity: float | None = None  # cosine to that person's closest training photo
    #: Why the face looks like this person's closest photo (a :class:`lookalike.answer.why.Why`, set
    #: by :func:`lookalike.answer.explain.explain_result`; not a field: subclasses add positional
    #: ones)
    why = None
    #: The closest enrolled photo's id and source, for a match that names it (a gallery's,
    #: :class:`lookalike.models.gallery.GalleryMatch`: answered as ``best_photo``). Not
    #: fields, as ``why``.
    photo_id = None
    photo = None

    def to_dict(self) -> dict:
        d = {"person": self.person, "name": _shown(self.person),
             "probability": round(float(self.probability), 4)}
        if self.similarity is not None:
            d["similarity"] = round(float(self.similarity), 4)
        if self.why is not None:
            d["why"] = self.why.to_dict()
        if self.photo_id is not None:
            d["best_photo"] = {"id": self.photo_id, "source": self.photo,
                               "similarity": d.get("similarity")}
        return d


@dataclass
class FaceResult:
    face: Face
    ranking: list[Match]
    unknown: bool = False
    best_similarity: float | None = None
    #: Full probability vector in label order, for verdicts and evaluation.
    proba: np.ndarray | None = field(default=None, repr=False)
    #: Index (into the model's training photos) of the closest photo per ranked person.
    nearest: list[int | None] = field(default_factory=list, repr=False)
    #: Which face of the photo this is (0 = the most prominent); set by :class:`PhotoResult`.
    index: int | None = None
    #: Why the answer is for this face ("prominence" / "known person"); None: not chosen.
    chosen_by: str | None = None
    #: The first of the ranking (a plain attribute, set when the answer is made; not a field).
    top = None

    def __post_init__(self) -> None:
        self.top: Match = self.ranking[0] if self.ranking else None  # type: ignore[assignment]

    def to_dict(self, top: int | None = None, n_faces: int | None = None,
                face: dict | None = None) -> dict:
        """The face's answer (``face``: its :meth:`Face.to_dict` when made already)."""
        d = self.face.to_dict() if face is None else face
        d["ranking"] = [m.to_dict() for m in self.ranking[:top]]
        d["unknown"] = bool(self.unknown)
        if self.best_similarity is not None:
            d["best_similarity"] = round(float(self.best_similarity), 4)
        if self.index is not None:
            d["face_index"] = self.index + 1
        if n_faces is not None:
            d["faces_in_photo"] = n_faces
        d["chosen_by"] = self.chosen_by
        return d


@dataclass
class PhotoResult:
    photo: str
    faces: list[FaceResult]
    image_size: tuple[int, int] | None = None
    error: str | None = None
    #: Faces detected in the photo (more than ``len(faces)`` when only one was answered).
    n_faces: int | None = None
    #: The photo as the face path decoded it, when the answer was asked to keep it (a card
    #: draws it instead of decoding the photo again); ``image_scale``: its width over the
    #: photo's (face boxes times it are in its pixels). Never part of the answer's shape.
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    image_scale: float = field(default=1.0, repr=False, compare=False)

    def __post_init__(self) -> None:
        for i, f in enumerate(self.faces):  # answers made in the photo's face order
            if f.index is None:
                f.index = i
        if self.n_faces is None:
            self.n_faces = len(self.faces)
        if self.faces and self.faces[0].chosen_by is None:  # the photo's answer
            self.faces[0].chosen_by = "prominence"

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.faces)

    def to_dict(self, top: int | None = None) -> dict:
        return stamp("photo", {
            "photo": self.photo,
            "image_size": list(self.image_size) if self.image_size else None,
            "faces": [f.to_dict(top, self.n_faces, d) for f, d in
                      zip(self.faces, to_dicts([f.face for f in self.faces]), strict=True)],
            "error": self.error,
        })


@dataclass
class Verdict:
    """One answer for several photos of the same person."""

    ranking: list[Match]
    votes: dict[str, int]
    n_photos: int
    n_used: int
    unknown: bool

    @property
    def person(self) -> str:
        return self.ranking[0].person

    def to_dict(self, top: int | None = None) -> dict:
        return stamp("verdict", {
            "person": self.person,
            "name": _shown(self.person),
            "ranking": [m.to_dict() for m in self.ranking[:top]],
            "votes": self.votes,
            "photos": self.n_photos,
            "photos_used": self.n_used,
            "unknown": self.unknown,
            "method": "geometric mean of per-photo probabilities, renormalised",
        })


def rank(labels: list[str], proba: np.ndarray, similarity: np.ndarray | None = None
         ) -> list[Match]:
    order = np.argsort(-proba, kind="stable")
    return [Match(labels[i], float(proba[i]),
                  None if similarity is None else float(similarity[i])) for i in order]


def answer_faces(labels: list[str], faces: Sequence[Face],
                 rows: Sequence[tuple[np.ndarray, np.ndarray, list[int]]], threshold: float
                 ) -> list[FaceResult]:
    """Each face's ranked answer from its row (probabilities over ``labels``, per-person
    nearest similarity, per-person nearest training photo): people by probability, and
    ``unknown`` when the top person's nearest similarity is under ``threshold``."""
    results = []
    for face, (p, sim, nearest) in zip(faces, rows, strict=True):
        ranking = rank(labels, p, sim)
        top_sim = ranking[0].similarity
        order = np.argsort(-p, kind="stable")  # (rank's order: the nearest photos in it)
        results.append(FaceResult(face, ranking, top_sim < threshold, top_sim, p,
                                  [nearest[i] for i in order]))
    return results


def answer_photo(photo: str, faces: Sequence[Face],
                 rows: Sequence[tuple[np.ndarray, np.ndarray, list[int]]], labels: list[str],
                 threshold: float, image_size: tuple[int, int] | None, n_faces: int | None,
                 image: np.ndarray | None = None, image_scale: float = 1.0) -> PhotoResult:
    """A photo's ranked answer in one call: its faces' answers (:func:`answer_faces`) and the
    photo's ("no face found" without faces)."""
    return photo_answer(photo, answer_faces(labels, faces, rows, threshold), image_size,
                        n_faces, image, image_scale)


def photo_answer(photo: str, faces: Sequence[FaceResult | tuple],
                 image_size: tuple[int, int] | None, n_faces: int | None,
                 image: np.ndarray | None = None, image_scale: float = 1.0) -> PhotoResult:
    """A photo's answer from its faces' answers, each a :class:`FaceResult` or the tuple of its
    fields (face, ranking, unknown, best similarity, probabilities, nearest): "no face found"
    without faces."""
    answers = [f if isinstance(f, FaceResult) else FaceResult(*f) for f in faces]
    return PhotoResult(photo, answers, image_size, None if answers else "no face found",
                       n_faces, image, image_scale)


def combine(labels: list[str], results: list[FaceResult], n_photos: int) -> Verdict | None:
    """Combine one face per photo into a verdict.

    The geometric mean of the per-photo probability vectors, renormalised: the product of the
    photos' evidence (as if independent) tempered by the number of photos, so five photos are
    not five times as sure. Votes count each photo's top answer. ``unknown`` when most photos
    are unknown."""
    if not results:
        return None
    P = np.stack([np.clip(r.proba, 1e-9, 1.0) for r in results])
    g = np.exp(np.log(P).mean(axis=0))
    g /= g.sum()
    sims = [r for r in results if r.best_similarity is not None]
    sim_by_person: dict[str, float] = {}
    for r in sims:
        for m in r.ranking:
            if m.similarity is not None:
                sim_by_person[m.person] = max(sim_by_person.get(m.person, -1.0), m.similarity)
    ranking = [Match(m.person, m.probability, sim_by_person.get(m.person))
               for m in rank(labels, g)]
    votes: dict[str, int] = {}
    for r in results:
        votes[r.top.person] = votes.get(r.top.person, 0) + 1
    votes = dict(sorted(votes.items(), key=lambda kv: -kv[1]))
    unknown = sum(r.unknown for r in results) * 2 > len(results)
    return Verdict(ranking, votes, n_photos, len(results), unknown)
