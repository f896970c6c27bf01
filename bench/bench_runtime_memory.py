"""Memory of the YuNet network under varied input sizes: does it plateau or leak?

    .venv/bin/python bench/bench_runtime_memory.py [--max-side 640] [--threads 1] [--runs 300]

Runs YuNet through the runtime layer on random input sizes (multiples of 32 up to --max-side),
from --threads threads, and prints the process's RSS every 50 runs and the shapes compiled.
The web server's allocator setting (M_MMAP_THRESHOLD 1 MB, web/app.py) is applied first."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import threading

import numpy as np

from lookalike.faces import yunet_path
from lookalike.runtime import Network


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-3, 1 << 20)
    net = Network(yunet_path(), dynamic=True, max_shapes=4)
    net.run(np.zeros((1, 3, 160, 160), np.float32))
    print(f"warm: RSS {rss_mb():.0f} MB")
    top = args.max_side // 32 + 1
    per_round = 50
    for r in range(args.runs // per_round):
        def work(seed: int, n: int) -> None:
            rng = np.random.default_rng(seed)
            for _ in range(n):
                h, w = 32 * rng.integers(2, top, 2)
                net.run(np.zeros((1, 3, int(h), int(w)), np.float32))

        n = max(1, per_round // args.threads)
        threads = [threading.Thread(target=work, args=(r * 100 + k, n))
                   for k in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"{(r + 1) * per_round} runs: RSS {rss_mb():.0f} MB, shapes compiled "
              f"{net.compiles}")


if __name__ == "__main__":
    main()
