"""Photos side by side (``lookalike.runtime.lanes``) against one photo at a time, in one process,
interleaved round by round, beside the bare networks through OpenCV (the reference of issue 26).

Per photo, wall and CPU (``time.process_time``: every thread of this process), the embedding
cache off, on lfw7's validation photos (and, with ``--big N``, N 12-megapixel JPEGs made as
``bench_speed.py`` makes them):

* ``one_at_a_time``: ``Model.predict(p)`` for each photo (every core on each inference);
* ``side_by_side``: ``Model.predict_many(photos)`` (one lane per core, as ``lookalike predict
  FOLDER`` answers them);
* ``bare_opencv``: ``cv2.imread`` + ``FaceDetectorYN`` + ``FaceRecognizerSF`` on the same photos.

Answers of both ways are checked equal. Usage:
``python -m bench.studies.speed.bench_lanes --model lfw7.lookalike [--rounds 5] [--name lanes]``
→ ``results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, lfw7, machine  # noqa: E402
from bench.studies.speed.bench_speed import bare_opencv, make_big

os.environ.setdefault("LOOKALIKE_PROGRESS", "0")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big", type=int, default=0, help="also N 12 MP photos")
    ap.add_argument("--name", default="lanes")
    args = ap.parse_args()
    import lookalike
    from lookalike.models.model import load
    from lookalike.runtime.lanes import lanes_for

    sets = {"small": sorted((lfw7() / "validation").glob("*/*.jpg"))}
    if args.big:
        sets["big"] = make_big(Path(tempfile.mkdtemp(prefix="bench_lanes_")), args.big)
    model = load(args.model)
    model.pipeline.cache = None
    bare = bare_opencv(sets["small"])
    res: dict = {"machine": machine(), "sources": lookalike.__file__,
                 "lanes": lanes_for(len(sets["small"])), "rounds": args.rounds}

    def one_at_a_time(photos):
        return [model.predict(p).to_dict() for p in photos]

    def side_by_side(photos):
        return [r.to_dict() for r in model.predict_many(photos)[0]]

    def bare_all(photos):
        for p in photos:
            bare(p)

    for photos in sets.values():  # compile every variant, warm the caches
        assert one_at_a_time(photos[:4]) == side_by_side(photos[:4])
    runs: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.rounds):
        for size, photos in sets.items():
            for label, fn in (("bare_opencv", bare_all), ("one_at_a_time", one_at_a_time),
                              ("side_by_side", side_by_side)):
                if label == "bare_opencv" and size == "big":
                    continue  # (naive OpenCV detects at the photo's full size)
                w0, c0 = time.perf_counter(), time.process_time()
                fn(photos)
                r = runs.setdefault(f"{size}/{label}", {"wall_ms": [], "cpu_ms": []})
                r["wall_ms"].append(1000 * (time.perf_counter() - w0) / len(photos))
                r["cpu_ms"].append(1000 * (time.process_time() - c0) / len(photos))
    res["per_photo_median_of_rounds"] = {
        k: {m: round(float(np.median(v)), 2) for m, v in d.items()} for k, d in runs.items()}
    res["per_round"] = {k: {m: [round(x, 2) for x in v] for m, v in d.items()}
                        for k, d in runs.items()}
    pp = res["per_photo_median_of_rounds"]
    ratios = {}
    for way in ("one_at_a_time", "side_by_side"):
        for m in ("wall_ms", "cpu_ms"):
            ratios[f"small {way} {m} / bare opencv"] = pp[f"small/{way}"][m] / pp[
                "small/bare_opencv"][m]
    for size in sets:
        for m in ("wall_ms", "cpu_ms"):
            ratios[f"{size} side_by_side {m} / one_at_a_time"] = (
                pp[f"{size}/side_by_side"][m] / pp[f"{size}/one_at_a_time"][m])
    res["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    res["answers_equal"] = all(one_at_a_time(p) == side_by_side(p) for p in sets.values())
    res["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.name}.json"
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: res[k] for k in ("lanes", "per_photo_median_of_rounds", "ratios",
                                          "answers_equal")}, indent=1))
    print(f"load {res['machine']['load_average_at_start']} -> {res['load_average_at_end']}; "
          f"wrote {out}")


if __name__ == "__main__":
    main()
