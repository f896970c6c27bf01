"""The k-nearest-neighbour graph of face embeddings: FAISS (exact inner product) when it is
installed, else NumPy in blocks. Never an N x N matrix: memory grows as N * k."""

from __future__ import annotations

import numpy as np

#: Neighbours kept per face. A person's faces reach each other through chains of neighbours,
#: so k bounds nothing about a group's size; it bounds how many other people a face is compared
#: with when merging (bench/studies/group/bench_group.py measures k).
K = 30
#: Rows per NumPy block (each block is BLOCK x N float32).
BLOCK = 1024


def knn(X: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``X`` (L2-normalised), its ``k`` most similar other rows and their cosine
    similarities, most similar first: ``(index (n, k) int64, sims (n, k) float32)``; index -1
    (similarity -inf) pads rows when there are fewer than ``k`` others."""
    X = np.ascontiguousarray(X, np.float32)
    n = len(X)
    k = int(max(0, min(k, n - 1)))
    if n == 0 or k == 0:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None and n > 2000:
        index = faiss.IndexFlatIP(X.shape[1])
        index.add(X)
        sims, idx = index.search(X, k + 1)
    else:
        idx = np.empty((n, k + 1), np.int64)
        sims = np.empty((n, k + 1), np.float32)
        for s in range(0, n, BLOCK):
            block = X[s:s + BLOCK] @ X.T
            part = np.argpartition(-block, k, axis=1)[:, :k + 1]
            vals = np.take_along_axis(block, part, axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")
            idx[s:s + BLOCK] = np.take_along_axis(part, order, axis=1)
            sims[s:s + BLOCK] = np.take_along_axis(vals, order, axis=1)
    return _drop_self(idx, sims, k)


def _drop_self(idx: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index (it is usually, not always, first: exact duplicates tie)."""
    n = len(idx)
    rows = np.arange(n)[:, None]
    is_self = idx == rows
    out_i = np.full((n, k), -1, np.int64)
    out_s = np.full((n, k), -np.inf, np.float32)
    keep = ~is_self
    # rows without self among the k+1 results: drop the last instead
    missing = ~is_self.any(axis=1)
    keep[missing, -1] = False
    out_i[:] = idx[keep].reshape(n, k)
    out_s[:] = sims[keep].reshape(n, k)
    out_s[out_i < 0] = -np.inf
    return out_i, out_s


def edges(idx: np.ndarray, sims: np.ndarray, min_sim: float = -1.0
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The undirected edges ``(i, j, sim)`` with ``i < j`` of a kNN graph whose similarity is
    at least ``min_sim``, each once."""
    n, k = idx.shape
    i = np.repeat(np.arange(n), k)
    j = idx.ravel()
    s = sims.ravel()
    ok = (j >= 0) & (s >= min_sim)
    i, j, s = i[ok], j[ok], s[ok]
    a, b = np.minimum(i, j), np.maximum(i, j)
    key = a * n + b
    _, first = np.unique(key, return_index=True)
    return a[first], b[first], s[first]
