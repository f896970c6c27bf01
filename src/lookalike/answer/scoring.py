"""How well probabilities answer: accuracy, top-3 accuracy, calibration error (ECE) and
negative log-likelihood — one definition for training, evaluation and the article recipe."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: the confidence-weighted gap between confidence and accuracy."""
    if len(y) == 0:
        return float("nan")
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(ece)


def score(proba: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``accuracy``, ``top3_accuracy``, ``ece`` and ``nll`` of class probabilities ``proba``
    (n × classes) against the true classes ``y`` (n ≥ 1)."""
    proba, y = np.asarray(proba), np.asarray(y)
    top = np.argsort(-proba, axis=1)
    return {
        "accuracy": float(np.mean(top[:, 0] == y)),
        "top3_accuracy": float(np.mean([y[k] in top[k, :3] for k in range(len(y))])),
        "ece": expected_calibration_error(proba, y),
        "nll": float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1)))),
    }


def topk_accuracy(proba: np.ndarray, y: np.ndarray, ks: Sequence[int]) -> dict[int, float]:
    order = np.argsort(-np.asarray(proba), axis=1)
    y = np.asarray(y)
    return {k: float(np.mean([y[i] in order[i, :k] for i in range(len(y))])) for k in ks}
