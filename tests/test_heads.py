import numpy as np
import pytest

from lookalike.answer.heads import (
    DEFAULT_SCALE,
    CentroidHead,
    LogisticHead,
    expected_calibration_error,
    fit_scale,
    make_head,
)


def clusters(n_classes=5, per_class=12, dim=32, spread=0.6, seed=0):
    centres = np.random.default_rng(0).normal(size=(n_classes, dim))
    rng = np.random.default_rng(seed + 1)
    X = np.concatenate([c + spread * rng.normal(size=(per_class, dim)) for c in centres])
    y = np.repeat(np.arange(n_classes), per_class)
    return X.astype(np.float32), y


@pytest.mark.parametrize("kind", ["centroid", "logistic"])
def test_heads_learn_and_give_probabilities(kind):
    X, y = clusters()
    Xt, yt = clusters(seed=9)  # same people, other photos
    head = make_head(kind).fit(X, y, 5)
    P = head.predict_proba(Xt)
    assert P.shape == (len(yt), 5)
    assert np.allclose(P.sum(axis=1), 1, atol=1e-5)
    assert np.mean(P.argmax(1) == yt) > 0.9
    assert head.calibrated
    again = type(head).from_arrays(head.to_arrays())
    assert np.allclose(again.predict_proba(Xt), P, atol=1e-6)


def test_temperature_tracks_difficulty():
    easy = CentroidHead().fit(*clusters(spread=0.3), 5)
    hard = CentroidHead().fit(*clusters(spread=1.5), 5)
    X, y = clusters(spread=1.5, seed=3)
    # On hard data the fitted head is less sure than one fitted on easy data.
    assert hard.predict_proba(X).max(1).mean() < easy.predict_proba(X).max(1).mean()


def test_calibration_is_better_than_a_fixed_sharp_scale():
    X, y = clusters(spread=3.0, per_class=40)
    Xv, yv = clusters(spread=3.0, per_class=200, seed=5)
    head = CentroidHead().fit(X, y, 5)
    P = head.predict_proba(Xv)
    assert 0.5 < np.mean(P.argmax(1) == yv) < 0.95  # a task with real errors
    ece_fit = expected_calibration_error(P, yv)
    head.scale = 200.0
    assert ece_fit < 0.08 < expected_calibration_error(head.predict_proba(Xv), yv)


def test_one_photo_per_person_uses_the_default_scale():
    X, y = clusters(per_class=1)
    head = CentroidHead().fit(X, y, 5)
    assert head.scale == DEFAULT_SCALE and not head.calibrated
    assert (head.predict_proba(X).argmax(1) == y).all()


def test_logistic_with_one_or_two_people():
    X, y = clusters(n_classes=2)
    assert LogisticHead().fit(X, y, 2).predict_proba(X).shape == (len(y), 2)
    P = LogisticHead().fit(X[y == 0], y[y == 0], 1).predict_proba(X)
    assert np.allclose(P, 1)


def test_fit_scale_and_ece_known_values():
    logits = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    y = np.array([0, 1, 0, 1])  # 3 of 4 right with equal margins: p = 0.75 is optimal
    s = fit_scale(logits, y)
    assert abs(1 / (1 + np.exp(-s)) - 0.75) < 1e-3
    P = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(P, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    assert expected_calibration_error(P, np.array([0, 1, 1, 1])) == pytest.approx(0.5)


def test_logistic_head_files_with_the_old_temperature_still_load():
    from lookalike.answer.heads import LogisticHead

    X = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    y = np.arange(30) % 3
    head = LogisticHead().fit(X, y, 3)
    arrays = head.to_arrays()
    assert "scale" in arrays and "temperature" not in arrays
    old = dict(arrays)
    old["temperature"] = np.array(1.0 / float(old.pop("scale")))  # as files before it
    again = LogisticHead.from_arrays(old)
    assert again.scale_ == pytest.approx(head.scale_)
    np.testing.assert_allclose(again.predict_proba(X), head.predict_proba(X), rtol=1e-5)
    assert again.coef is again.coef_ and again.n_classes == 3  # the old names still read
