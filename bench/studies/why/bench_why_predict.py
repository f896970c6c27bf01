"""What ``predict --why`` (K = 3) costs per explained match, end to end, in bare SFace inferences.

One command: ``python -m bench.studies.why.bench_why_predict MODEL [--repeat 15]`` (``MODEL``:
a trained ``.lookalike`` file, e.g. the demo's ``lfw-demo.lookalike``). 3 LFW photos are
predicted with and without ``explain_result(top=3)``, interleaved with a bare SFace inference
(batch of 1); the difference over the 9 matches is the explanation's cost per match as the
user pays it (thumbnails decoded, views cut, the networks run). The photos' analyses come from
the cache after the warm-up, so ``predict`` itself is cheap here.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bench.common import lfw_funneled, machine, save
from lookalike.answer.explain import explain_result
from lookalike.models.kinds import load


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a trained .lookalike model")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--name", default="why_predict_cost")
    args = ap.parse_args(argv)
    start = machine()
    model = load(args.model)
    photos = sorted(lfw_funneled().glob("*/*_0001.jpg"))[:120:40]
    net = model.pipeline.embedder._network()
    one = np.zeros((1, 3, 112, 112), np.float32)

    def run(why: bool) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        for p in photos:
            r = model.predict(p)
            if why:
                explain_result(model, p, r, top=3)
        return time.perf_counter() - t, time.process_time() - c

    for _ in range(2):
        run(True)
        net.run(one)
    times: dict[str, list] = {"bare": [], "plain": [], "why": []}
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        net.run(one)
        times["bare"].append((time.perf_counter() - t, time.process_time() - c))
        times["plain"].append(run(False))
        times["why"].append(run(True))
    med = {k: np.median(np.array(v), axis=0) for k, v in times.items()}
    extra = (med["why"] - med["plain"]) / (3 * len(photos))
    res = {"machine": start, "photos": len(photos), "top": 3, "repeat": args.repeat,
           "bare_sface_ms_p50": round(1000 * float(med["bare"][0]), 2),
           "bare_sface_cpu_ms_p50": round(1000 * float(med["bare"][1]), 2),
           "per_match_ms_p50": round(1000 * float(extra[0]), 1),
           "per_match_in_bare_inferences": round(float(extra[0] / med["bare"][0]), 2),
           "per_match_cpu_ms_p50": round(1000 * float(extra[1]), 1),
           "per_match_cpu_in_bare_inferences": round(float(extra[1] / med["bare"][1]), 2),
           "load_average_at_end": [round(v, 2) for v in os.getloadavg()]}
    print(res)
    save(args.name, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
