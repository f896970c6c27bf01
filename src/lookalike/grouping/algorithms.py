"""Grouping face embeddings into people: average linkage (the default, chosen by measurement in
bench/studies/group/bench_group.py), Chinese whispers and HDBSCAN, each over the same kNN graph.

Every function returns one label per face (``0 .. n_groups-1``, a face that matches nobody is a
group of its own) and keeps two faces of one photo apart when ``photo`` is given: a photo shows
a person once (a mirror aside)."""

from __future__ import annotations

import heapq

import numpy as np

from lookalike.grouping.graph import K, edges, knn


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels ``0..g-1`` in order of first appearance, larger groups are not reordered."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].astype(np.int64)


def average_linkage(X: np.ndarray, threshold: float, *, photo: np.ndarray | None = None,
                    k: int = K, graph: tuple[np.ndarray, np.ndarray] | None = None,
                    fixed: np.ndarray | None = None, penalty: float = 0.0) -> np.ndarray:
    """Agglomerative clustering with average linkage, cut where the mean cosine similarity
    between two groups falls below ``threshold`` + ``penalty`` / sqrt(|A| |B|).

    ``penalty`` asks more of small groups: the mean of |A| |B| similarities between two
    different people scatters less around its expectation the more pairs it averages, so two
    faces alone must be ``threshold + penalty`` alike, two large groups about ``threshold``.

    Exact average linkage needs no N x N matrix: with L2-normalised faces the mean similarity of
    all pairs across groups A and B is ``sum(A) . sum(B) / (|A| |B|)``, so each group keeps the
    sum of its vectors. Only groups joined by an edge of the kNN graph with similarity >=
    ``threshold`` are candidates (two groups whose mean is above the threshold have such a pair,
    unless neither face is among the other's k nearest). ``fixed``: an initial label per face
    (-1: none) whose groups are never merged with each other (named groups in an incremental
    run); their faces start together."""
    X = np.asarray(X, np.float64)
    n = len(X)
    if n == 0:
        return np.zeros(0, np.int64)
    idx, sims = graph if graph is not None else knn(X, k)
    a, b, s = edges(idx, sims, threshold)
    group, members, anchor, photos, S, size = _start(X, fixed, photo)
    nbrs = _neighbours(group, members, a, b)

    def score(g: np.ndarray | int, h: np.ndarray) -> np.ndarray:
        """Mean similarity of g to each h, less the penalty (vectorised over h)."""
        ab = size[g] * size[h]
        dots = S[h] @ S[g] if isinstance(g, int) else np.einsum("ij,ij->i", S[g], S[h])
        return dots / ab - penalty / np.sqrt(ab)

    pairs = np.array([(g, h) for g in nbrs for h in nbrs[g] if g < h], np.int64).reshape(-1, 2)
    # in blocks: S[g] for millions of pairs at once would be gigabytes
    first = np.concatenate([score(pairs[i:i + 65536, 0], pairs[i:i + 65536, 1])
                            for i in range(0, len(pairs), 65536)]) if len(pairs) else np.zeros(0)
    ok = first >= threshold  # a pair below it changes only when one side grows (then re-queued)
    version = [0] * n  # a group's version grows when it merges: older entries are stale
    heap = [(v, g, h, 0, 0) for v, g, h in zip((-first[ok]).tolist(), pairs[ok, 0].tolist(),
                                                pairs[ok, 1].tolist(), strict=True)]
    heapq.heapify(heap)
    while heap:
        _neg, g, h, vg, vh = heapq.heappop(heap)
        if version[g] != vg or version[h] != vh or g not in members or h not in members \
                or h not in nbrs[g]:
            continue  # stale: one of them grew since (a fresh entry is queued) or is gone
        if g in anchor and h in anchor or (photo is not None and photos[g] & photos[h]):
            nbrs[g].discard(h)
            nbrs[h].discard(g)
            continue
        if len(members[g]) < len(members[h]):
            g, h = h, g
        members[g] += members.pop(h)
        version[g] += 1
        version[h] += 1
        S[g] += S[h]
        size[g] += size[h]
        if photo is not None:
            photos[g] |= photos.pop(h)
        if h in anchor:
            anchor[g] = anchor.pop(h)
        merged = (nbrs[g] | nbrs.pop(h)) - {g, h}
        nbrs[g] = merged
        for o in merged:
            nbrs[o].discard(h)
            nbrs[o].add(g)
        if merged:
            others = np.fromiter(merged, np.int64, len(merged))
            fresh = score(g, others)
            for o, v in zip(others[fresh >= threshold].tolist(),
                            fresh[fresh >= threshold].tolist(), strict=True):
                a_, b_ = min(g, o), max(g, o)
                heapq.heappush(heap, (-v, a_, b_, version[a_], version[b_]))
    labels = np.empty(n, np.int64)
    for lab, mem in enumerate(members.values()):
        labels[mem] = lab
    return relabel(labels)


def _start(X: np.ndarray, fixed: np.ndarray | None, photo: np.ndarray | None) -> tuple:
    """The starting groups: each live group has an id (a face index), its members, the fixed
    label it carries (anchor), its photos, and the sum of its vectors (row of S) and size."""
    n = len(X)
    group = np.arange(n)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    photos: dict[int, set] = {}
    anchor: dict[int, int] = {}
    if fixed is not None:
        for lab in np.unique(fixed[fixed >= 0]):
            who = np.flatnonzero(fixed == lab)
            root = int(who[0])
            for i in who[1:]:
                members[root] += members.pop(int(i))
                group[i] = root
            anchor[root] = int(lab)
    S = np.zeros_like(X)
    size = np.zeros(n)
    for g, mem in members.items():
        S[g] = X[mem].sum(axis=0)
        size[g] = len(mem)
        if photo is not None:
            photos[g] = {int(photo[i]) for i in mem}
    return group, members, anchor, photos, S, size


def _neighbours(group: np.ndarray, members: dict[int, list[int]], a: np.ndarray,
                b: np.ndarray) -> dict[int, set[int]]:
    """The groups each group shares a candidate edge with."""
    nbrs: dict[int, set[int]] = {g: set() for g in members}
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        gi, gj = int(group[i]), int(group[j])
        if gi != gj:
            nbrs[gi].add(gj)
            nbrs[gj].add(gi)
    return nbrs


def chinese_whispers(X: np.ndarray, threshold: float, *, photo: np.ndarray | None = None,
                     k: int = K, iterations: int = 20, seed: int = 0,
                     graph: tuple[np.ndarray, np.ndarray] | None = None,
                     fixed: np.ndarray | None = None) -> np.ndarray:
    """dlib's Chinese whispers: every face starts as its own group and, in random order, takes
    the label with the largest total similarity among its neighbours (edges >= ``threshold``).
    ``photo`` is not used: the algorithm has no notion of constraints (measured as is).
    ``fixed``: a label per face (-1: none); those faces start with it and never change it
    (so two fixed groups never merge, and other faces can join them)."""
    n = len(X)
    idx, sims = graph if graph is not None else knn(X, k)
    a, b, s = edges(idx, sims, threshold)
    adj: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for i, j, w in zip(a.tolist(), b.tolist(), s.tolist(), strict=True):
        adj[i].append((j, w))
        adj[j].append((i, w))
    labels = list(range(n))
    frozen = np.zeros(n, bool)
    if fixed is not None:
        frozen = np.asarray(fixed) >= 0
        for i in np.flatnonzero(frozen).tolist():
            labels[i] = n + int(fixed[i])
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = 0
        for i in rng.permutation(n).tolist():
            if not adj[i] or frozen[i]:
                continue
            score: dict[int, float] = {}
            for j, w in adj[i]:
                score[labels[j]] = score.get(labels[j], 0.0) + w
            best = max(score, key=score.__getitem__)
            if best != labels[i]:
                labels[i] = best
                changed += 1
        if not changed:
            break
    return relabel(np.array(labels, np.int64))


def hdbscan(X: np.ndarray, *, min_cluster_size: int = 2, min_samples: int = 1) -> np.ndarray:
    """scikit-learn's HDBSCAN on the faces (Euclidean on L2-normalised vectors, a monotone
    function of cosine); its noise faces become groups of their own. Needs the faces in memory
    and a tree search over them: for measurement, not for 100 k faces."""
    from sklearn.cluster import HDBSCAN

    n = len(X)
    if n < 2:
        return np.zeros(n, np.int64)
    lab = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples,
                  copy=True).fit_predict(np.asarray(X, np.float64))
    lab = lab.astype(np.int64)
    noise = lab < 0
    lab[noise] = lab.max() + 1 + np.arange(int(noise.sum()))
    return relabel(lab)


ALGORITHMS = {"average": average_linkage, "whispers": chinese_whispers}
