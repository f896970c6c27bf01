"""Grouping unlabelled faces into people (issue 23): which algorithm, how well, how fast.

    LOOKALIKE_CACHE_DIR=... python -m bench.studies.group.bench_group              # everything
    python -m bench.studies.group.bench_group --sets wild,lfw7 --scale 10000         # a part

Quality (``--sets lfw,wild,lfw7``): every face of every photo is grouped (bystanders too);
the scored faces are described in group_data.py. Chinese whispers, average linkage (both
on the same kNN graph, at a sweep of thresholds) and HDBSCAN (scikit-learn) run on the same
embeddings; "naive" is the issue's reference (the largest face of each photo only, average
linkage at 0.363). Pairwise and BCubed precision / recall / F1, groups against people, purity
of the 20 largest groups.

Scale (``--scale 10000,100000``): LFW's faces plus synthetic people (random centres in the
embedding space, faces around them at LFW-like same-person similarity, group sizes drawn from
a Zipf law so that most people are seen once), grouped in a fresh process per size, which
reports the kNN graph's and the algorithm's seconds and its peak RSS.

Writes bench/studies/group/results/group.json and prints a summary (bench/NOTES-group.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import data_home, machine, save  # noqa: E402
from bench.studies.group.group_data import load, photos_of  # noqa: E402
from lookalike.grouping.algorithms import average_linkage, chinese_whispers, hdbscan  # noqa
from lookalike.grouping.graph import knn  # noqa: E402
from lookalike.grouping.metrics import purity_of_largest, scores  # noqa: E402
from lookalike.grouping.model import PENALTY  # noqa: E402

SETS = {  # name: (folder below the data home, glob, which face is the folder's person)
    "lfw": ("lfw_home/lfw_funneled", "*/*.jpg", "first"),
    "wild": ("wild", "*/*/*/*.jpg", "agree"),
    "lfw7": ("lfw7", "*/*/*.jpg", "first"),
}
THRESHOLDS = (0.30, 0.363, 0.40, 0.45)
PENALTIES = (0.1, 0.15, 0.2)
NAIVE_THRESHOLD = 0.363


def _row(lab: np.ndarray, truth: np.ndarray, seconds: float) -> dict:
    m = truth >= 0
    s = scores(lab[m], truth[m])
    s["purity_top20"] = [round(v, 3) for v in purity_of_largest(lab[m], truth[m])]
    s["purity_top20_mean"] = round(float(np.mean(s["purity_top20"])), 4)
    s["groups_all_faces"] = int(len(np.unique(lab)))
    s["seconds"] = round(seconds, 2)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in s.items()}


def quality(name: str) -> dict:
    folder, pattern, choose = SETS[name]
    d = load(photos_of(data_home() / folder, pattern), choose=choose)
    X, truth = d["X"], d["truth"]
    out: dict = {"faces": len(X), "photos": int(d["photo"].max() + 1),
                 "scored_faces": int((truth >= 0).sum()), "people": len(d["people"]),
                 "runs": {}}
    t0 = time.perf_counter()
    graph = knn(X)
    out["knn_seconds"] = round(time.perf_counter() - t0, 2)
    for thr in THRESHOLDS:
        for algo, fn in (("whispers", chinese_whispers), ("average", average_linkage)):
            t0 = time.perf_counter()
            lab = fn(X, thr, graph=graph)
            out["runs"][f"{algo}@{thr}"] = _row(lab, truth, time.perf_counter() - t0)
    for pen in PENALTIES:
        t0 = time.perf_counter()
        lab = average_linkage(X, NAIVE_THRESHOLD, graph=graph, penalty=pen)
        tag = " (the default)" if pen == PENALTY else ""
        out["runs"][f"average@0.363+{pen}/sqrt(|A||B|){tag}"] = _row(
            lab, truth, time.perf_counter() - t0)
    for mcs in (2, 3):
        t0 = time.perf_counter()
        lab = hdbscan(X, min_cluster_size=mcs)
        out["runs"][f"hdbscan(min_cluster_size={mcs})"] = _row(lab, truth,
                                                                time.perf_counter() - t0)
    first = d["first"]
    t0 = time.perf_counter()
    lab = average_linkage(X[first], NAIVE_THRESHOLD)
    out["runs"]["naive: largest face only, average@0.363"] = _row(lab, truth[first],
                                                                  time.perf_counter() - t0)
    return out


def synthetic(n: int, base: np.ndarray, seed: int = 0) -> np.ndarray:
    """``base`` (real faces) plus synthetic faces up to ``n`` vectors."""
    rng = np.random.default_rng(seed)
    need = max(0, n - len(base))
    dim = base.shape[1]
    sizes: list[int] = []
    while sum(sizes) < need:
        sizes.append(int(min(rng.zipf(2.0), 500)))
    centres = rng.normal(size=(len(sizes), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    who = np.repeat(np.arange(len(sizes)), sizes)[:need]
    # noise per dimension 0.08: two faces of a person meet at cosine ~0.6, as on LFW
    V = centres[who] + rng.normal(scale=0.08, size=(need, dim))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    return np.concatenate([base[:n], V.astype(np.float32)])


def scale_one(n: int, algorithm: str) -> dict:
    """Run in a child process: group ``n`` faces, report seconds and peak RSS."""
    base = np.load(SCALE_BASE)["X"] if SCALE_BASE.exists() else np.zeros((0, 128), np.float32)
    X = synthetic(n, base)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    graph = knn(X)
    t1, c1 = time.perf_counter(), time.process_time()
    if algorithm == "average":
        lab = average_linkage(X, NAIVE_THRESHOLD, graph=graph, penalty=PENALTY)
    else:
        lab = chinese_whispers(X, NAIVE_THRESHOLD, graph=graph)
    t2, c2 = time.perf_counter(), time.process_time()
    return {"n": n, "algorithm": algorithm, "knn_seconds": round(t1 - t0, 1),
            "group_seconds": round(t2 - t1, 1), "total_seconds": round(t2 - t0, 1),
            "knn_cpu_seconds": round(c1 - c0, 1), "group_cpu_seconds": round(c2 - c1, 1),
            "load_average": round(__import__("os").getloadavg()[0], 2),
            "groups": int(len(np.unique(lab))),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rss_before_mb": round(rss0)}


SCALE_BASE = Path("/tmp/lookalike-bench-group-lfw.npz")


def scale(sizes: list[int], algorithms: list[str]) -> list[dict]:
    rows = []
    for n in sizes:
        for algo in algorithms:
            out = subprocess.run([sys.executable, __file__, "--scale-one", str(n), algo],
                                 capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="lfw,wild,lfw7")
    ap.add_argument("--scale", default="10000,100000")
    ap.add_argument("--scale-algorithms", default="whispers,average")
    ap.add_argument("--scale-one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--name", default="group")
    args = ap.parse_args()
    if args.scale_one:
        print(json.dumps(scale_one(int(args.scale_one[0]), args.scale_one[1])))
        return
    result: dict = {"machine": machine(), "sets": {}, "scale": []}
    for name in [s for s in args.sets.split(",") if s]:
        result["sets"][name] = q = quality(name)
        if name == "lfw":
            d = load(photos_of(data_home() / SETS["lfw"][0], SETS["lfw"][1]))
            np.savez(SCALE_BASE, X=d["X"])
        print(f"\n{name}: {q['faces']} faces ({q['scored_faces']} scored) of {q['people']} "
              f"people in {q['photos']} photos; kNN {q['knn_seconds']} s")
        for k, r in q["runs"].items():
            print(f"  {k:44s} BCubed P {r['bcubed_precision']:.3f} R {r['bcubed_recall']:.3f} "
                  f"F1 {r['bcubed_f1']:.3f} | pairwise F1 {r['pairwise_f1']:.3f} | "
                  f"{r['groups']} groups / {r['people']} people | purity20 "
                  f"{r['purity_top20_mean']:.3f} | {r['seconds']} s", flush=True)
    if args.scale:
        result["scale"] = scale([int(v) for v in args.scale.split(",")],
                                args.scale_algorithms.split(","))
    result["machine"]["load_average_at_end"] = [round(v, 2) for v in
                                                __import__("os").getloadavg()]
    save(args.name, result)


if __name__ == "__main__":
    main()
