"""The regression suite's bookkeeping (bench/suite): the noise rule, the registry, the refs and
the table. The benchmarks themselves run in `make bench`, not here (timings are not tests)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bench.suite import runner
from bench.suite.benchmarks import BENCHMARKS
from bench.suite.stats import bootstrap_ratio, judge_ratio, judge_value
from tests.utils import REPO


def noisy(median: float, n: int, seed: int) -> list[float]:
    """Timings like the shared machine's: a median and a long right tail."""
    rng = np.random.default_rng(seed)
    return list(median * (1 + np.abs(rng.normal(0, 0.08, n))))


def test_same_code_is_no_change_and_a_slowdown_fails():
    base = noisy(0.25, 5, 0)
    assert judge_ratio(base, noisy(0.25, 5, 1)).verdict == "no change"
    slow = judge_ratio(base, noisy(0.40, 5, 2))
    assert slow.verdict == "slower" and slow.failed and slow.lo > 1.1
    fast = judge_ratio(base, noisy(0.15, 5, 3))
    assert fast.verdict == "faster" and not fast.failed


def test_a_slowdown_within_the_margin_or_the_noise_is_not_called():
    base = noisy(1.0, 5, 4)
    assert judge_ratio(base, [x * 1.05 for x in base]).verdict == "no change"  # < 10 %
    wild = [1.0, 3.0, 1.1, 0.9, 2.5]  # a loaded machine: the interval is wide
    assert judge_ratio(wild, [1.3, 1.2, 3.2, 1.1, 2.9]).verdict == "no change"


def test_the_interval_holds_the_ratio_of_medians():
    ratio, lo, hi = bootstrap_ratio([1.0, 1.1, 0.9], [2.0, 2.2, 1.8])
    assert ratio == pytest.approx(2.0) and lo <= ratio <= hi


def test_an_accuracy_is_judged_by_its_drop_against_the_tolerance():
    assert judge_value([99.33], [99.33], 0.3).verdict == "no change"
    assert judge_value([99.33], [99.10], 0.3).verdict == "no change"
    worse = judge_value([99.33], [98.5], 0.3)
    assert worse.verdict == "worse" and worse.failed and worse.ratio == pytest.approx(-0.83)
    assert judge_value([97.6], [100.0], 1.0).verdict == "better"


def test_about_ten_benchmarks_each_with_its_figures():
    assert len(BENCHMARKS) >= 10
    for b in BENCHMARKS.values():
        assert b.metrics and b.fn.__doc__, b.name
        for m in b.metrics:
            assert m.kind in ("time", "memory", "accuracy")
            assert (m.kind == "accuracy") == (b.rounds == 1), b.name
    quick = [b.name for b in BENCHMARKS.values() if b.quick]
    assert {"predict_small", "lfw7_accuracy", "lfw_accuracy"} <= set(quick)
    assert len(quick) < len(BENCHMARKS)


def test_a_ref_is_exported_from_git_and_the_working_tree_is_used_as_it_is(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    src, label = runner.materialize("HEAD", tmp_path / "head")
    assert (src / "lookalike" / "__init__.py").is_file() and label.startswith("HEAD (")
    here, label = runner.materialize(".", tmp_path / "unused")
    assert here == REPO / "src" and label.startswith("working tree")
    with pytest.raises(subprocess.CalledProcessError):
        runner.materialize("no-such-ref-anywhere", tmp_path / "none")


def test_the_table_says_base_head_ratio_interval_and_verdict():
    b = BENCHMARKS["predict_small"]
    rows = runner.judge(b, [{"latency_ms": 100.0, "cpu_ms": 50.0, "x_ref": 5.0}] * 3,
                        [{"latency_ms": 200.0, "cpu_ms": 50.0, "x_ref": 10.0}] * 3, 0.1)
    text = runner.table(rows, ("main (abc)", "HEAD (def)"))
    assert "base = main (abc); HEAD = HEAD (def)" in text
    latency = next(line for line in text.splitlines() if "latency_ms" in line)
    assert "100" in latency and "200" in latency and "2.000" in latency and "slower" in latency
    cpu = next(line for line in text.splitlines() if "cpu_ms" in line)
    assert "no change" in cpu


def test_list_and_unknown_names_from_the_command_line():
    run = [sys.executable, "-m", "bench.suite"]
    out = subprocess.run(run + ["--list"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "predict_12mp" in out.stdout and "lfw_accuracy" in out.stdout
    bad = subprocess.run(run + ["--only", "nope"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "no benchmark named nope" in bad.stderr
