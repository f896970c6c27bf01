"""Face embeddings of the grouping benchmark's sets (bench_group.py): every face of every
photo through the face path (the embedding cache makes later runs fast), with the person each
scored face is.

Which faces are scored ("the truth"):

- LFW and lfw7 (hand-cropped, centred): the face the face path puts first (the photo's subject);
  the other faces of a photo (bystanders) are grouped too, not scored.
- wild (uncropped web photos in folders named after a person, label noise included): the face
  of each photo that training would take as the folder's person (``choose.choose_faces``: the
  face that agrees with the folder's other photos); the others (bystanders, co-stars of group
  shots) are grouped, not scored. A photo in the folder that shows someone else is scored as the
  folder's person anyway (its label is wrong, the score pays for it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.errors import ImageError
from lookalike.face.choose import choose_faces, eligible
from lookalike.face.pipeline import FacePipeline
from lookalike.progress import bar


def photos_of(root: Path, pattern: str) -> list[tuple[Path, str]]:
    """(photo, person) for every JPEG matching ``pattern`` below ``root``; the person is the
    photo's folder name."""
    return [(p, p.parent.name) for p in sorted(root.glob(pattern))]


def load(photos: list[tuple[Path, str]], *, choose: str = "first", embedder: str = "sface"
         ) -> dict[str, np.ndarray]:
    """Every face of every photo: ``X`` (n, dim), ``photo`` (photo index of each face), ``truth``
    (person index; -1: not scored), ``first`` (the face is its photo's first), ``people``
    (names)."""
    pipe = FacePipeline(embedder)
    found = []
    for path, person in bar(photos, desc="faces"):
        try:
            res = pipe.analyze(path)
        except ImageError:
            continue
        if res.faces:
            found.append((path, person, res))
    people = sorted({p for _, p, _ in found})
    pid = {p: i for i, p in enumerate(people)}
    chosen = [0] * len(found)
    if choose == "agree":
        by_person: dict[str, list[int]] = {}
        for i, (_, person, _) in enumerate(found):
            by_person.setdefault(person, []).append(i)
        thr = float(pipe.embedder.threshold)
        for idxs in by_person.values():
            for i, c in zip(idxs, choose_faces([found[i][2].embeddings for i in idxs], thr,
                                               [found[i][2].faces for i in idxs]), strict=True):
                chosen[i] = c.index
    X, photo, truth, first, ok, side = [], [], [], [], [], []
    for i, (_, person, res) in enumerate(found):
        for f, face in enumerate(res.faces):
            X.append(res.embeddings[f])
            photo.append(i)
            truth.append(pid[person] if f == chosen[i] else -1)
            first.append(f == 0)
            ok.append(eligible(face))
            side.append(min(face.box[2], face.box[3]))
    return {"X": np.asarray(X, np.float32), "photo": np.asarray(photo),
            "truth": np.asarray(truth), "first": np.asarray(first, bool),
            "eligible": np.asarray(ok, bool), "side": np.asarray(side, np.float32),
            "people": np.asarray(people), "photos": np.asarray([str(p) for p, _, _ in found])}
