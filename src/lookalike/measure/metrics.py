"""Numbers from similarity scores: the accuracy-maximising threshold, k-fold verification
accuracy, TAR at a FAR, ROC and AUC, and few-shot / nearest-photo top-1 identification.
NumPy only; used by the LFW benchmark and by the studies in bench/."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold ``t`` (pairs with ``score >= t`` are called the same person) with the best
    accuracy on these pairs, and that accuracy. ``t`` is the midpoint between neighbouring
    scores, so it generalises to unseen pairs."""
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2,
                                 [values[-1] + 1e-6]])
    pos = np.sort(scores[same])
    neg = np.sort(scores[~same])
    true_neg = np.searchsorted(neg, candidates, side="left")  # negatives below t
    true_pos = len(pos) - np.searchsorted(pos, candidates, side="left")  # positives at/above t
    acc = (true_neg + true_pos) / len(scores)
    best = int(np.argmax(acc))
    return float(candidates[best]), float(acc[best])


def kfold_verification(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> dict:
    """LFW's protocol: per fold, the best threshold on the other folds, tested on this one."""
    scores, same, fold = np.asarray(scores), np.asarray(same, bool), np.asarray(fold)
    accs, thresholds = [], []
    correct = np.zeros(len(scores), bool)
    for k in np.unique(fold):
        test = fold == k
        t, _ = best_threshold(scores[~test], same[~test])
        correct[test] = (scores[test] >= t) == same[test]
        accs.append(float(np.mean(correct[test])))
        thresholds.append(t)
    return {"mean_accuracy": float(np.mean(accs)), "std": float(np.std(accs)),
            "fold_accuracies": accs, "fold_thresholds": thresholds,
            "mean_threshold": float(np.mean(thresholds)), "_correct": correct}


def threshold_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """The lowest threshold ``t`` (same person when ``score >= t``) whose false-accept rate on
    the different-person pairs is at most ``far``."""
    neg = np.sort(np.asarray(scores, np.float64)[~np.asarray(same, bool)])[::-1]
    allowed = int(np.floor(far * len(neg) + 1e-9))  # false accepts allowed
    if allowed >= len(neg):
        return float(neg[-1])
    return float(np.nextafter(neg[allowed], np.inf))  # just above the first refused negative


def rates_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """(TAR, FAR) when pairs with ``score >= threshold`` are called the same person."""
    scores, same = np.asarray(scores), np.asarray(same, bool)
    accept = scores >= threshold
    return float(np.mean(accept[same])), float(np.mean(accept[~same]))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the operating point with false-accept rate at most ``far``."""
    t = threshold_at_far(scores, same, far)
    return rates_at(scores, same, t)[0], t


def roc_auc(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(FAR, TAR, AUC) over all thresholds."""
    from sklearn.metrics import auc, roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(same, int), np.asarray(scores))
    return fpr, tpr, float(auc(fpr, tpr))


def few_shot_top1(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray,
                  heads: Sequence[str] = ("centroid", "logistic"),
                  radius: float | None = None) -> dict[str, float]:
    """Top-1 accuracy of each head trained on (X, y), tested on (Xt, yt); ``radius``: the
    centroid head's robust centre, as training makes it (with it, ``centroid_mean`` is the
    plain mean's figure too)."""
    from lookalike.answer.heads import make_head

    n = int(max(y.max(), yt.max())) + 1
    out = {}
    for name in heads:
        proba = make_head(name, radius=radius).fit(X, y, n).predict_proba(Xt)
        out[name] = float(np.mean(proba.argmax(1) == yt))
    if radius is not None and "centroid" in heads:
        proba = make_head("centroid").fit(X, y, n).predict_proba(Xt)
        out["centroid_mean"] = float(np.mean(proba.argmax(1) == yt))
    return out


def nearest_top1(gallery: np.ndarray, g_labels: np.ndarray, queries: np.ndarray,
                 q_labels: np.ndarray, chunk: int = 2048) -> float:
    """Top-1 accuracy of nearest-neighbour search (cosine) of queries in the gallery."""
    hits = 0
    for s in range(0, len(queries), chunk):
        sims = queries[s:s + chunk] @ gallery.T
        hits += int(np.sum(g_labels[sims.argmax(1)] == q_labels[s:s + chunk]))
    return hits / max(len(queries), 1)
