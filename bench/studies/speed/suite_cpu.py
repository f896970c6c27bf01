"""CPU seconds of a test run, per test, on a loaded machine (issue 22's fast-tests target).

As a pytest plugin it records, per test phase, the CPU seconds of the test process and of the
children it waited for (``resource``), the main thread's alone (``time.thread_time``) and the
wall, and writes them as JSON to ``$SUITE_CPU_OUT`` when the run ends::

    SUITE_CPU_OUT=/tmp/after.json LOOKALIKE_CACHE_DIR=$(mktemp -d) \\
        python -m pytest -q -m "not slow" -p no:cacheprovider -p bench.studies.speed.suite_cpu

Then ``python -m bench.studies.speed.suite_cpu /tmp/after.json [N]`` prints the totals, the
idle-machine estimate and the N tests that weigh most. The estimate for an idle 2-core machine:
the main thread's CPU runs one after another, the rest (OpenVINO's inference threads, pool
workers, child processes) on both cores, so wall ≈ main + (all − main) / 2. Wall times of a
machine that others load say little; CPU times barely move with the load."""

from __future__ import annotations

import collections
import json
import os
import resource
import sys
import time
from collections.abc import Iterator

import pytest

_rows: list[tuple[str, str, float, float, float]] = []


def _cpu() -> float:
    """This process's CPU seconds and those of the children it waited for."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


_START = (_cpu(), time.perf_counter(), time.thread_time())


def _measure(nodeid: str, phase: str) -> Iterator[None]:
    cpu, wall, main = _cpu(), time.perf_counter(), time.thread_time()
    yield
    _rows.append((nodeid, phase, _cpu() - cpu, time.perf_counter() - wall,
                  time.thread_time() - main))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield from _measure(item.nodeid, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _measure(item.nodeid, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield from _measure(item.nodeid, "teardown")


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("SUITE_CPU_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump({"rows": _rows, "cpu": _cpu() - _START[0],
                       "wall": time.perf_counter() - _START[1],
                       "main_thread": time.thread_time() - _START[2]}, f)


def summary(path: str, top: int = 30) -> str:
    """Totals, the idle estimate and the ``top`` tests by their own idle estimate."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    per: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for nodeid, _phase, cpu, _wall, main in doc["rows"]:
        per[nodeid][0] += cpu
        per[nodeid][1] += main
    cpu, main = doc["cpu"], doc["main_thread"]
    lines = [f"{len(per)} tests; CPU {cpu:.1f} s (main thread {main:.1f} s), wall {doc['wall']:.1f}"
             f" s; idle 2-core estimate main + rest/2 = {main + (cpu - main) / 2:.1f} s",
             "   cpu   main  estimate  test"]
    est = {k: m + (c - m) / 2 for k, (c, m) in per.items()}
    for k in sorted(est, key=est.__getitem__, reverse=True)[:top]:
        lines.append(f"{per[k][0]:6.2f} {per[k][1]:6.2f} {est[k]:9.2f}  {k}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30))
