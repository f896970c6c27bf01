"""FAR / TAR / accuracy of given cosine thresholds on LFW pairs (cached embeddings).

    .venv/bin/python bench/bench_thresholds.py --pairs-per-fold 100 \\
        sface=0.3,0.339,0.363 dlib=0.82,0.9,0.91,0.92,0.93 sface+dlib=0.6,0.62,0.637,0.65
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_home  # noqa: E402

from lookalike.measure.benchmark import combine, embed_photos
from lookalike.measure.lfw import find_pairs, parse_pairs, subset_pairs
from lookalike.measure.metrics import rates_at


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweeps", nargs="+", help="BACKEND=T1,T2,...")
    ap.add_argument("--pairs-per-fold", type=int, default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("LOOKALIKE_PROGRESS", "0")
    lfw_dir, pairs_file = find_pairs(data_home())
    pairs = parse_pairs(pairs_file.read_text(), lfw_dir)
    if args.pairs_per_fold:
        pairs = subset_pairs(pairs, args.pairs_per_fold)
    photos = list(dict.fromkeys(pairs.left + pairs.right))
    cache: dict = {}

    def vectors(name: str):
        if name not in cache:
            cache[name] = (combine([vectors(p) for p in name.split("+")]) if "+" in name
                           else embed_photos(photos, name, progress=False))
        return cache[name]

    print(f"{len(pairs)} pairs")
    for sweep in args.sweeps:
        name, _, values = sweep.partition("=")
        e = vectors(name)
        scores = np.sum(e.of(pairs.left) * e.of(pairs.right), axis=1)
        for t in (float(v) for v in values.split(",")):
            tar, far = rates_at(scores, pairs.same, t)
            acc = float(np.mean((scores >= t) == pairs.same))
            print(f"{name:11s} {t:.3f}: TAR {100 * tar:6.2f} %  FAR {100 * far:6.2f} %  "
                  f"accuracy {100 * acc:6.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
