"""Measuring a model on a labelled folder ``DIR/<person>/*``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import list_labelled
from .errors import ImageError
from .progress import bar
from .recognizer import Recognizer
from .scoring import score


def evaluate(model: Recognizer, data_dir: str | Path, *, progress: bool = True) -> dict:
    """Accuracy, top-3, per-person precision / recall / F1, confusion matrix, calibration.

    Each photo is answered exactly as ``predict`` would (its most prominent face). People not
    known to the model are counted apart (``unknown_people``) and left out of accuracy; photos
    without a face or unreadable are counted in ``no_face`` / ``unreadable``."""
    root = Path(data_dir)
    photos = list_labelled(root)
    labels = model.labels
    index = {p: i for i, p in enumerate(labels)}
    y_true, probas, rows = [], [], []
    no_face, unreadable = [], []
    outsiders: dict[str, int] = {}
    for ph in bar(photos, desc="evaluate", enabled=progress):
        rel = ph.path.relative_to(root).as_posix()
        if ph.person not in index:
            outsiders[ph.person] = outsiders.get(ph.person, 0) + 1
            continue
        try:
            res = model.predict(ph.path, name=rel)
        except ImageError as err:
            unreadable.append([rel, str(err)])
            continue
        if not res.faces:
            no_face.append(rel)
            continue
        face = res.faces[0]
        y_true.append(index[ph.person])
        probas.append(face.proba)
        rows.append({"photo": rel, "person": ph.person, "predicted": face.top.person,
                     "probability": round(float(face.top.probability), 4),
                     "true_probability": round(float(face.proba[index[ph.person]]), 4),
                     "unknown": bool(face.unknown),
                     "ranking": [m.to_dict() for m in face.ranking[:5]],
                     "box": [round(v, 1) for v in face.face.box]})
    n = len(y_true)
    out: dict = {"n": n, "photos": len(photos), "no_face": len(no_face),
                 "unreadable": len(unreadable), "unknown_people": outsiders}
    if n == 0:
        out.update(accuracy=None, top3_accuracy=None)
        return out
    y = np.array(y_true)
    P = np.stack(probas)
    order = np.argsort(-P, axis=1)
    pred = order[:, 0]
    k = len(labels)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, pred), 1)
    per_person = {}
    for i, name in enumerate(labels):
        tp = cm[i, i]
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_person[name] = {"precision": round(prec, 4), "recall": round(rec, 4),
                            "f1": round(f1, 4), "n": support}
    out.update(
        **{k: round(v, 4) for k, v in score(P, y).items()},
        unknown_rate=round(float(np.mean([r["unknown"] for r in rows])), 4),
        per_person=per_person,
        labels=labels,
        confusion=cm.tolist(),
        misclassified=[_face_choice(model, root, r) for r in rows
                       if r["predicted"] != r["person"]],
        no_face_photos=no_face,
        unreadable_photos=unreadable,
    )
    out["_rows"] = rows
    out["_proba"] = P
    out["_y"] = y
    return out


def _face_choice(model: Recognizer, root: Path, row: dict) -> dict:
    """A misclassified photo's row, saying whether its labelled person is another face in it:
    ``other_face`` = that face's rank in the photo's face order (2 = the runner-up) with its
    box, so that a face-choice error reads apart from an identity error; None when no other
    face is the labelled person (or the photo has one face)."""
    row = dict(row, other_face=None)
    try:
        res = model.predict(root / row["photo"], all_faces=True, name=row["photo"])
    except ImageError:
        return row
    for rank, fr in enumerate(res.faces[1:], 2):
        if fr.top.person == row["person"]:
            row["other_face"] = {"rank": rank, "of": len(res.faces),
                                 "box": [round(v, 1) for v in fr.face.box],
                                 "probability": round(float(fr.top.probability), 4),
                                 "unknown": bool(fr.unknown)}
            break
    return row


def public(result: dict) -> dict:
    """The JSON-safe part of an evaluation result."""
    return {k: v for k, v in result.items() if not k.startswith("_")}
