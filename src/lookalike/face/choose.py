"""Which face is the answer?

In any photo (:func:`order_faces`, used by the face path for prediction, comparison and as
the starting order in training): the face that is most the subject of the photo. In a training
photo (:func:`choose_faces`): the one that agrees with the same person's other photos — not
merely the largest (a celebrity beside a fan, a team photo)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lookalike.face.record import Face, align

#: A detection must score at least this (and have a face's landmark geometry) to be the
#: answer while another detection qualifies; YuNet keeps boxes down to 0.6, and its false
#: faces (a blurred background, a hand, a cat) score 0.6–0.8
#: (bench/studies/face_choice/bench_face_choice.py).
FACE_SCORE = 0.8


def size_and_centrality(face: Face, image_size: tuple[int, int]) -> float:
    """A face's size weighted by its closeness to the photo's centre.

    Centrality weighs fully (a face in a corner counts a fifth of the same face in the
    centre): a hand-cropped or framed photo centres its subject, and a face cut by the photo's
    border gets a tall box from YuNet that would otherwise outweigh the subject (on LFW pairs,
    4 photos of 7,701 changed their face, all to the centred subject: +2 pairs right)."""
    width, height = image_size
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    dx = (cx - width / 2) / max(width, 1)
    dy = (cy - height / 2) / max(height, 1)
    centrality = 1.0 - 0.8 * min(1.0, (dx * dx + dy * dy) ** 0.5 / 0.7071)
    return max(w, 0.0) * max(h, 0.0) * centrality


def prominence(face: Face, image_size: tuple[int, int]) -> float:
    """How much a face is *the* subject by its looks alone: :func:`size_and_centrality`
    weighted by the detector's confidence. (The face choice weighs the same size and
    centrality by :func:`face_likeness` instead: :func:`subject_score`.)"""
    return size_and_centrality(face, image_size) * (0.5 + 0.5 * float(face.score))


def geometry(face: Face) -> float:
    """How much the 5 landmarks look like a face's (0–1: the share of checks passed): eyes
    apart and level-ish, the nose between the eyes and below them, the mouth below the nose,
    about as wide as the eyes are apart and under them, all inside (a margin around) the box."""
    if face.synthetic:
        return 1.0
    pts = np.asarray(face.landmarks, np.float64).reshape(5, 2)
    re, le = pts[0], pts[1]
    eye = le - re
    eye_dist = float(np.hypot(*eye))
    x, y, w, h = face.box
    if eye_dist < 1e-6 or w <= 0 or h <= 0:
        return 0.0
    roll = float(np.arctan2(eye[1], eye[0]))
    c, s = np.cos(-roll), np.sin(-roll)
    mid = (re + le) / 2
    # landmarks in the face's own frame: eyes on the x axis, units of the eye distance
    q = (pts - mid) @ np.array([[c, s], [-s, c]]) / eye_dist
    nose, rm, lm = q[2], q[3], q[4]
    mouth = (rm + lm) / 2
    mouth_w = float(np.hypot(*(lm - rm)))
    pad_x, pad_y = 0.25 * w, 0.25 * h
    # gross checks only: a face turned three-quarters away (LFW has many) passes them all
    checks = [
        0.12 <= eye_dist / w <= 0.8,                       # eyes apart for the box
        abs(np.degrees(roll)) < 45,                        # not sideways
        -1.6 <= nose[0] <= 1.6,                            # nose not far beyond an eye
        0.15 <= nose[1] <= 2.2,                            # nose below the eyes
        nose[1] + 0.1 <= mouth[1] <= 3.6,                  # mouth below the nose
        0.4 <= mouth_w <= 2.2,                             # mouth about as wide as the eyes
        abs(mouth[0]) <= 1.3,                              # mouth under the eyes
        bool(np.all((pts[:, 0] >= x - pad_x) & (pts[:, 0] <= x + w + pad_x)
                    & (pts[:, 1] >= y - pad_y) & (pts[:, 1] <= y + h + pad_y))),
    ]
    return sum(bool(v) for v in checks) / len(checks)


def sharpness(rgb: np.ndarray, face: Face) -> float:
    """How sharp the face is: the standard deviation of the Laplacian of its aligned 64 px
    grey crop (in focus ≈ 15–40, out of focus or upscaled ≈ 2–8)."""
    import cv2

    crop = align(rgb, face, size=64)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F, ksize=3)[4:-4, 4:-4].std())


def face_likeness(face: Face, geom: float | None = None) -> float:
    """How much a detection looks like a face (0–1): the detector's score weighed steeply
    (0.95 and up count fully, 0.8 half, 0.69 a tenth) times its landmark geometry squared
    (``geom``: :func:`geometry` of the face, when known already)."""
    if face.synthetic:
        return 1.0
    s = float(np.clip((float(face.score) - 0.55) / 0.4, 0.0, 1.0))
    return s ** 2.5 * (geometry(face) if geom is None else geom) ** 2


def eligible(face: Face, geom: float | None = None) -> bool:
    """A detection that may be the answer while another one qualifies: scores at least
    :data:`FACE_SCORE` and has a face's landmark geometry."""
    return face.synthetic or (float(face.score) >= FACE_SCORE
                              and (geometry(face) if geom is None else geom) >= 0.85)


#: SFace's raw feature norm of a sharp, frontal face (LFW-like): ~12; out of focus ~8; false
#: faces ~6 (bench/studies/face_choice/bench_face_choice.py). Quality factor: (norm /
#: QUALITY_NORM)³, capped.
QUALITY_NORM = 11.0
#: Faces whose subject score is within this factor of the best are contenders: their
#: quality (SFace feature norm) is measured and weighs in.
CONTENDER_RATIO = 8.0


def quality_factor(face: Face) -> float:
    """The weight of a face's measured quality (``face.quality``, SFace's raw feature
    norm); 1 when it was not measured."""
    q = face.quality
    if q is None or not np.isfinite(q):
        return 1.0
    return float(np.clip(q / QUALITY_NORM, *QUALITY_CLIP)) ** 3


#: The measured quality's ratio to :data:`QUALITY_NORM` is clipped to this range, so its
#: factor is at most ``1.25 ** 3``: what bounds a contender not measured yet.
QUALITY_CLIP = (0.25, 1.25)
MAX_QUALITY_FACTOR = QUALITY_CLIP[1] ** 3
#: Contenders measured per inference when only the first face is wanted.
MEASURE_CHUNK = 4


def subject_score(face: Face, image_size: tuple[int, int], geom: float | None = None
                  ) -> float:
    """How much a face is the photo's subject: :func:`size_and_centrality` weighed by
    :func:`face_likeness` (score and landmark geometry), and by its measured quality
    (:func:`quality_factor`) when there was a contest."""
    return (size_and_centrality(face, image_size) * face_likeness(face, geom)
            * quality_factor(face))


def _keys(faces: Sequence[Face], image_size: tuple[int, int]) -> list[tuple[bool, float]]:
    """(:func:`eligible`, :func:`subject_score`) of each face, its geometry computed once."""
    out = []
    for f in faces:
        geom = 1.0 if f.synthetic else geometry(f)
        out.append((eligible(f, geom), subject_score(f, image_size, geom)))
    return out


def _order(keys: Sequence[tuple[bool, float]]) -> list[int]:
    return sorted(range(len(keys)), key=lambda i: (not keys[i][0], -keys[i][1]))


def order_indices(faces: Sequence[Face], image_size: tuple[int, int]) -> list[int]:
    """Indices of ``faces``, the face the photo is about first (stable for ties): faces that
    look like faces (:func:`eligible`) before the others, each group by
    :func:`subject_score`. The same order serves prediction, comparison and training (where
    :func:`choose_faces` may prefer another face that agrees with the person's photos)."""
    return _order(_keys(faces, image_size))


def _near(order: Sequence[int], keys: Sequence[tuple[bool, float]]) -> list[int]:
    if len(order) < 2 or not keys[order[0]][0]:
        return []
    best = keys[order[0]][1]
    near = [i for i in order if keys[i][0] and keys[i][1] * CONTENDER_RATIO >= best]
    return near if len(near) > 1 else []


def contenders(faces: Sequence[Face], image_size: tuple[int, int]) -> list[int]:
    """Faces close enough to the first (in :func:`order_indices`' order) that their quality
    should decide: eligible ones within :data:`CONTENDER_RATIO` of the best subject score.
    Empty when one face clearly wins (most photos: nothing more is computed)."""
    keys = _keys(faces, image_size)
    return _near(_order(keys), keys)


_QUALITY_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _quality_embedder():
    from lookalike.face.embedders import SFaceEmbedder

    return SFaceEmbedder()


def measure_quality(rgb: np.ndarray, faces: Sequence[Face]) -> list[float]:
    """SFace's raw feature norm of each face (before L2 normalisation): a face-quality
    signal — blurred, tiny or false faces give small norms
    (bench/studies/face_choice/bench_face_choice.py: it
    separates real from false detections and sharp subjects from out-of-focus faces better
    than the detector's score). One SFace through the runtime layer, whatever the embedder,
    loaded on first use (most photos never need it: see :func:`contenders`)."""
    with _QUALITY_LOCK:
        embedder = _quality_embedder()
    return embedder.feature_norms(np.ascontiguousarray(rgb), faces)


Quality = Callable[[np.ndarray, Sequence[Face]], list[float]]


def choose_indices(rgb: np.ndarray, faces: Sequence[Face], quality: Quality | None = None,
                   first_only: bool = False, limit: int | None = None
                   ) -> tuple[list[int], list[Face]]:
    """The order of the face choice (indices into ``faces``), measuring the quality of
    contenders, and the faces with it (``face.quality``, stored with a cached analysis: the
    measured records are filled in, not copied).
    ``quality``: what measures it (default :func:`measure_quality`; a pipeline that embeds
    with SFace passes its own network's, loaded already). ``limit``: at most this many faces
    are kept, the first of the order before any quality is measured (a crowd).

    ``first_only``: only the first face of the order is wanted (exactly the one of the full
    order, with the same measured quality): the best contender is measured alone, then the
    others best first, a few per inference, and no longer once none left could win even at
    the highest quality factor (12 MP wild photos: 53 faces measured in 31 photos instead of
    76; bench/studies/speed/NOTES-tail.md). The rest of the order is then approximate."""
    h, w = rgb.shape[:2]
    faces = list(faces)
    keys = _keys(faces, (w, h))  # each face's scores once (the order, then the contest)
    order = _order(keys)[:limit]
    near = _near(order, keys)
    if not near:
        return order, faces
    measure = quality or measure_quality
    todo = list(near)  # in the order of their scores before measuring: best first
    unknown = set(near)  # contenders not measured yet
    while todo:
        if first_only:
            # the best known score: measured contenders and eligible faces not contending
            bar = max((keys[i][1] for i in order if keys[i][0] and i not in unknown),
                      default=-np.inf)
            todo = [i for i in todo
                    if keys[i][1] / quality_factor(faces[i]) * MAX_QUALITY_FACTOR >= bar]
            if not todo:
                break
        if not first_only:
            batch = todo
        elif len(unknown) == len(near):
            # the best contender alone first: most often the answer (its vector is then the
            # answer's embedding), and its measured score rules out most other contenders
            batch = todo[:1]
        else:
            batch = todo[:MEASURE_CHUNK]
        todo = todo[len(batch):]
        for i, q in zip(batch, measure(rgb, [faces[i] for i in batch]), strict=True):
            faces[i].quality = q  # the record is filled in, as every stage does
            keys[i] = (keys[i][0], subject_score(faces[i], (w, h)))
            unknown.discard(i)
    return sorted(sorted(order), key=lambda i: (not keys[i][0], -keys[i][1])), faces


def choose_order(rgb: np.ndarray, faces: Sequence[Face], quality: Quality | None = None,
                 first_only: bool = False, limit: int | None = None) -> list[Face]:
    """``faces`` in the order of the face choice (see :func:`choose_indices`): the one place
    the face path orders a photo's faces."""
    order, faces = choose_indices(rgb, faces, quality, first_only, limit)
    return [faces[i] for i in order]


def order_faces(faces: Sequence[Face], image_size: tuple[int, int]) -> list[Face]:
    """``faces`` with the face the photo is about first (see :func:`order_indices`)."""
    return [faces[i] for i in order_indices(faces, image_size)]

#: A choice is reported as ambiguous when the best face beats the runner-up by less than this
#: (cosine agreement), or when no face agrees with the other photos at all.
AMBIGUITY_MARGIN = 0.08


@dataclass
class Choice:
    index: int  # which face of the photo (faces are in prominence order)
    agreement: float  # median cosine to the person's other photos (nan when alone)
    margin: float  # agreement of the chosen face minus the runner-up's (inf when one face)
    ambiguous: bool


def choose_faces(embeddings: list[np.ndarray], threshold: float,
                 faces: list[Sequence[Face]] | None = None) -> list[Choice]:
    """For each photo (an ``(n_faces, dim)`` array, most prominent face first) choose one face.

    Two rounds: first every face is scored by its median best-match similarity to the person's
    other photos (any of their faces), then re-scored against the faces chosen in round one.
    Photos whose person has no other photo keep their most prominent face. ``faces`` (the
    photos' faces, in the same order): a detection that does not look like a face
    (:func:`eligible`) is never chosen while the photo has one that does — the same rule as
    in prediction."""
    if faces is not None:
        keep = [np.array([eligible(f) for f in fs], bool) if any(eligible(f) for f in fs)
                else np.ones(len(fs), bool) for fs in faces]
        chosen = choose_faces([e[k] for e, k in zip(embeddings, keep, strict=True)], threshold)
        out = []
        for c, k in zip(chosen, keep, strict=True):
            index = int(np.flatnonzero(k)[c.index]) if k.any() else c.index
            out.append(Choice(index, c.agreement, c.margin, c.ambiguous))
        return out
    n = len(embeddings)
    choices = [Choice(0, float("nan"), float("inf"), False) for _ in range(n)]
    if n == 0:
        return choices
    flat = np.concatenate([e for e in embeddings if len(e)]) if any(len(e) for e in embeddings) \
        else np.zeros((0, 1))
    owner = np.concatenate([np.full(len(e), i) for i, e in enumerate(embeddings)]).astype(int)
    if n == 1 or len(flat) == 0:
        for i, e in enumerate(embeddings):
            choices[i] = Choice(0, float("nan"), float("inf") if len(e) <= 1 else 0.0,
                                len(e) > 1)
        return choices
    sims = flat @ flat.T
    # best similarity of each face to each photo
    best_to_photo = np.full((len(flat), n), -1.0)
    for j in range(n):
        m = owner == j
        if m.any():
            best_to_photo[:, j] = sims[:, m].max(axis=1)
    chosen = np.zeros(n, dtype=int)
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in embeddings])])

    def score_round(per_face_to_photo: np.ndarray) -> None:
        for i, e in enumerate(embeddings):
            if len(e) == 0:
                continue
            rows = per_face_to_photo[offsets[i]:offsets[i + 1]]
            others = [j for j in range(n) if j != i and len(embeddings[j])]
            if not others:
                continue
            scores = np.median(rows[:, others], axis=1)
            order = np.argsort(-scores)
            best = float(scores[order[0]])
            margin = float(scores[order[0]] - scores[order[1]]) if len(order) > 1 else float("inf")
            chosen[i] = int(order[0])
            choices[i] = Choice(int(order[0]), best, margin,
                                len(order) > 1 and (margin < AMBIGUITY_MARGIN or best < threshold))

    score_round(best_to_photo)
    # Round two: agreement with the faces chosen in round one only.
    chosen_flat = np.array([offsets[j] + chosen[j] if len(embeddings[j]) else -1 for j in range(n)])
    to_chosen = np.full((len(flat), n), -1.0)
    for j in range(n):
        if chosen_flat[j] >= 0:
            to_chosen[:, j] = sims[:, chosen_flat[j]]
    score_round(to_chosen)
    return choices
