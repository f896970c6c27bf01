"""The fixed LFW sets of the article recipe's cross-set benchmark
(bench/studies/article/article_sets.py) and the runner's bookkeeping
(bench/studies/article/bench_article_sets.py): the draw, the lfw7-like split, the symbolic-link
layout, the order of the runs and the summary (mean, std, worst set)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bench.studies.article import article_sets
from bench.studies.article import bench_article_sets as bas

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_draw_six_sets_of_seven_cover_everyone_with_small_overlap():
    names = [f"P{k:02d}" for k in range(27)]
    sets = article_sets.draw(names)
    assert len(sets) == 6 and all(len(s) == 7 and len(set(s)) == 7 for s in sets)
    assert set(itertools.chain(*sets)) == set(names)  # everyone is in a set
    for a, b in itertools.combinations(sets[:3], 2):  # each round is disjoint
        assert not set(a) & set(b)
    for a, b in itertools.combinations(sets[3:], 2):
        assert not set(a) & set(b)
    assert max(len(set(a) & set(b)) for a, b in itertools.combinations(sets, 2)) <= 2
    assert article_sets.draw(list(reversed(names))) == sets  # order of the input is irrelevant
    assert article_sets.draw(names, seed=1) != sets
    with pytest.raises(ValueError):
        article_sets.draw(names[:20])


def test_committed_definition_is_the_rules_draw():
    d = article_sets.load()
    assert d["eligible_people"] == len(d["eligible"])
    assert all(n >= d["min_photos"] for n in d["eligible"].values())
    assert set(d["excluded_lfw7"]) <= set(d["eligible"])
    pool = [p for p in d["eligible"] if p not in d["excluded_lfw7"]]
    assert list(d["sets"].values()) == article_sets.draw(pool, d["draw_seed"])
    assert not set(itertools.chain(*d["sets"].values())) & set(d["excluded_lfw7"])


def fake_person(root: Path, name: str, n: int) -> Path:
    d = root / name
    d.mkdir(parents=True)
    for k in range(n, 0, -1):
        (d / f"{name}_{k:04d}.jpg").write_bytes(b"x")
    (d / "notes.txt").write_text("not a photo")
    return d


def test_split_is_lfw7s_every_fifth_of_the_first_30_sorted(tmp_path):
    train, val = article_sets.split(fake_person(tmp_path, "A", 41))
    assert len(train) == 24 and len(val) == 6
    assert [f.name for f in val] == [f"A_{k:04d}.jpg" for k in (5, 10, 15, 20, 25, 30)]
    assert max(f.name for f in train) == "A_0029.jpg"
    with pytest.raises(ValueError, match="29 photos"):
        article_sets.split(fake_person(tmp_path, "B", 29))


def test_layout_links_a_set_and_is_idempotent(tmp_path):
    src = tmp_path / "lfw"
    for p in ("A", "B"):
        fake_person(src, p, 30)
    work = tmp_path / "work"
    for _ in range(2):
        root = article_sets.layout("setX", ["A", "B"], work, source=src)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["A", "B"]
    assert len(list((root / "validation" / "B").iterdir())) == 6
    link = root / "train" / "A" / "A_0001.jpg"
    assert link.is_symlink() and link.resolve() == (src / "A" / "A_0001.jpg").resolve()


@pytest.mark.skipif(not (DATA / "lfw_home" / "lfw_funneled").exists(), reason="no LFW here")
def test_definition_from_lfw_matches_the_committed_one():
    new, old = article_sets.definition(), article_sets.load()
    assert new["sets"] == old["sets"] and new["eligible"] == old["eligible"]


def test_plan_runs_embedding_first_then_seed_by_seed():
    todo = bas.plan(["s1", "s2"], ["embedding", "improved"], [0, 1])
    assert todo == [("s1", "embedding", 0), ("s2", "embedding", 0),
                    ("s1", "improved", 0), ("s2", "improved", 0),
                    ("s1", "improved", 1), ("s2", "improved", 1)]


def test_summary_mean_std_and_worst_set():
    def row(s, seed, acc):
        return {"set": s, "config": "c", "seed": seed, "accuracy": acc, "wall_s": 10.0,
                "cpu_s": 20.0, "peak_rss_mb": 100.0}

    runs = {f"{s}/c/seed{k}": row(s, k, a) for s, k, a in
            [("s1", 0, 0.9), ("s1", 1, 1.0), ("s2", 0, 0.8), ("s2", 1, 0.9)]}
    runs["s3/c/seed0"] = {**row("s3", 0, None), "error": "boom"}  # failures are not figures
    (s,) = bas.summary({"runs": runs})
    assert s["runs"] == 4 and s["sets"] == 2 and s["seeds"] == [0, 1]
    assert s["mean"] == pytest.approx(0.9)
    assert s["std"] == pytest.approx(0.08165, abs=1e-4)
    assert s["worst_set"] == "s2" and s["worst"] == pytest.approx(0.85)
    assert "| c | 4 (2 × seeds 0,1) | 90.0% |" in "\n".join(bas.table({"runs": runs}))


def test_candidates_are_compared_on_the_same_runs_and_with_flip():
    def row(s, config, seed, acc, flip=None):
        return {"set": s, "config": config, "seed": seed, "accuracy": acc, "wall_s": 1.0,
                "cpu_s": 1.0, "peak_rss_mb": 1.0, "accuracy_with_flip": flip}

    rows = [row("s1", "improved", 0, 0.90), row("s2", "improved", 0, 0.80),
            row("s1", "cand", 0, 0.95, 1.0), row("s2", "cand", 0, 0.80, 0.85),
            row("s3", "cand", 0, 0.10, 0.70)]  # no improved run on s3: not paired
    runs = {bas.row_key(r["set"], r["config"], r["seed"]): r for r in rows}
    by = {s["config"]: s for s in bas.summary({"runs": runs})}
    cand = by["cand"]
    assert cand["paired_runs"] == 2 and cand["paired_delta"] == pytest.approx(0.025)
    assert cand["flip_runs"] == 3 and cand["flip_mean"] == pytest.approx(2.55 / 3)
    assert cand["flip_worst_set"] == "s3"
    assert "paired_delta" not in by["improved"] and "flip_mean" not in by["improved"]
    assert "+2.5% ± 2.5% (2)" in "\n".join(bas.table({"runs": runs}))
