"""Every benchmark, in order (``make bench``): the foundation figures, then LFW.

Figures go to bench/results/*.json (and BENCHMARKS.md, by hand, with the commands).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in ("bench_foundation.py", "bench_lfw.py"):
        print(f"== {script}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)]).returncode:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
