"""Measuring a model on a labelled folder ``DIR/<person>/*``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lookalike.answer.ranking import PhotoResult
from lookalike.answer.scoring import score
from lookalike.answer.subject import KNOWN
from lookalike.errors import ImageError
from lookalike.models.recognizer import Recognizer
from lookalike.photos.folders import Photo, list_labelled
from lookalike.progress import bar
from lookalike.schema import stamp


def evaluate(model: Recognizer, data_dir: str | Path, *, progress: bool = True,
             subject: str = KNOWN) -> dict:
    """Accuracy, top-3, per-person precision / recall / F1, confusion matrix, calibration.

    Each photo is filed under a person, so its answer is for the face it is about
    (``subject="known"``, :mod:`lookalike.answer.subject`: the face most confidently one of the
    model's people, else the most prominent one; ``"prominent"``: what ``predict`` answers
    for a look-alike query). People not known to the model are counted apart
    (``unknown_people``) and left out of accuracy; photos without a face or unreadable are
    counted in ``no_face`` / ``unreadable``. Each misclassified photo says whether it is a
    face-choice error (its person is another face of the photo) or an identity error."""
    root = Path(data_dir)
    photos = list_labelled(root)
    labels = model.labels
    index = {p: i for i, p in enumerate(labels)}
    y_true, probas, rows = [], [], []
    no_face, unreadable = [], []
    outsiders: dict[str, int] = {}
    known = []
    for ph in photos:
        if ph.person not in index:
            outsiders[ph.person] = outsiders.get(ph.person, 0) + 1
        else:
            known.append(ph)
    for ph, res in _answers(model, known, root, subject, progress):
        rel = ph.path.relative_to(root).as_posix()
        if isinstance(res, str):
            unreadable.append([rel, res])
            continue
        if not res.faces:
            no_face.append(rel)
            continue
        y_true.append(index[ph.person])
        probas.append(res.faces[0].proba)
        rows.append(_row(res, rel, ph.person, index[ph.person]))
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
    out.update(
        **{k: round(v, 4) for k, v in score(P, y).items()},
        unknown_rate=round(float(np.mean([r["unknown"] for r in rows])), 4),
        per_person=_per_person(cm, labels),
        labels=labels,
        confusion=cm.tolist(),
        misclassified=[_error(r) for r in rows if r["predicted"] != r["person"]],
        chosen_against_prominence=[r["photo"] for r in rows
                                   if r["chosen_by"] and r["face_index"] != 1],
        subject=subject,
        no_face_photos=no_face,
        unreadable_photos=unreadable,
    )
    out["_rows"] = rows
    out["_proba"] = P
    out["_y"] = y
    return out


def _answers(model: Recognizer, photos: list[Photo], root: Path, subject: str,
             progress: bool) -> Iterator[tuple[Photo, PhotoResult | str]]:
    """Each photo's answer for the face it is about (every face answered), or why it could
    not be read. A model answering through the shared face pipeline has its photos analysed
    as many photos are (:func:`lookalike.face.many.analyse`: the faces of several photos per
    inference); another kind answers photo by photo."""
    pipe = model.pipeline
    if pipe is None:
        for ph in bar(photos, desc="evaluate", enabled=progress):
            rel = ph.path.relative_to(root).as_posix()
            try:
                yield ph, model.predict_subject(ph.path, name=rel, subject=subject,
                                                all_faces=True)
            except ImageError as err:
                yield ph, str(err)
        return
    from lookalike.answer.subject import check_subject, choose_subject
    from lookalike.face.many import analyse, jobs_for

    known = check_subject(subject) == KNOWN and model.threshold is not None
    for rec in analyse(jobs_for(ph.path for ph in photos), pipe, progress=progress,
                       desc="evaluate"):
        ph = photos[rec.task]
        rel = ph.path.relative_to(root).as_posix()
        a = rec.faces
        if a is None:
            yield ph, str(ImageError(rec.error or "unreadable", rel))
            continue
        faces = model.face_results(a.faces, a.embeddings)
        res = PhotoResult(rel, faces, a.image_size, None if faces else "no face found",
                          a.n_faces)
        yield ph, choose_subject(res, KNOWN, True) if known else res


def _row(res: PhotoResult, rel: str, person: str, label: int) -> dict:
    """One scored photo: its answer (for the face chosen), which face that is and why."""
    face = res.faces[0]
    return {"photo": rel, "person": person, "predicted": face.top.person,
            "probability": round(float(face.top.probability), 4),
            "true_probability": round(float(face.proba[label]), 4),
            "unknown": bool(face.unknown),
            "ranking": [m.to_dict() for m in face.ranking[:5]],
            "box": [round(v, 1) for v in face.face.box],
            "face_index": (face.index or 0) + 1, "faces_in_photo": res.n_faces,
            "chosen_by": face.chosen_by, "other_face": _other_face(res, person)}


def _per_person(cm: np.ndarray, labels: list[str]) -> dict:
    """Precision, recall, F1 and support of each person, from the confusion matrix."""
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
    return per_person


def _other_face(res: PhotoResult, person: str) -> dict | None:
    """Another face of the photo whose answer is ``person`` (when the chosen one's is not):
    which face it is (its ``rank`` in the photo's face order, 1 = the most prominent) with its
    box, so that a face-choice error reads apart from an identity error."""
    if not res.faces or res.faces[0].top.person == person:
        return None
    for fr in res.faces[1:]:
        if fr.top.person == person:
            return {"rank": (fr.index or 0) + 1, "of": res.n_faces,
                    "box": [round(v, 1) for v in fr.face.box],
                    "probability": round(float(fr.top.probability), 4),
                    "unknown": bool(fr.unknown)}
    return None


def _error(row: dict) -> dict:
    """A misclassified photo's row with its kind of error: "face choice" when another face of
    the photo is the labelled person, else "identity"."""
    return dict(row, error="face choice" if row["other_face"] else "identity")


def public(result: dict) -> dict:
    """The JSON-safe part of an evaluation result: the ``evaluate`` answer."""
    return stamp("evaluate", {k: v for k, v in result.items() if not k.startswith("_")})
