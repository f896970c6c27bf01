"""``lookalike.group(photos)``: every face of every photo detected, embedded (through the
embedding cache; on a Dask cluster with ``cluster=``) and grouped into people; with ``out=`` the
grouping is written to (or added to) an OUT/ folder (:mod:`.store`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import LookalikeError, printable
from lookalike.grouping import store
from lookalike.grouping.model import DEFAULT_ALGORITHM, FaceItem, Group, Grouping, cluster, describe

PhotoInput = str | Path | tuple[str, bytes]


@dataclass
class _Faces:
    """The faces of a run, old and new, keyed by ``digest:x,y,w,h``."""

    items: dict[str, FaceItem] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    thumbs: dict[str, bytes] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    copies: int = 0

    def add(self, photo: str, res: Any) -> None:
        for i, face in enumerate(res.faces):
            # the photo's content and the face's box: stable whatever order faces come in
            key = f"{res.digest}:" + ",".join(str(round(float(v))) for v in face.box)
            if key in self.items:  # the same photo content again
                item = self.items[key]
                if photo != item.photo and photo not in item.copies:
                    item.copies.append(photo)
                    self.copies += i == 0
                continue
            self.items[key] = FaceItem(photo, [float(v) for v in face.box], key)
            self.vectors[key] = np.asarray(res.embeddings[i], np.float32)
            if i < len(res.thumbs):
                self.thumbs[key] = res.thumbs[i]


def expand(photos: Sequence[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Photo files, each folder replaced by the photos below it; folders without photos and
    paths that do not exist are returned as skipped ``(path, why)``."""
    from lookalike.photos.folders import photos_in

    out: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for p in map(Path, photos):
        if p.is_dir():
            found, _ignored = photos_in(p)
            out += found
            if not found:
                skipped.append((printable(p), "no photos in this folder"))
        elif p.exists():
            out.append(p)
        else:
            skipped.append((printable(p), "file not found"))
    return [p.absolute() for p in dict.fromkeys(out)], skipped


def _analyse(faces: _Faces, photos: Sequence[PhotoInput], *, pipe: Any, cluster_: Any,
             ship: str, progress: bool, workers: int | None = None) -> dict:
    """Detect and embed every face of every photo into ``faces`` (one
    :func:`lookalike.face.many.analyse` for uploads and files alike, in the photos' order);
    the embedder's description."""
    from lookalike.face.many import Job, analyse
    from lookalike.models.train import NO_FACE

    desc = {"name": pipe.embedder.name, "version": pipe.embedder.version,
            "threshold": float(pipe.embedder.threshold)}
    uploads = [p for p in photos if isinstance(p, tuple)]
    paths, skipped = expand([p for p in photos if not isinstance(p, tuple)])
    faces.skipped += skipped
    jobs = [Job(i, printable(name), data=data) for i, (name, data) in enumerate(uploads)]
    jobs += [Job(len(jobs) + i, str(p)) for i, p in enumerate(paths)]
    done = {r.task: r for r in analyse(jobs, pipe, workers=workers, cluster=cluster_,
                                       ship=ship, progress=progress, desc="faces")}
    for job in jobs:  # in the photos' order, however they were made
        rec = done[job.task]
        if rec.faces is None:
            faces.skipped.append((job.path, rec.error or "unreadable"))
            continue
        if not rec.faces.faces:
            faces.skipped.append((job.path, NO_FACE))
        faces.add(job.path, rec.faces)
    return desc


def _regroup(faces: _Faces, old: Grouping | None, threshold: float, algorithm: str
             ) -> tuple[list[Group], list[FaceItem]]:
    """Cluster every face; the faces of ``old``'s groups keep their group (and its id and
    name), new faces join it or make new groups."""
    keys = list(faces.items)
    X = np.stack([faces.vectors[k] for k in keys]) if keys else np.zeros((0, 1), np.float32)
    fixed = np.full(len(keys), -1, np.int64)
    old_groups = {g.id: g for g in (old.groups if old else [])}
    pos = {k: i for i, k in enumerate(keys)}
    for g in old_groups.values():
        for f in g.faces:
            if f.key in pos:
                fixed[pos[f.key]] = g.id
    labels = cluster(X, threshold, algorithm, fixed=fixed) if len(keys) else fixed
    members: dict[int, list[int]] = {}
    for i, lab in enumerate(labels.tolist()):
        members.setdefault(lab, []).append(i)
    groups: list[Group] = []
    unsorted: list[FaceItem] = []
    fresh: list[list[int]] = []
    for idx in members.values():
        gid = next((int(fixed[i]) for i in idx if fixed[i] >= 0), None)
        if gid is not None:
            groups.append(Group(gid, [faces.items[keys[i]] for i in idx], old_groups[gid].name))
        elif len(idx) >= 2:
            fresh.append(idx)
        else:
            unsorted.append(faces.items[keys[idx[0]]])
    next_id = max([*old_groups, 0]) + 1
    for idx in sorted(fresh, key=lambda m: (-len(m), m[0])):
        groups.append(Group(next_id, [faces.items[keys[i]] for i in idx]))
        next_id += 1
    for g in groups:
        g.faces, g.tightness = describe(g.faces, np.stack([faces.vectors[f.key]
                                                           for f in g.faces]), threshold)
    groups.sort(key=lambda g: g.id)
    return groups, unsorted


def group(photos: Sequence[PhotoInput], out: str | Path | None = None, *,
          embedder: str = "sface", threshold: float | None = None,
          algorithm: str = DEFAULT_ALGORITHM, cluster: Any = None, ship: str = "auto",
          copy: bool = False, progress: bool = True, cache: bool = True,
          crops: bool = False, pipeline: Any = None) -> Grouping:
    """Group the faces of ``photos`` (files, folders, or ``(name, bytes)`` uploads) into
    people. ``out``: an OUT/ folder to write (or, holding a grouping already, to add these
    photos to: earlier groups keep their ids and names, new faces join them or make new groups).
    ``threshold``: the cosine similarity that counts as the same person (default: the
    embedder's). ``crops``: the photos are face crops (the whole image is the face when none
    is detected). ``pipeline``: a :class:`~lookalike.face.pipeline.FacePipeline` to use (the
    server's), instead of a new one. Raises :class:`LookalikeError` when no photo has a face."""
    if pipeline is None:
        from lookalike.face.pipeline import FacePipeline

        pipeline = FacePipeline(embedder, cache=cache, crops=crops)
    embedder = pipeline.embedder.name
    old, faces = None, _Faces()
    if out is not None:
        store.check_out(out)
        if (Path(out) / store.GROUPS_JSON).is_file():
            old, faces.vectors, faces.thumbs = store.load(out)
            if old.embedder.get("name") not in (None, embedder):
                raise LookalikeError(f"grouped with embedder {old.embedder.get('name')}", out,
                                     f"use --embedder {old.embedder.get('name')}")
            for f in [*(f for g in old.groups for f in g.faces), *old.unsorted]:
                faces.items[f.key] = f
            faces.skipped = list(old.skipped)
    n_before = len(faces.items)
    desc = _analyse(faces, photos, pipe=pipeline, cluster_=cluster, ship=ship,
                    progress=progress)
    if not faces.items:
        why = "; ".join(f"{p}: {w}" for p, w in faces.skipped[:2])
        raise LookalikeError(f"no face found in the {len(photos)} photo(s) given"
                             + (f" ({why})" if why else ""),
                             fix="give photos with faces (JPEG, PNG, …) or folders of them")
    thr = float(desc["threshold"] if threshold is None else threshold)
    groups, unsorted = _regroup(faces, old, thr, algorithm)
    warnings = []
    if faces.copies:
        warnings.append(f"{faces.copies} photo(s) are byte-identical copies of others: each "
                        "face is grouped once (its copies are listed with it)")
    if not groups:
        warnings.append(f"no face matched another: all {len(unsorted)} are unsorted (one "
                        "photo, or photos of different people)")
    if len(faces.items) - n_before == 0 and old is not None:
        warnings.append("no new faces: these photos are grouped already")
    result = Grouping(groups, unsorted, _dedupe(faces.skipped), desc, thr, algorithm, warnings,
                      faces.thumbs)
    if out is not None:
        store.save(out, result, faces.vectors, faces.thumbs, copy=copy)
    return result


def _dedupe(skipped: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(skipped))
