"""The LFW benchmark's pure logic on synthetic scores, and the CLI on ../shared/data (skips)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import DatasetError
from lookalike.measure.lfw import parse_pairs, split_shots
from lookalike.measure.metrics import (
    best_threshold,
    kfold_verification,
    nearest_top1,
    rates_at,
    tar_at_far,
    threshold_at_far,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

PAIRS = """2\t2
Ann_A\t1\t2
Bob_B\t3\t4
Ann_A\t1\tBob_B\t2
Cy_C\t1\tAnn_A\t3
Bob_B\t1\t2
Cy_C\t2\t3
Cy_C\t4\tBob_B\t1
Ann_A\t2\tCy_C\t12
"""


def test_parse_pairs_folds_labels_and_paths():
    p = parse_pairs(PAIRS, "/lfw")
    assert len(p) == 8
    assert p.same.tolist() == [True, True, False, False] * 2
    assert p.fold.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert p.left[0] == Path("/lfw/Ann_A/Ann_A_0001.jpg")
    assert p.right[2] == Path("/lfw/Bob_B/Bob_B_0002.jpg")
    assert p.right[7] == Path("/lfw/Cy_C/Cy_C_0012.jpg")


def test_parse_pairs_rejects_truncated_file():
    with pytest.raises(DatasetError, match="header promises 8"):
        parse_pairs("\n".join(PAIRS.splitlines()[:-1]))


def test_best_threshold_separable_and_midpoint():
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    same = np.array([0, 0, 0, 1, 1, 1], bool)
    t, acc = best_threshold(scores, same)
    assert acc == 1.0
    assert t == pytest.approx(0.45)  # midway between the classes


def test_best_threshold_with_overlap_maximises_accuracy():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.7, 0.1, 500), rng.normal(0.3, 0.1, 500)])
    same = np.arange(1000) < 500
    t, acc = best_threshold(scores, same)
    brute = max(np.mean((scores >= c) == same) for c in np.linspace(0, 1, 2001))
    assert acc >= brute - 1e-12
    assert 0.4 < t < 0.6
    assert np.mean((scores >= t) == same) == pytest.approx(acc)


def test_kfold_threshold_comes_from_the_other_folds():
    # Fold 0's own best threshold would be 0.85, but folds 1-2 say 0.45: fold 0 loses a pair.
    scores = np.array([0.9, 0.8, 0.5, 0.4] + [0.9, 0.6, 0.3, 0.2] * 2)
    same = np.array([1, 1, 0, 0] * 3, bool)
    fold = np.repeat([0, 1, 2], 4)
    res = kfold_verification(scores, same, fold)
    assert res["fold_accuracies"] == [0.75, 1.0, 1.0]
    assert res["mean_accuracy"] == pytest.approx(11 / 12)
    assert res["std"] == pytest.approx(np.std([0.75, 1, 1]))
    assert res["fold_thresholds"][0] == pytest.approx(0.45)


def test_tar_at_far_allows_exactly_the_rate():
    neg = np.linspace(0.0, 0.999, 1000)  # 1000 different-person pairs
    pos = np.array([0.9989, 0.9985, 0.99, 0.95, 0.5])
    scores = np.concatenate([pos, neg])
    same = np.arange(len(scores)) < len(pos)
    t = threshold_at_far(scores, same, 0.001)  # one false accept allowed: 0.999; 0.998 refused
    tar, far = rates_at(scores, same, t)
    assert far == pytest.approx(0.001)
    assert tar == pytest.approx(2 / 5)
    tar1, t1 = tar_at_far(scores, same, 0.01)
    assert rates_at(scores, same, t1)[1] <= 0.01
    assert tar1 == pytest.approx(3 / 5)  # ten false accepts allowed: t just above 0.989
    assert t1 < t


def test_split_shots_and_nearest_top1():
    people = {"a": [Path(f"a{i}") for i in range(12)], "b": [Path(f"b{i}") for i in range(3)],
              "c": [Path(f"c{i}") for i in range(10)]}
    names, train, test = split_shots(people, shots=5, min_photos=10)
    assert names == ["a", "c"]
    assert [p.name for p, _ in train][:5] == ["a0", "a1", "a10", "a11", "a2"]  # sorted names
    assert len(train) == 10 and len(test) == 12
    g = np.eye(3, dtype=np.float32)
    q = np.array([[0.9, 0.1, 0], [0, 0.2, 0.9], [0.6, 0.7, 0]], np.float32)
    assert nearest_top1(g, np.arange(3), q, np.array([0, 2, 0])) == pytest.approx(2 / 3)


@pytest.mark.lfw
def test_benchmark_cli_without_data_is_a_clear_error(tmp_path):
    env = {"LOOKALIKE_DATA": str(tmp_path), "PATH": "", "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "lookalike.cli", "benchmark", "lfw",
                        "--data-home", str(tmp_path)], capture_output=True, text=True,
                       env=env, cwd=tmp_path)
    if r.returncode == 0:  # a copy of LFW in scikit-learn's data home was found
        pytest.skip("LFW found in another data home")
    assert r.returncode == 2
    assert r.stderr.startswith("lookalike: error:") and "Traceback" not in r.stderr


@pytest.mark.lfw
def test_benchmark_lfw_pairs_on_shared_data(tmp_path):
    """Parses the real pairs.txt and scores a handful of real pairs end to end (sface)."""
    if not (SHARED_DATA / "lfw_home" / "pairs.txt").is_file():
        pytest.skip(f"LFW pairs.txt not found under {SHARED_DATA}")
    from lookalike.measure.benchmark import embed_photos, verification
    from lookalike.measure.lfw import find_pairs

    lfw_dir, pairs_file = find_pairs(SHARED_DATA)
    pairs = parse_pairs(pairs_file.read_text(), lfw_dir)
    assert len(pairs) == 6000 and pairs.same.sum() == 3000
    assert set(np.bincount(pairs.fold)) == {600}
    # 3 same and 3 different pairs of each of 2 folds (a subset, for speed).
    pick = np.concatenate([np.flatnonzero(pairs.fold == k)[sl] for k in (0, 1)
                           for sl in (slice(0, 3), slice(300, 303))])
    sub = type(pairs)([pairs.left[i] for i in pick], [pairs.right[i] for i in pick],
                      pairs.same[pick], pairs.fold[pick])
    emb = embed_photos(list(dict.fromkeys(sub.left + sub.right)), "sface", progress=False)
    res = verification(emb, sub, 0.363)
    assert res["pairs"] == 12 and 0.0 <= res["mean_accuracy"] <= 1.0
    assert res["auc"] > 0.9  # SFace separates these easy pairs
    json.dumps({k: v for k, v in res.items() if not k.startswith("_")})


def test_subset_pairs_keeps_folds_and_balance():
    from lookalike.measure.lfw import subset_pairs

    sub = subset_pairs(parse_pairs(PAIRS, "/lfw"), 1)
    assert sub.same.tolist() == [True, False, True, False]
    assert sub.fold.tolist() == [0, 0, 1, 1]
    assert sub.left[1] == Path("/lfw/Ann_A/Ann_A_0001.jpg")
