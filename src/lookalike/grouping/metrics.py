"""How well a grouping matches the truth: pairwise and BCubed precision, recall and F1, and the
purity of the largest groups (for bench/studies/group/bench_group.py and tests)."""

from __future__ import annotations

import numpy as np


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def contingency(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of (predicted group, true person) cells: ``(cell counts, group of each cell,
    person of each cell)``."""
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(truth, return_inverse=True)
    key = p.astype(np.int64) * (t.max() + 1) + t
    cells, counts = np.unique(key, return_counts=True)
    return counts, cells // (t.max() + 1), cells % (t.max() + 1)


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pairwise and BCubed precision / recall / F1 of ``pred`` against ``truth`` (labels per
    face, any hashable ints), the number of groups and of people."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    n = len(pred)
    counts, cg, cp = contingency(pred, truth)
    g_size = np.bincount(cg, weights=counts)
    p_size = np.bincount(cp, weights=counts)
    # pairwise (ordered pairs of distinct faces)
    same_both = float((counts * (counts - 1)).sum())
    same_pred = float((g_size * (g_size - 1)).sum())
    same_true = float((p_size * (p_size - 1)).sum())
    pp = same_both / same_pred if same_pred else 1.0
    pr = same_both / same_true if same_true else 1.0
    # BCubed: per face, the share of its group that is its person (and vice versa), including
    # itself; averaged over faces
    bp = float((counts * counts / g_size[cg]).sum()) / n
    br = float((counts * counts / p_size[cp]).sum()) / n
    return {"pairwise_precision": pp, "pairwise_recall": pr, "pairwise_f1": _f1(pp, pr),
            "bcubed_precision": bp, "bcubed_recall": br, "bcubed_f1": _f1(bp, br),
            "groups": int(len(g_size)), "people": int(len(p_size)), "faces": int(n)}


def purity_of_largest(pred: np.ndarray, truth: np.ndarray, top: int = 20) -> list[float]:
    """The share of each of the ``top`` largest groups taken by its most frequent person."""
    counts, cg, _ = contingency(np.asarray(pred), np.asarray(truth))
    size = np.bincount(cg, weights=counts)
    best = np.zeros_like(size)
    np.maximum.at(best, cg, counts)
    order = np.argsort(-size, kind="stable")[:top]
    return [float(best[g] / size[g]) for g in order]
