"""Which face is the answer?

In any photo (:func:`order_faces`, used by the face path for prediction, comparison and as
the starting order in training): the face that is most the subject of the photo. In a training
photo (:func:`choose_faces`): the one that agrees with the same person's other photos — not
merely the largest (a celebrity beside a fan, a team photo)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .faces import Face, prominence


def order_indices(faces: Sequence[Face], image_size: tuple[int, int]) -> list[int]:
    """Indices of ``faces``, the face the photo is about first (stable for ties)."""
    return sorted(range(len(faces)), key=lambda i: -prominence(faces[i], image_size))


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


def choose_faces(embeddings: list[np.ndarray], threshold: float) -> list[Choice]:
    """For each photo (an ``(n_faces, dim)`` array, most prominent face first) choose one face.

    Two rounds: first every face is scored by its median best-match similarity to the person's
    other photos (any of their faces), then re-scored against the faces chosen in round one.
    Photos whose person has no other photo keep their most prominent face."""
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
