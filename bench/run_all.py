"""Every benchmark, in order (``make bench``): the foundation figures, then LFW — the commands
BENCHMARKS.md quotes. Figures go to bench/results/*.json (and into BENCHMARKS.md by hand).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUNS = [
    ["bench_foundation.py"],
    ["bench_lfw.py", "--embedder", "sface"],
    ["bench_lfw.py", "--embedder", "dlib", "sface", "sface+dlib", "--no-identification",
     "--pairs-per-fold", "100", "--name", "lfw_subset"],
]


def main() -> int:
    failed = []
    for script, *args in RUNS:
        print(f"== {script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args]).returncode:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
