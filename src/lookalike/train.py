"""Training a face-embedding model from a folder of photos of people."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .choose import choose_faces
from .dataset import Dataset, Photo, discover, fingerprint, split_person
from .errors import DatasetError, ImageError, printable
from .heads import expected_calibration_error, make_head
from .model import Model, new_manifest
from .pipeline import FacePipeline, PhotoFaces
from .progress import bar


@dataclass
class TrainReport:
    """What happened during training, for the summary and the report."""

    people: list[str]
    split: dict[str, dict[str, int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, why)
    ambiguous: list[tuple[str, str]] = field(default_factory=list)  # (photo, detail)
    warnings: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


NO_FACE = "no face found (use --crops if photos are face crops)"


def analyze_photos(pipeline: FacePipeline, photos: list[Photo], root: Path, *,
                   progress: bool = True, desc: str = "faces", cluster: Any = None,
                   ship: str = "auto") -> tuple[dict[int, PhotoFaces], list[tuple[str, str]]]:
    """Analyse photos; unreadable ones and ones without a face are returned as skipped.
    ``cluster``: on a Dask cluster (see :mod:`lookalike.cluster`)."""
    if cluster is not None:
        from .cluster import analyze_photos as on_cluster

        return on_cluster(pipeline, photos, root, cluster=cluster, ship=ship,
                          progress=progress, desc=desc)
    found: dict[int, PhotoFaces] = {}
    skipped: list[tuple[str, str]] = []
    for i, ph in enumerate(bar(photos, desc=desc, enabled=progress)):
        rel = _rel(ph.path, root)
        try:
            result = pipeline.analyze(ph.path, name=rel)
        except ImageError as err:
            skipped.append((rel, err.detail))
            continue
        if not result.faces:
            skipped.append((rel, NO_FACE))
            continue
        found[i] = result
    return found, skipped


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
    """Learn the people in ``data_dir`` (see :mod:`lookalike.dataset` for layouts).

    Returns the model (not yet saved) and a report. ``refit``: after measuring on the
    validation photos, fit the final head on all photos. ``cluster``: make the embeddings on a
    Dask cluster (``local``, ``local:N``, ``tcp://host:8786`` or a ``distributed.Client``;
    ``ship``: how photos reach its workers), see :mod:`lookalike.cluster`."""
    say = log or (lambda _msg: None)
    ds = data_dir if isinstance(data_dir, Dataset) else discover(
        data_dir, seed=seed, validation_fraction=validation_fraction)
    pipeline = FacePipeline(embedder, crops=crops, cache=cache)
    say(f"{len(ds.photos)} photos of {len(ds.people)} people ({ds.layout} layout), "
        f"embedder {pipeline.embedder.name}")
    found, skipped = analyze_photos(pipeline, ds.photos, ds.root, progress=progress,
                                    cluster=cluster, ship=ship)
    skipped = [(_rel(Path(p), ds.root), "ignored: " + why) for p, why in ds.ignored] + skipped
    report = TrainReport([], {}, skipped)
    photos = ds.photos

    # Duplicates: the same content under two people, or in train and validation.
    by_digest: dict[str, list[int]] = defaultdict(list)
    for i, res in found.items():
        by_digest[res.digest].append(i)
    for idxs in by_digest.values():
        if len(idxs) < 2:
            continue
        owners = {photos[i].person for i in idxs}
        names = ", ".join(ds.relpath(photos[i]) for i in idxs)
        if len(owners) > 1:  # which label is right cannot be known: use neither
            report.warnings.append(f"the same photo is filed under {len(owners)} people "
                                   f"({names}); left out — keep it in one folder")
            for i in idxs:
                found.pop(i, None)

    # Person-folders layout: split the usable photos (so unreadable files do not empty a side).
    subset_of = {i: photos[i].subset for i in found}
    if ds.layout == "person-folders":
        per_person: dict[str, list[int]] = defaultdict(list)
        for i in found:
            per_person[photos[i].person].append(i)
        for person, idxs in per_person.items():
            val = split_person([photos[i].path for i in idxs], person, seed, validation_fraction)
            for i in idxs:
                subset_of[i] = "validation" if photos[i].path in val else "train"

    # Leakage: the same content on both sides of the split inflates validation figures.
    for idxs in by_digest.values():
        idxs = [i for i in idxs if i in found]
        if {subset_of[i] for i in idxs} == {"train", "validation"}:
            names = ", ".join(ds.relpath(photos[i]) for i in idxs)
            report.warnings.append(f"leakage: the same photo is in train and validation "
                                   f"({names}); left out of validation")
            for i in idxs:
                if subset_of[i] == "validation":
                    found.pop(i)

    # Face choice in training photos, per person.
    train_idx: dict[str, list[int]] = defaultdict(list)
    for i in sorted(found):
        if subset_of[i] == "train":
            train_idx[photos[i].person].append(i)
    people = sorted(train_idx)
    if not people:
        no_face = [p for p, why in skipped if why.startswith("no face")]
        unreadable = [p for p, why in skipped if not why.startswith("no face")]
        raise DatasetError(
            f"no usable training photos: {len(unreadable)} could not be read as photos"
            + (f" (e.g. {unreadable[0]})" if unreadable else "")
            + f", {len(no_face)} had no face" + (f" (e.g. {no_face[0]})" if no_face else ""),
            ds.root, "check the photos, or pass --crops if they are face crops")
    for person in sorted({p.person for p in photos} - set(people)):
        report.warnings.append(f"{person}: no usable training photo; left out")
    if len(people) == 1:
        report.warnings.append(f"only one person ({people[0]}): every face gets 100 % for them; "
                               "the similarity and 'none of these' still say how alike — add "
                               "people to rank them")
    label_of = {p: k for k, p in enumerate(people)}
    threshold = float(pipeline.embedder.threshold)
    chosen: dict[int, int] = {}
    for person, idxs in train_idx.items():
        choices = choose_faces([found[i].embeddings for i in idxs], threshold)
        for i, c in zip(idxs, choices, strict=True):
            chosen[i] = c.index
            if c.ambiguous:
                detail = (f"{len(found[i].faces)} faces; chose face {c.index + 1} "
                          f"(agreement {c.agreement:.2f}, margin {c.margin:.2f})"
                          if c.agreement == c.agreement else
                          f"{len(found[i].faces)} faces and no other photo of {person} to "
                          "compare with; chose the most prominent")
                report.ambiguous.append((ds.relpath(photos[i]), detail))
        if len(idxs) < 2:
            report.warnings.append(f"{person}: only {len(idxs)} usable training photo; "
                                   "add more for reliable answers")

    # Validation photos: the face `predict` would use (the most prominent), never the label.
    val_idx = [i for i in sorted(found)
               if subset_of[i] == "validation" and photos[i].person in label_of]
    for person in people:
        n_val = sum(photos[i].person == person for i in val_idx)
        if n_val == 0 and len(train_idx[person]) < 2:
            report.warnings.append(f"{person}: fewer than 2 usable photos, not in validation")

    tr = sorted(chosen)
    X = np.stack([found[i].embeddings[chosen[i]] for i in tr])
    y = np.array([label_of[photos[i].person] for i in tr])
    the_head = make_head(head).fit(X, y, len(people))

    metrics: dict = {"train_photos": len(tr), "validation_photos": len(val_idx)}
    if val_idx:
        Xv = np.stack([found[i].embeddings[0] for i in val_idx])
        yv = np.array([label_of[photos[i].person] for i in val_idx])
        proba = the_head.predict_proba(Xv)
        top = np.argsort(-proba, axis=1)
        metrics.update(
            accuracy=float(np.mean(top[:, 0] == yv)),
            top3_accuracy=float(np.mean([yv[k] in top[k, :3] for k in range(len(yv))])),
            ece=expected_calibration_error(proba, yv),
            nll=float(-np.mean(np.log(np.clip(proba[np.arange(len(yv)), yv], 1e-12, 1)))),
        )
    metrics["train_accuracy"] = float(np.mean(the_head.predict_proba(X).argmax(1) == y))
    if refit and val_idx:
        tr = sorted(set(tr) | set(val_idx))
        for i in val_idx:
            chosen[i] = 0
        X = np.stack([found[i].embeddings[chosen[i]] for i in tr])
        y = np.array([label_of[photos[i].person] for i in tr])
        the_head = make_head(head).fit(X, y, len(people))

    split_lists: dict[str, dict[str, list[str]]] = {"train": {}, "validation": {}}
    for i in sorted(found):
        if photos[i].person in label_of:
            split_lists[subset_of[i]].setdefault(photos[i].person, []).append(
                ds.relpath(photos[i]))
    report.people = people
    report.split = {p: {"train": len(split_lists["train"].get(p, [])),
                        "validation": len(split_lists["validation"].get(p, []))} for p in people}
    report.metrics = metrics
    manifest = new_manifest(
        kind="embedding",
        labels=people,
        embedder={"name": pipeline.embedder.name, "version": pipeline.embedder.version,
                  "dim": pipeline.embedder.dim},
        detector=pipeline.detector.key,
        head={"type": the_head.kind, "calibrated": bool(getattr(the_head, "calibrated", False))},
        threshold={"similarity": threshold, "measure": "cosine to the closest training photo",
                   "source": "chosen on LFW different-person pairs; see BENCHMARKS.md"},
        crops=crops,
        refit=refit,
        split={"layout": ds.layout, "seed": seed, "validation_fraction": validation_fraction,
               **split_lists},
        train_photos=[ds.relpath(photos[i]) for i in tr],
        metrics=metrics,
        data_fingerprint=fingerprint([(ds.relpath(photos[i]), photos[i].person, found[i].digest)
                                      for i in sorted(found)]),
        skipped=[list(s) for s in report.skipped],
        ambiguous=[list(a) for a in report.ambiguous],
        warnings=report.warnings,
    )
    thumbs = [found[i].thumbs[chosen[i]] if chosen[i] < len(found[i].thumbs) else b""
              for i in tr]
    model = Model(manifest, the_head, X, y, thumbs)
    return model, report


__all__ = ["Dataset", "TrainReport", "analyze_photos", "train"]
