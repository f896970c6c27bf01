"""Does an int8 SFace pay on this CPU? NNCF post-training quantisation of the fp32 graph,
calibrated on LFW faces, against the fp32 graph in the same process (interleaved).

Measures CPU per face (batch 1, 1 and 2 inference threads), the cosine between each face's
int8 and fp32 vectors, and same/different verification on the first pairs of LFW's
``pairs.txt`` at SFace's threshold. Not part of the product: ``nncf`` is not a dependency
(``pip install nncf`` to run this). Usage:
``python -m bench.studies.speed.bench_int8 [--calib 300] [--pairs 300] [--name int8]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, lfw_funneled, machine  # noqa: E402
from bench.studies.speed.quantize_sface import crops  # noqa: E402 - the same calibration crops


def pairs(n: int) -> list[tuple[Path, Path, bool]]:
    root = lfw_funneled()
    lines = (root.parent / "pairs.txt").read_text().splitlines()[1:]
    out = []
    for line in lines:
        f = line.split()
        if len(f) == 3:
            a = root / f[0] / f"{f[0]}_{int(f[1]):04d}.jpg"
            b = root / f[0] / f"{f[0]}_{int(f[2]):04d}.jpg"
            out.append((a, b, True))
        elif len(f) == 4:
            a = root / f[0] / f"{f[0]}_{int(f[1]):04d}.jpg"
            b = root / f[2] / f"{f[2]}_{int(f[3]):04d}.jpg"
            out.append((a, b, False))
    same = [p for p in out if p[2]][: n // 2]
    diff = [p for p in out if not p[2]][: n // 2]
    return same + diff


def compile_(model, threads: int):
    from lookalike.runtime.openvino_import import ov_core as _ov_core

    return _ov_core().compile_model(model, "CPU", {
        "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32"})


def run(compiled, blobs: np.ndarray) -> np.ndarray:
    req = compiled.create_infer_request()
    out = []
    for b in blobs:
        req.infer({0: b[None]})
        out.append(np.array(req.get_output_tensor(0).data, copy=True).reshape(-1))
    return np.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calib", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--name", default="int8")
    args = ap.parse_args()
    import nncf

    from lookalike.face.detector import sface_path
    from lookalike.runtime import fp32_onnx
    from lookalike.runtime.openvino_import import ov_core as _ov_core

    mach = machine()
    root = lfw_funneled()
    people = sorted(p for p in root.iterdir() if p.is_dir())
    rng = np.random.default_rng(0)
    pool = [f for d in rng.choice(people, size=min(len(people), 4 * args.calib), replace=False)
            for f in sorted(d.glob("*.jpg"))[:1]]
    t0 = time.perf_counter()
    calib = crops(pool[: args.calib])
    print(f"{len(calib)} calibration faces in {time.perf_counter() - t0:.0f} s")
    path, _ = fp32_onnx(sface_path())
    fp32 = _ov_core().read_model(str(path))
    t0 = time.perf_counter()
    int8 = nncf.quantize(_ov_core().read_model(str(path)),
                         nncf.Dataset(list(calib[:, None])), subset_size=len(calib))
    print(f"quantised in {time.perf_counter() - t0:.0f} s")
    todo = pairs(args.pairs)
    files = sorted({p for a, b, _ in todo for p in (a, b)})
    blobs = crops(files)
    index = {f: i for i, f in enumerate(files)}
    res: dict = {"machine": mach, "calibration_faces": len(calib), "pairs": len(todo)}
    vecs = {}
    for threads in (1, 2):
        nets = {"f32": compile_(fp32, threads), "int8": compile_(int8, threads)}
        cpu: dict[str, list[float]] = {"f32": [], "int8": []}
        for _ in range(3):  # interleaved
            for name, net in nets.items():
                c0 = time.process_time()
                run(net, blobs[:100])
                cpu[name].append((time.process_time() - c0) / 100 * 1000)
        res[f"cpu_ms_per_face_threads{threads}"] = {k: round(float(np.median(v)), 2)
                                                    for k, v in cpu.items()}
        print(threads, "thread(s): CPU ms per face", res[f"cpu_ms_per_face_threads{threads}"])
        if threads == 1:
            vecs = {k: run(n, blobs) for k, n in nets.items()}
    unit = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in vecs.items()}
    cos = (unit["f32"] * unit["int8"]).sum(1)
    res["cosine_int8_vs_f32"] = {"min": round(float(cos.min()), 4),
                                 "median": round(float(np.median(cos)), 4)}
    threshold = 0.363
    for k, u in unit.items():
        sims = np.array([u[index[a]] @ u[index[b]] for a, b, _ in todo])
        same = np.array([s for _, _, s in todo])
        res[f"pairs_right_{k}"] = int(((sims >= threshold) == same).sum())
    print(json.dumps({k: v for k, v in res.items() if k != "machine"}, indent=1))
    res["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
