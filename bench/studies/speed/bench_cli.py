"""``lookalike predict`` as a person runs it, one process per call (issue 26): start-up and
per photo, for one or more source trees alternated call by call (a baseline's and this
one's: the machine's drift hits both alike).

For each source tree (``PYTHONPATH=<tree>``, the embedding cache off, lfw7's 42 validation
photos, a model trained on lfw7/train):

* **start-up**: one photo, wall and CPU of the whole process, with the model cache warm
  (``$LOOKALIKE_CACHE_DIR``), and the first two runs on an empty model cache;
* **per photo** as ``bench_speed`` computes it: (T(42 photos) − T(1 photo)) / 41, the wall
  per round over the same round's bare OpenCV networks (``bench_speed.bare_opencv``, mean
  per photo, in this process);
* **slope**: (T(84) − T(42)) / 42 (the 42 photos twice): what one more photo costs once the
  run's one-time work (compiles, first inferences) is paid — steadier, as start-up noise
  (±100 ms a process here) cancels.

Medians over ``--rounds``. Writes ``results/<name>.json``::

    python -m bench.studies.speed.bench_cli --model lfw7.lookalike --rounds 7 \\
        --sources /tmp/base/src src --name cli_ab
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.common import RESULTS, lfw7, machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--sources", nargs="+", default=["src"],
                    help="source trees (each holding lookalike/), alternated")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--name", default="cli")
    args = ap.parse_args()
    from bench.studies.speed.bench_speed import bare_opencv, cli_run, per_photo

    def run(src: str, photos: list[Path], cache: str | None = None):
        return cli_run(args.model, photos, src=src, cache=cache, quiet=True)

    srcs = [str(Path(s).resolve()) for s in args.sources]
    small = sorted((lfw7() / "validation").glob("*/*.jpg"))
    load0 = os.getloadavg()
    cold = {}
    for s in srcs:  # an empty model cache: the first run builds it, the second reads it
        with tempfile.TemporaryDirectory(prefix="bench_cli_cache_") as d:
            cold[s] = [run(s, small[:1], d) for _ in range(2)]
    bare = bare_opencv(small)
    rows: dict[str, dict[str, list]] = {s: {"t1": [], "t42": [], "t84": [], "bare": []}
                                        for s in srcs}
    for _ in range(args.rounds):
        b = float(np.mean(per_photo(bare, small)[0]))
        for s in srcs:
            r = rows[s]
            r["bare"].append(b)
            r["t1"].append(run(s, small[:1]))
            r["t42"].append(run(s, small))
            r["t84"].append(run(s, small + small))
    out: dict = {"machine": machine(), "rounds": args.rounds, "photos": len(small),
                 "load": [load0, os.getloadavg()], "sources": {}}
    for s in srcs:
        r = rows[s]
        t1, t42, t84 = (np.array(r[k]) for k in ("t1", "t42", "t84"))  # (rounds, 2)
        bare_w = np.array(r["bare"])
        per = (t42[:, 0] - t1[:, 0]) / (len(small) - 1)
        slope = (t84[:, 0] - t42[:, 0]) / len(small)
        out["sources"][s] = {
            "startup_ms": {"wall_p50": round(1000 * float(np.median(t1[:, 0]))),
                           "wall_p10": round(1000 * float(np.percentile(t1[:, 0], 10))),
                           "cpu_p50": round(1000 * float(np.median(t1[:, 1]))),
                           "empty_cache_first_wall": round(1000 * cold[s][0][0]),
                           "empty_cache_second_wall": round(1000 * cold[s][1][0])},
            "bare_opencv_wall_ms": round(1000 * float(np.median(bare_w)), 2),
            "per_photo_wall_ms": round(1000 * float(np.median(per)), 2),
            "per_photo_over_bare": round(float(np.median(per / bare_w)), 3),
            "per_photo_over_bare_rounds": [round(float(v), 3) for v in per / bare_w],
            "slope_wall_ms": round(1000 * float(np.median(slope)), 2),
            "slope_over_bare": round(float(np.median(slope / bare_w)), 3),
            "slope_cpu_ms": round(1000 * float(np.median((t84[:, 1] - t42[:, 1])
                                                          / len(small))), 2),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out["sources"], indent=1))
    print(f"load {out['load']}; wrote {RESULTS / (args.name + '.json')}")


if __name__ == "__main__":
    main()
