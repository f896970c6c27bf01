"""Memory of the YuNet network under varied input sizes: does it plateau or leak?

    .venv/bin/python bench/bench_runtime_memory.py [--max-side 640] [--threads 1] [--runs 300]
        [--mode product|dynamic|static] [--arena-max N] [--trim] [--every 50]

Runs YuNet through the runtime layer on random input sizes (multiples of 32 up to --max-side),
from --threads threads, and prints every --every runs the process's RSS, glibc's heap figures
(``mallinfo2``: bytes in use by malloc, bytes free inside its heaps, bytes in mmapped chunks)
and the shapes compiled. The web server's allocator setting (M_MMAP_THRESHOLD 1 MB,
web/app.py) is applied first. Candidate causes and fixes, one option each:

- ``--mode``: ``product`` is the runtime as the product uses it (``Network(dynamic=True,
  max_shapes=4)``); ``dynamic`` runs every size on the dynamic-shape network; ``static``
  compiles every size (no eviction limit: memory per compiled size).
- ``--arena-max N``: ``mallopt(M_ARENA_MAX, N)`` before anything runs (glibc's per-thread
  arenas).
- ``--trim``: ``malloc_trim(0)`` after each report, and RSS again after it (free heap
  memory glibc holds but does not give back).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import threading
import time

import numpy as np

from lookalike.face.detector import yunet_path
from lookalike.runtime import open_network
from lookalike.runtime.network import Network


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def heap_mb() -> dict:
    """glibc's view: in use (uordblks + hblkhd), free inside heaps (fordblks), mmapped (hblkhd),
    summed over all arenas."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = MallInfo2
        m = libc.mallinfo2()
        mb = 2**20
        return {"in_use": round((m.uordblks + m.hblkhd) / mb, 1),
                "free_in_heaps": round(m.fordblks / mb, 1), "mmapped": round(m.hblkhd / mb, 1)}
    return {}


def make_network(mode: str) -> Network:
    if mode == "product":
        net = open_network(yunet_path(), dynamic=True, max_shapes=4)
    elif mode == "dynamic":
        net = open_network(yunet_path(), dynamic=True, max_shapes=0)
    else:  # every size compiled and kept
        net = open_network(yunet_path(), dynamic=False, max_shapes=10_000)
    return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--mode", choices=("product", "dynamic", "static"), default="product")
    ap.add_argument("--arena-max", type=int, default=0)
    ap.add_argument("--trim", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args()
    libc = None
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD, as web/app.py
        if args.arena_max:
            libc.mallopt(-8, args.arena_max)  # M_ARENA_MAX
    net = make_network(args.mode)
    net.run(np.zeros((1, 3, 160, 160), np.float32))
    rows = [{"runs": 0, "rss": round(rss_mb()), **heap_mb(), "compiled": net.compiles}]
    print(f"warm: RSS {rows[0]['rss']} MB, heap {heap_mb()}", flush=True)
    top = args.max_side // 32 + 1
    t0 = time.perf_counter()
    for r in range(args.runs // args.every):
        def work(seed: int, n: int) -> None:
            rng = np.random.default_rng(seed)
            for _ in range(n):
                h, w = 32 * rng.integers(2, top, 2)
                net.run(np.zeros((1, 3, int(h), int(w)), np.float32))

        n = max(1, args.every // args.threads)
        threads = [threading.Thread(target=work, args=(args.seed * 10**6 + r * 100 + k, n))
                   for k in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        row = {"runs": (r + 1) * args.every, "rss": round(rss_mb()), **heap_mb(),
               "compiled": net.compiles}
        if args.trim and libc is not None:
            libc.malloc_trim(0)
            row["rss_after_trim"] = round(rss_mb())
        rows.append(row)
        print(f"{row['runs']} runs: RSS {row['rss']} MB"
              + (f" ({row['rss_after_trim']} MB after malloc_trim)" if "rss_after_trim" in row
                 else "")
              + f", malloc in use {row.get('in_use')} MB, free in heaps "
              f"{row.get('free_in_heaps')} MB, shapes compiled {net.compiles}", flush=True)
    print(f"{time.perf_counter() - t0:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
