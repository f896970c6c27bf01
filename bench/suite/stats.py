"""The noise rule: the ratio of medians (HEAD / base) with a bootstrap interval.

A timing or memory figure is *slower* when the whole 95 % interval of the ratio lies above
``1 + margin``, *faster* when it lies below ``1 - margin``, else *no change*. An accuracy is a
value, not a ratio: *worse* when HEAD's is below base's by more than the metric's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The default margin: 10 % (A/A runs on the shared 2-core machine; see bench/NOTES-suite.md).
MARGIN = 0.10


@dataclass
class Verdict:
    base: float
    head: float
    ratio: float  # head / base (values: head - base)
    lo: float
    hi: float
    verdict: str  # "no change" | "slower" | "faster" | "worse" | "better" | "skipped"

    @property
    def failed(self) -> bool:
        return self.verdict in ("slower", "worse")


def bootstrap_ratio(base: list[float], head: list[float], *, n: int = 4000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """(ratio of medians, low, high): each side resampled with replacement ``n`` times."""
    a, b = np.asarray(base, np.float64), np.asarray(head, np.float64)
    ratio = float(np.median(b) / np.median(a))
    rng = np.random.default_rng(seed)
    ra = np.median(a[rng.integers(0, len(a), (n, len(a)))], axis=1)
    rb = np.median(b[rng.integers(0, len(b), (n, len(b)))], axis=1)
    r = rb / ra
    tail = (1 - level) / 2
    return ratio, float(np.quantile(r, tail)), float(np.quantile(r, 1 - tail))


def judge_ratio(base: list[float], head: list[float], margin: float = MARGIN) -> Verdict:
    ratio, lo, hi = bootstrap_ratio(base, head)
    if lo > 1 + margin:
        verdict = "slower"
    elif hi < 1 - margin:
        verdict = "faster"
    else:
        verdict = "no change"
    return Verdict(float(np.median(base)), float(np.median(head)), ratio, lo, hi, verdict)


def judge_value(base: list[float], head: list[float], tolerance: float) -> Verdict:
    """Higher is better (accuracies); the medians' difference against ``tolerance``."""
    a, b = float(np.median(base)), float(np.median(head))
    d = b - a
    verdict = "worse" if d < -tolerance else "better" if d > tolerance else "no change"
    # the interval: the largest and smallest difference between any two runs
    return Verdict(a, b, d, min(head) - max(base), max(head) - min(base), verdict)
