"""The grouping algorithms, the kNN graph and the scores, on vectors made here."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.grouping.algorithms import average_linkage, chinese_whispers, hdbscan
from lookalike.grouping.graph import edges, knn
from lookalike.grouping.metrics import purity_of_largest, scores


def people(n_people: int, sizes: list[int] | None = None, noise: float = 0.08, seed: int = 0,
           dim: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = sizes or list(rng.integers(1, 8, n_people))
    centres = rng.normal(size=(len(sizes), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    X = centres[truth] + rng.normal(scale=noise, size=(len(truth), dim))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), truth


def test_knn_is_the_brute_force_answer_without_self():
    X, _ = people(40, seed=1)
    idx, sims = knn(X, 5)
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    want = np.argsort(-S, axis=1)[:, :5]
    assert (idx == want).mean() > 0.99  # ties aside
    assert np.allclose(sims, np.take_along_axis(S, idx, axis=1), atol=1e-5)
    assert not (idx == np.arange(len(X))[:, None]).any()
    # exact duplicates: a face is still not its own neighbour
    D = np.concatenate([X[:1]] * 4)
    idx, sims = knn(D, 3)
    assert all(i not in row for i, row in enumerate(idx.tolist()))
    a, b, s = edges(idx, sims)
    assert len(a) == 6 and (a < b).all()  # 4 copies: 6 pairs, each once


@pytest.mark.parametrize("fn", [average_linkage, chinese_whispers])
def test_people_are_found_and_people_seen_once_stay_alone(fn):
    X, truth = people(60, sizes=[1] * 30 + [2, 3, 5, 8, 13] * 6, seed=2)
    lab = fn(X, 0.4)
    s = scores(lab, truth)
    assert s["bcubed_f1"] == 1.0 and s["groups"] == s["people"] == 60
    singles = np.flatnonzero(np.bincount(truth) == 1)
    assert len({int(lab[np.flatnonzero(truth == p)[0]]) for p in singles}) == 30


def test_average_linkage_is_exact_average_linkage():
    """The same cut as SciPy's average linkage on the full cosine distance matrix."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    X, _ = people(25, noise=0.12, seed=3)
    thr = 0.3
    ours = average_linkage(X, thr, k=len(X) - 1)
    Z = linkage(pdist(X.astype(np.float64), "cosine"), "average")
    ref = fcluster(Z, 1 - thr, criterion="distance")
    assert scores(ours, ref)["pairwise_f1"] == 1.0


def test_fixed_groups_keep_their_faces_and_never_merge():
    X, truth = people(3, sizes=[4, 4, 4], seed=4)
    X = np.concatenate([X, X[:4]])  # group 0's faces again, free to join
    fixed = np.full(len(X), -1)
    fixed[:2] = 7
    fixed[2:4] = 9  # the same person split in two named groups: they stay two
    for fn in (average_linkage, chinese_whispers):
        lab = fn(X, 0.4, fixed=fixed)
        assert lab[0] == lab[1] and lab[2] == lab[3] and lab[0] != lab[2], fn.__name__
        assert lab[12] in (lab[0], lab[2])  # a new copy joins one of them
        assert len(set(lab[4:8].tolist())) == 1 and lab[4] not in (lab[0], lab[2])


def test_hdbscan_noise_becomes_singletons():
    X, truth = people(10, sizes=[1] * 5 + [6] * 5, seed=5)
    lab = hdbscan(X)
    assert (lab >= 0).all() and lab.max() == len(np.unique(lab)) - 1
    assert scores(lab, truth)["bcubed_recall"] >= 0.9


def test_scores_on_a_known_case():
    truth = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 2])
    s = scores(pred, truth)
    # BCubed precision: faces 0,1: 1; 2: 1/3; 3,4: 2/3; 5: 1 → (1+1+1/3+2/3+2/3+1)/6
    assert s["bcubed_precision"] == pytest.approx((3 + 1 / 3 + 4 / 3) / 6)
    # BCubed recall: 0,1: 2/3; 2: 1/3; 3,4: 1; 5: 1
    assert s["bcubed_recall"] == pytest.approx((4 / 3 + 1 / 3 + 3) / 6)
    # pairwise: predicted same pairs {01, 23, 24, 34} = 4; correct {01, 34} = 2; true 3 + 1
    assert s["pairwise_precision"] == pytest.approx(0.5)
    assert s["pairwise_recall"] == pytest.approx(0.5)
    assert purity_of_largest(pred, truth, top=2) == [pytest.approx(2 / 3), 1.0]
    assert scores(truth, truth)["bcubed_f1"] == 1.0
