"""Training a face-embedding model from a folder of photos of people."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.answer.heads import Head, make_head, robust_members
from lookalike.answer.ranking import FaceResult, PhotoResult
from lookalike.answer.scoring import score
from lookalike.answer.subject import KNOWN, choose_subject
from lookalike.errors import DatasetError, printable
from lookalike.face.choose import choose_faces
from lookalike.face.embedders import l2_normalize
from lookalike.face.pipeline import FacePipeline, PhotoFaces
from lookalike.models.archive import new_manifest
from lookalike.models.model import Model
from lookalike.photos.folders import Dataset, Photo, discover, fingerprint, split_person


@dataclass
class TrainReport:
    """What happened during training, for the summary and the report."""

    people: list[str]
    split: dict[str, dict[str, int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, why)
    ambiguous: list[tuple[str, str]] = field(default_factory=list)  # (photo, detail)
    #: Training photos the model distrusts (photo, why): left out, or kept out of the
    #: person's centre face (see :func:`distrust`).
    distrusted: list[tuple[str, str]] = field(default_factory=list)
    #: Training photos whose chosen face is not the most prominent one (photo, which face).
    chosen_against_prominence: list[tuple[str, str]] = field(default_factory=list)
    #: The box of the face used, for the photos in those two lists (for the report).
    faces: dict[str, list[float]] = field(default_factory=dict)
    #: The data folder (photo names are relative to it).
    root: Path | None = None
    warnings: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    #: Per-epoch rows (the article recipe's); a head fitted at once has none.
    history: list[dict[str, float]] | dict[str, list[float]] = field(default_factory=list)


NO_FACE = "no face found (use --crops if photos are face crops)"


def analyse_photos(pipeline: FacePipeline, photos: list[Photo], root: Path, *,
                   progress: bool = True, desc: str = "faces", cluster: Any = None,
                   ship: str = "auto", workers: int | None = None
                   ) -> tuple[dict[int, PhotoFaces], list[tuple[str, str]]]:
    """Analyse photos (:func:`lookalike.face.many.analyse`: in this process, on ``workers``
    processes or on a Dask ``cluster``): the faces of each photo with one, by its index, and
    the others as skipped (photo relative to ``root``, why), in the photos' order."""
    from lookalike.face.many import analyse, jobs_for

    found: dict[int, PhotoFaces] = {}
    failed: dict[int, str] = {}
    for rec in analyse(jobs_for(ph.path for ph in photos), pipeline, workers=workers,
                       cluster=cluster, ship=ship, progress=progress, desc=desc):
        if rec.faces is None or not rec.faces.faces:
            failed[rec.task] = NO_FACE if rec.faces is not None else rec.error or "unreadable"
        else:
            found[rec.task] = rec.faces
    return found, [(_rel(photos[i].path, root), failed[i]) for i in sorted(failed)]


def _rel(path: Path, root: Path) -> str:
    try:
        return printable(path.relative_to(root).as_posix())
    except ValueError:
        return printable(path.as_posix())


def train(
    data_dir: str | Path | Dataset,
    *,
    embedder: str = "sface",
    head: str = "centroid",
    crops: bool = False,
    seed: int = 0,
    validation_fraction: float = 0.2,
    refit: bool = False,
    progress: bool = True,
    cache: bool = True,
    log: Callable[[str], None] | None = None,
    cluster: Any = None,
    ship: str = "auto",
) -> tuple[Model, TrainReport]:
    """Learn the people in ``data_dir`` (see :mod:`lookalike.photos.folders` for layouts).

    Returns the model (not yet saved) and a report. ``refit``: after measuring on the
    validation photos, fit the final head on all photos. ``cluster``: make the embeddings on a
    Dask cluster (``local``, ``local:N``, ``tcp://host:8786`` or a ``distributed.Client``;
    ``ship``: how photos reach its workers), see :mod:`lookalike.face.cluster`."""
    say = log or (lambda _msg: None)
    ds = data_dir if isinstance(data_dir, Dataset) else discover(
        data_dir, seed=seed, validation_fraction=validation_fraction)
    pipeline = FacePipeline(embedder, crops=crops, cache=cache)
    say(f"{len(ds.photos)} photos of {len(ds.people)} people ({ds.layout} layout), "
        f"embedder {pipeline.embedder.name}")
    found, skipped = analyse_photos(pipeline, ds.photos, ds.root, progress=progress,
                                    cluster=cluster, ship=ship)
    skipped = [(_rel(Path(p), ds.root), "ignored: " + why) for p, why in ds.ignored] + skipped
    report = TrainReport([], {}, skipped, root=ds.root)
    by_digest = _drop_duplicates(ds, found, report)
    subset_of = _split(ds, found, seed, validation_fraction)
    _drop_leakage(ds, found, by_digest, subset_of, report)
    train_idx = _training_people(ds, found, subset_of, report)
    people = sorted(train_idx)
    label_of = {p: k for k, p in enumerate(people)}
    threshold = float(pipeline.embedder.threshold)
    chosen = _choose_faces(ds, found, train_idx, threshold, report)
    val_idx = _validation_photos(ds, found, subset_of, train_idx, report)

    def fit(idx: list[int]) -> tuple[Head, np.ndarray, np.ndarray]:
        X = np.stack([found[i].embeddings[chosen[i]] for i in idx])
        y = np.array([label_of[ds.photos[i].person] for i in idx])
        return make_head(head, radius=threshold).fit(X, y, len(people)), X, y

    tr = sorted(chosen)
    tr = distrust(ds, found, chosen, tr, people, label_of, threshold, report)
    the_head, X, y = fit(tr)
    metrics: dict = {"train_photos": len(tr), "validation_photos": len(val_idx)}
    if val_idx:
        probe = Model({"labels": people, "threshold": {"similarity": threshold}}, the_head, X, y)
        answers = [_subject_answer(probe, found[i]) for i in val_idx]
        yv = np.array([label_of[ds.photos[i].person] for i in val_idx])
        metrics.update(score(np.stack([a.proba for a in answers]), yv))
        metrics["validation_subject"] = "known"
    metrics["train_accuracy"] = float(np.mean(the_head.predict_proba(X).argmax(1) == y))
    if refit and val_idx:
        for i in val_idx:
            chosen[i] = _subject_answer(probe, found[i]).index or 0
        tr = sorted(set(tr) | set(val_idx))
        the_head, X, y = fit(tr)
    report.people = people
    report.metrics = metrics
    split_lists = _split_lists(ds, found, subset_of, label_of, report)
    manifest = _manifest(ds, found, pipeline, the_head, report, tr, split_lists, crops=crops,
                         refit=refit, seed=seed, validation_fraction=validation_fraction)
    thumbs = [found[i].thumbs[chosen[i]] if chosen[i] < len(found[i].thumbs) else b""
              for i in tr]
    return Model(manifest, the_head, X, y, thumbs), report


def _manifest(ds: Dataset, found: dict[int, PhotoFaces], pipeline: FacePipeline, the_head: Head,
              report: TrainReport, tr: list[int], split_lists: dict, *, crops: bool,
              refit: bool, seed: int, validation_fraction: float) -> dict:
    """What the model file says about itself: labels, embedder, head, threshold, split,
    metrics, the data's fingerprint and what was skipped."""
    return new_manifest(
        kind="embedding",
        labels=report.people,
        embedder={"name": pipeline.embedder.name, "version": pipeline.embedder.version,
                  "dim": pipeline.embedder.dim},
        detector=pipeline.detector.key,
        head={"type": the_head.kind, "calibrated": bool(the_head.calibrated_)},
        threshold={"similarity": float(pipeline.embedder.threshold),
                   "measure": "cosine to the closest training photo",
                   "source": "chosen on LFW different-person pairs; see BENCHMARKS.md"},
        crops=crops,
        refit=refit,
        split={"layout": ds.layout, "seed": seed, "validation_fraction": validation_fraction,
               **split_lists},
        train_photos=[ds.relpath(ds.photos[i]) for i in tr],
        metrics=report.metrics,
        data_fingerprint=fingerprint([(ds.relpath(ds.photos[i]), ds.photos[i].person,
                                       found[i].digest) for i in sorted(found)]),
        skipped=[list(s) for s in report.skipped],
        ambiguous=[list(a) for a in report.ambiguous],
        distrusted=[list(a) for a in report.distrusted],
        chosen_against_prominence=[list(a) for a in report.chosen_against_prominence],
        warnings=report.warnings,
    )


def _drop_duplicates(ds: Dataset, found: dict[int, PhotoFaces], report: TrainReport
                     ) -> dict[str, list[int]]:
    """The same content under two people: which label is right cannot be known, so neither
    is used. Returns the photos by content digest."""
    photos = ds.photos
    by_digest: dict[str, list[int]] = defaultdict(list)
    for i, res in found.items():
        by_digest[res.digest].append(i)
    for idxs in by_digest.values():
        if len(idxs) < 2:
            continue
        owners = {photos[i].person for i in idxs}
        names = ", ".join(ds.relpath(photos[i]) for i in idxs)
        if len(owners) > 1:
            report.warnings.append(f"the same photo is filed under {len(owners)} people "
                                   f"({names}); left out — keep it in one folder")
            for i in idxs:
                found.pop(i, None)
    return by_digest


def _split(ds: Dataset, found: dict[int, PhotoFaces], seed: int, validation_fraction: float
           ) -> dict[int, str]:
    """Each usable photo's side ("train" / "validation"). Person-folders layout: the usable
    photos are split (so unreadable files do not empty a side)."""
    photos = ds.photos
    subset_of = {i: photos[i].subset for i in found}
    if ds.layout == "person-folders":
        per_person: dict[str, list[int]] = defaultdict(list)
        for i in found:
            per_person[photos[i].person].append(i)
        for person, idxs in per_person.items():
            val = split_person([photos[i].path for i in idxs], person, seed, validation_fraction)
            for i in idxs:
                subset_of[i] = "validation" if photos[i].path in val else "train"
    return subset_of


def _drop_leakage(ds: Dataset, found: dict[int, PhotoFaces], by_digest: dict[str, list[int]],
                  subset_of: dict[int, str], report: TrainReport) -> None:
    """The same content on both sides of the split inflates validation figures: it is left
    out of validation."""
    for idxs in by_digest.values():
        idxs = [i for i in idxs if i in found]
        if {subset_of[i] for i in idxs} == {"train", "validation"}:
            names = ", ".join(ds.relpath(ds.photos[i]) for i in idxs)
            report.warnings.append(f"leakage: the same photo is in train and validation "
                                   f"({names}); left out of validation")
            for i in idxs:
                if subset_of[i] == "validation":
                    found.pop(i)


def _training_people(ds: Dataset, found: dict[int, PhotoFaces], subset_of: dict[int, str],
                     report: TrainReport) -> dict[str, list[int]]:
    """The training photos of each person with at least one; a clear error when none has."""
    train_idx: dict[str, list[int]] = defaultdict(list)
    for i in sorted(found):
        if subset_of[i] == "train":
            train_idx[ds.photos[i].person].append(i)
    people = sorted(train_idx)
    if not people:
        no_face = [p for p, why in report.skipped if why.startswith("no face")]
        unreadable = [p for p, why in report.skipped if not why.startswith("no face")]
        raise DatasetError(
            f"no usable training photos: {len(unreadable)} could not be read as photos"
            + (f" (e.g. {unreadable[0]})" if unreadable else "")
            + f", {len(no_face)} had no face" + (f" (e.g. {no_face[0]})" if no_face else ""),
            ds.root, "check the photos, or pass --crops if they are face crops")
    for person in sorted({p.person for p in ds.photos} - set(people)):
        report.warnings.append(f"{person}: no usable training photo; left out")
    if len(people) == 1:
        report.warnings.append(f"only one person ({people[0]}): every face gets 100 % for them; "
                               "the similarity and 'none of these' still say how alike — add "
                               "people to rank them")
    return train_idx


def _choose_faces(ds: Dataset, found: dict[int, PhotoFaces], train_idx: dict[str, list[int]],
                  threshold: float, report: TrainReport) -> dict[int, int]:
    """Which face of each training photo is the person (see :mod:`lookalike.face.choose`)."""
    chosen: dict[int, int] = {}
    for person, idxs in train_idx.items():
        choices = choose_faces([found[i].embeddings for i in idxs], threshold,
                               [found[i].faces for i in idxs])
        for i, c in zip(idxs, choices, strict=True):
            chosen[i] = c.index
            if c.index != 0:
                report.faces[ds.relpath(ds.photos[i])] = list(found[i].faces[c.index].box)
                report.chosen_against_prominence.append(
                    (ds.relpath(ds.photos[i]), f"face {c.index + 1} of "
                     f"{len(found[i].faces)} (agrees with {person}'s other photos)"))
            if c.ambiguous:
                detail = (f"{len(found[i].faces)} faces; chose face {c.index + 1} "
                          f"(agreement {c.agreement:.2f}, margin {c.margin:.2f})"
                          if c.agreement == c.agreement else
                          f"{len(found[i].faces)} faces and no other photo of {person} to "
                          "compare with; chose the most prominent")
                report.ambiguous.append((ds.relpath(ds.photos[i]), detail))
        if len(idxs) < 2:
            report.warnings.append(f"{person}: only {len(idxs)} usable training photo; "
                                   "add more for reliable answers")
    return chosen


def _subject_answer(model: Model, analysis: PhotoFaces) -> FaceResult:
    """The answer ``evaluate`` gives for an analysed photo: for the face it is about."""
    result = PhotoResult("", model.face_results(analysis.faces, analysis.embeddings),
                         analysis.image_size)
    return choose_subject(result, KNOWN).faces[0]


#: How much more like another person's centre face than its own a training face must be to
#: be left out (below it, a hard photo of the right person stays: on the wild set a profile
#: photo of an actress was 0.38 like an actor's centre and 0.32 like her own).
LEFT_OUT_MARGIN = 0.10


def distrust(ds: Dataset, found: dict[int, PhotoFaces], chosen: dict[int, int], tr: list[int],
             people: list[str], label_of: dict[str, int], threshold: float,
             report: TrainReport) -> list[int]:
    """The training photos to learn from, and why the others are distrusted.

    A photo whose chosen face is at least ``threshold`` like another person's centre face,
    and clearly more than like its own person's (by :data:`LEFT_OUT_MARGIN`: a mislabelled
    photo, or a co-star's face chosen for lack of a better one), is left out. A photo not
    within ``threshold`` of its person's robust centre
    (:func:`~lookalike.answer.heads.robust_members`:
    a stranger, a poster, a face the detector got wrong, or just a hard photo of them) stays,
    as a photo the answers' similarity can find, but does not make the centre face; both are
    listed."""
    if not tr:
        return tr
    X = l2_normalize(np.stack([found[i].embeddings[chosen[i]] for i in tr]))
    y = np.array([label_of[ds.photos[i].person] for i in tr])
    members = robust_members(X, y, len(people), threshold)
    sums = np.zeros((len(people), X.shape[1]))
    np.add.at(sums, y[members], X[members])
    S = X @ l2_normalize(sums).T
    other = np.where(np.arange(len(people))[None, :] == y[:, None], -np.inf, S)
    best_other = other.argmax(axis=1)
    own = S[np.arange(len(tr)), y]
    out = (other.max(axis=1) >= threshold) & (other.max(axis=1) >= own + LEFT_OUT_MARGIN)
    for k in range(len(people)):  # never a whole person
        if out[y == k].all():
            out[y == k] = False
    for row, i in enumerate(tr):
        name, k = ds.relpath(ds.photos[i]), y[row]
        if out[row] or not members[row]:
            report.faces[name] = list(found[i].faces[chosen[i]].box)
        if out[row]:
            j = best_other[row]
            report.distrusted.append((name, f"left out: face {chosen[i] + 1} looks like "
                                      f"{people[j]} (similarity {S[row, j]:.2f} to their "
                                      f"centre face, {own[row]:.2f} to {people[k]}'s)"))
        elif not members[row]:
            report.distrusted.append((name, f"not used for {people[k]}'s centre face "
                                      f"(similarity {own[row]:.2f} to it, under "
                                      f"{threshold:.2f})"))
    return [i for row, i in enumerate(tr) if not out[row]]


def _validation_photos(ds: Dataset, found: dict[int, PhotoFaces], subset_of: dict[int, str],
                       train_idx: dict[str, list[int]], report: TrainReport) -> list[int]:
    """Validation photos of known people (scored on the face `predict` would use: the most
    prominent, never the label)."""
    val_idx = [i for i in sorted(found)
               if subset_of[i] == "validation" and ds.photos[i].person in train_idx]
    for person in sorted(train_idx):
        n_val = sum(ds.photos[i].person == person for i in val_idx)
        if n_val == 0 and len(train_idx[person]) < 2:
            report.warnings.append(f"{person}: fewer than 2 usable photos, not in validation")
    return val_idx


def _split_lists(ds: Dataset, found: dict[int, PhotoFaces], subset_of: dict[int, str],
                 label_of: dict[str, int], report: TrainReport) -> dict[str, dict[str, list[str]]]:
    """Each side's photos per person (for the manifest); the counts go to the report."""
    split_lists: dict[str, dict[str, list[str]]] = {"train": {}, "validation": {}}
    for i in sorted(found):
        if ds.photos[i].person in label_of:
            split_lists[subset_of[i]].setdefault(ds.photos[i].person, []).append(
                ds.relpath(ds.photos[i]))
    report.split = {p: {"train": len(split_lists["train"].get(p, [])),
                        "validation": len(split_lists["validation"].get(p, []))}
                    for p in label_of}
    return split_lists


__all__ = ["Dataset", "TrainReport", "analyse_photos", "train"]
