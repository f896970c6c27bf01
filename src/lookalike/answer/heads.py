"""Classifier heads over face embeddings, scikit-learn style: ``fit`` / ``predict_proba``.

Probabilities are calibrated by temperature scaling on held-out predictions made inside the
training set (leave-one-out for the centroid head, stratified folds for logistic regression),
so a 70 % answer is right about 70 % of the time. Heads hold numpy arrays only and are saved
without pickle.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from lookalike.answer.scoring import expected_calibration_error  # noqa: F401 - kept where callers found it
from lookalike.face.embedders import l2_normalize

#: Temperature used when the training set is too small to fit one (one photo per person).
DEFAULT_SCALE = 24.0


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_scale(logits: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 500.0,
              prior: float | None = None) -> float:
    """The factor s minimising the mean negative log-likelihood of softmax(s·logits).

    With ``prior``, a weak log-normal prior (σ = 1 in log s, worth one sample) centred there:
    when every held-out prediction is right, plain NLL drives s to infinity and every answer
    to 100 %; the prior keeps it finite, and matters less the more data there is."""
    from scipy.optimize import minimize_scalar

    if len(y) == 0:
        return 1.0
    idx = np.arange(len(y))

    def nll(log_s: float) -> float:
        z = np.exp(log_s) * logits
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[idx, y]))
        if prior is not None:
            nll += 0.5 * (log_s - np.log(prior)) ** 2 / len(y)
        return nll

    res = minimize_scalar(nll, bounds=(np.log(lo), np.log(hi)), method="bounded")
    return float(np.exp(res.x))


class _Alias:
    """An old attribute name that reads and writes the learned attribute ``name`` (kept for
    callers of the names without scikit-learn's trailing underscore)."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self.name, value)


class Head:
    """Interface of a head: fit on (embeddings, integer labels), then probabilities. What
    ``fit`` learns ends in ``_`` (scikit-learn's convention); every head's probabilities are a
    softmax of logits times ``scale_``, the calibration factor."""

    kind: ClassVar[str]
    n_classes_: int
    scale_: float = 1.0
    calibrated_: bool = False
    n_classes = _Alias("n_classes_")
    scale = _Alias("scale_")
    calibrated = _Alias("calibrated_")

    def fit(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> Head:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def to_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Head:
        raise NotImplementedError


class CentroidHead(Head):
    """Cosine similarity to each person's centre face, softmax with a fitted temperature.

    Works from one photo per person, adds a person without touching the others, and agrees
    with a gallery search; the temperature is fitted on leave-one-out predictions.

    ``radius`` (the embedder's same-person similarity) makes the centre robust: it starts at
    the person's medoid (the photo most like the others) and is the mean of the photos within
    ``radius`` of it, refined three times, so a person's wrong faces (a bystander, a poster,
    a mislabelled photo) do not pull it away; ``members_`` says which photos made it. Without
    ``radius``: the plain mean of every photo."""

    kind = "centroid"
    centroids = _Alias("centroids_")

    def __init__(self, radius: float | None = None) -> None:
        self.radius = radius
        self.centroids_ = np.zeros((0, 0), np.float32)
        self.members_ = np.zeros(0, bool)
        self.scale_ = DEFAULT_SCALE
        self.calibrated_ = False

    def fit(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> CentroidHead:
        X = l2_normalize(X)
        self.n_classes_ = n_classes
        members = robust_members(X, y, n_classes, self.radius)
        sums = np.zeros((n_classes, X.shape[1]), np.float64)
        np.add.at(sums, y[members], X[members])
        counts = np.bincount(y[members], minlength=n_classes)
        self.centroids_ = l2_normalize(sums)
        self.members_ = members
        # Leave-one-out logits for members whose class has at least 2 members (a photo that
        # is not a member did not make its centre: its logits are already held out).
        keep = members & (counts[y] >= 2) | ~members
        if keep.sum() >= 2 and n_classes >= 2 and (counts >= 2).any():
            Xk, yk, mk = X[keep], y[keep], members[keep]
            logits = Xk @ self.centroids_.T
            loo = sums[yk[mk]] - Xk[mk]
            rows = np.flatnonzero(mk)
            logits[rows, yk[mk]] = np.sum(Xk[mk] * l2_normalize(loo), axis=1)
            self.scale_ = fit_scale(logits, yk, prior=DEFAULT_SCALE)
            self.calibrated_ = True
        return self

    def similarities(self, X: np.ndarray) -> np.ndarray:
        return l2_normalize(X) @ self.centroids_.T

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.scale_ * self.similarities(X))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": self.centroids_, "scale": np.array(self.scale_),
                "calibrated": np.array(self.calibrated_)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CentroidHead:
        h = cls()
        h.centroids_ = arrays["centroids"].astype(np.float32)
        h.n_classes_ = len(h.centroids_)
        h.scale_ = float(arrays["scale"])
        h.calibrated_ = bool(arrays["calibrated"])
        return h


def robust_members(X: np.ndarray, y: np.ndarray, n_classes: int, radius: float | None,
                   rounds: int = 3) -> np.ndarray:
    """Which rows of ``X`` (unit vectors, labels ``y``) make their person's centre: those
    within ``radius`` (cosine) of a centre that starts at the person's medoid and moves to the
    mean of its members ``rounds`` times. Everyone when ``radius`` is None; a person with
    fewer than 3 photos, or whose medoid has no photo within ``radius``, keeps them all."""
    members = np.ones(len(X), bool)
    if radius is None:
        return members
    for k in range(n_classes):
        rows = np.flatnonzero(y == k)
        if len(rows) < 3:
            continue
        Xk = X[rows]
        S = Xk @ Xk.T
        centre = Xk[int(np.argmax(np.median(S, axis=1)))]
        inside = np.ones(len(rows), bool)
        for _ in range(rounds):
            near = Xk @ centre >= radius
            if near.sum() < 2:
                break
            inside = near
            centre = l2_normalize(Xk[inside].mean(axis=0, keepdims=True))[0]
        members[rows] = inside
    return members


class LogisticHead(Head):
    """Multinomial logistic regression (scikit-learn) on unit embeddings, class-balanced,
    with temperature scaling fitted on stratified cross-validation."""

    kind = "logistic"
    coef = _Alias("coef_")
    intercept = _Alias("intercept_")

    def __init__(self, C: float = 10.0) -> None:
        self.C = C
        self.coef_ = np.zeros((0, 0), np.float32)
        self.intercept_ = np.zeros(0, np.float32)
        self.scale_ = 1.0
        self.calibrated_ = False

    def _model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, max_iter=2000, class_weight="balanced")

    def fit(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> LogisticHead:
        X = l2_normalize(X)
        self.n_classes_ = n_classes
        present = np.unique(y)
        if len(present) < 2:
            # One person only: nothing to discriminate; everyone gets probability 1.
            self.coef_ = np.zeros((n_classes, X.shape[1]), np.float32)
            self.intercept_ = np.where(np.arange(n_classes) == present[0], 10.0, -10.0)
            return self
        model = self._model().fit(X, y)
        coef = np.zeros((n_classes, X.shape[1]), np.float32)
        intercept = np.full(n_classes, -1e4, np.float32)
        if len(present) == 2:  # scikit-learn's binary form: one row for class present[1]
            coef[present[1]], intercept[present[1]] = model.coef_[0], model.intercept_[0]
            coef[present[0]], intercept[present[0]] = 0.0, 0.0
        else:
            coef[present], intercept[present] = model.coef_, model.intercept_
        self.coef_, self.intercept_ = coef, intercept
        counts = np.bincount(y, minlength=n_classes)[present]
        folds = int(min(5, counts.min()))
        if folds >= 2:
            from sklearn.model_selection import StratifiedKFold

            logits = np.zeros((len(y), n_classes))
            for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
                m = self._model().fit(X[tr], y[tr])
                z = np.full((len(te), n_classes), -1e4)
                dec = m.decision_function(X[te])
                if dec.ndim == 1:
                    z[:, m.classes_[1]], z[:, m.classes_[0]] = dec, 0.0
                else:
                    z[:, m.classes_] = dec
                logits[te] = z
            self.scale_ = fit_scale(logits, y)
            self.calibrated_ = True
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = l2_normalize(X) @ self.coef_.T + self.intercept_
        return softmax(z * self.scale_)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef_, "intercept": self.intercept_,
                "scale": np.array(self.scale_), "C": np.array(self.C),
                "calibrated": np.array(self.calibrated_)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> LogisticHead:
        h = cls(float(arrays["C"]))
        h.coef_ = arrays["coef"].astype(np.float32)
        h.intercept_ = arrays["intercept"].astype(np.float32)
        h.n_classes_ = len(h.coef_)
        # files written before the factor was one name kept its inverse, "temperature"
        h.scale_ = (float(arrays["scale"]) if "scale" in arrays
                    else 1.0 / float(arrays["temperature"]))
        h.calibrated_ = bool(arrays["calibrated"])
        return h


HEADS: dict[str, type[Head]] = {"centroid": CentroidHead, "logistic": LogisticHead}


def make_head(kind: str, radius: float | None = None) -> Head:
    """A new head of ``kind``; ``radius`` (the embedder's same-person similarity) makes the
    centroid head's centres robust to a person's wrong photos (see :class:`CentroidHead`)."""
    from lookalike.errors import LookalikeError

    if kind not in HEADS:
        raise LookalikeError(f"unknown head {kind!r}", fix=f"choose one of {', '.join(HEADS)}")
    return CentroidHead(radius) if kind == "centroid" else HEADS[kind]()
