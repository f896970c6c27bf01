"""Naming, merging and splitting the groups of an OUT/ folder (``lookalike group name|merge|
split``). Group ids never change; names stay with their group through later runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.grouping import store
from lookalike.grouping.model import Group, Grouping, describe
from lookalike.grouping.store import GroupError


def _find(grouping: Grouping, gid: int, out: Path) -> Group:
    try:
        return grouping.group(int(gid))
    except (KeyError, ValueError):
        ids = ", ".join(str(g.id) for g in grouping.groups[:12])
        raise GroupError(f"no group {gid}", out, f"the groups are {ids}"
                         + (", …" if len(grouping.groups) > 12 else "")) from None


def _vectors(group: Group, vectors: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([vectors[f.key] for f in group.faces])


def name_group(out: str | Path, gid: int, name: str, *, copy: bool = False) -> Group:
    """Give group ``gid`` a name (its folder is renamed to it)."""
    out = Path(out)
    grouping, vectors, thumbs = store.load(out)
    group = _find(grouping, gid, out)
    group.name = store.check_name(name, grouping, group.id)
    store.save(out, grouping, vectors, thumbs, copy=copy)
    return group


def merge_groups(out: str | Path, ids: list[int], *, copy: bool = False) -> Group:
    """Merge groups into the first one given (its id; the one name among them)."""
    out = Path(out)
    grouping, vectors, thumbs = store.load(out)
    groups = [_find(grouping, gid, out) for gid in dict.fromkeys(ids)]
    if len(groups) < 2:
        raise GroupError("give two different groups to merge", fix="e.g. lookalike group "
                         f"merge {out} 3 7")
    names = {g.name for g in groups if g.name}
    if len(names) > 1:
        raise GroupError(f"the groups have different names ({', '.join(sorted(names))})",
                         fix="rename one first, if they are one person")
    keep = groups[0]
    keep.name = next(iter(names), None)
    for g in groups[1:]:
        keep.faces += g.faces
        grouping.groups.remove(g)
    keep.faces, keep.tightness = describe(keep.faces, _vectors(keep, vectors),
                                          grouping.threshold)
    store.save(out, grouping, vectors, thumbs, copy=copy)
    return keep


def split_group(out: str | Path, gid: int, *, copy: bool = False) -> tuple[Group, Group]:
    """Split a group in two (average linkage, two clusters): the part with more faces keeps
    the id and the name, the other becomes a new, unnamed group."""
    from sklearn.cluster import AgglomerativeClustering

    out = Path(out)
    grouping, vectors, thumbs = store.load(out)
    group = _find(grouping, gid, out)
    if len(group.faces) < 2:
        raise GroupError(f"group {gid} has one face", out, "nothing to split")
    X = _vectors(group, vectors)
    lab = AgglomerativeClustering(n_clusters=2, metric="cosine",
                                  linkage="average").fit_predict(X)
    if np.bincount(lab, minlength=2)[0] < np.bincount(lab, minlength=2)[1]:
        lab = 1 - lab
    faces = group.faces
    new = Group(max(g.id for g in grouping.groups) + 1,
                [f for f, k in zip(faces, lab, strict=True) if k == 1])
    group.faces = [f for f, k in zip(faces, lab, strict=True) if k == 0]
    for g in (group, new):
        g.faces, g.tightness = describe(g.faces, _vectors(g, vectors), grouping.threshold)
    grouping.groups.insert(grouping.groups.index(group) + 1, new)
    store.save(out, grouping, vectors, thumbs, copy=copy)
    return group, new
