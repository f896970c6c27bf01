"""CPU per face and per photo at f32 and int8 (the shipped int8 SFace), through the product's
own classes, interleaved in one process so both see the same machine load.

- **per face**: ``SFaceEmbedder.features`` on the pipeline's crops of LFW faces, one face per
  inference and all faces of a batch (16) per inference, at 1 and 2 inference threads;
- **per photo**: ``FacePipeline.analyze`` (decode, detect, embed; embedding cache off) on the
  lfw7 validation photos, at the default threads.

Also the cosine between each face's int8 and f32 vectors. Writes results/<name>.json.

    python -m bench.studies.speed.bench_precision [--faces 200] [--rounds 5] [--photo-rounds 3]
        [--name precision]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from bench.common import lfw7, lfw_funneled, machine, save  # noqa: E402

PRECISIONS = ("f32", "int8")


def faces_of(paths: list[Path]) -> list[tuple[np.ndarray, list]]:
    from lookalike.face.detector import FaceDetector
    from lookalike.photos.images import decode_photo

    det = FaceDetector()
    out = []
    for p in paths:
        rgb, _ = decode_photo(p.read_bytes())
        faces = det.detect(rgb)[:1]
        if faces:
            out.append((rgb, faces))
    return out


def cpu_ms(fn, n: int) -> float:
    c0 = time.process_time()
    fn()
    return (time.process_time() - c0) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--photo-rounds", type=int, default=3,
                    help="rounds of the per-photo figure (after one warm-up round)")
    ap.add_argument("--name", default="precision")
    args = ap.parse_args()
    os.environ.pop("LOOKALIKE_PRECISION", None)
    from lookalike.face.embedders import SFaceEmbedder
    from lookalike.face.pipeline import FacePipeline

    root = lfw_funneled()
    people = sorted(d for d in root.iterdir() if d.is_dir())
    rng = np.random.default_rng(2)
    paths = [sorted(d.glob("*.jpg"))[0] for d in rng.permutation(people)[: args.faces]]
    items = faces_of(paths)
    res: dict = {"machine": machine(), "faces": len(items)}
    for threads in ("1", "2"):
        os.environ["LOOKALIKE_THREADS"] = threads
        embs = {p: SFaceEmbedder(precision=p) for p in PRECISIONS}
        crops = {p: [] for p in PRECISIONS}
        for p, e in embs.items():  # compile, warm up
            e.features(*items[0])
            crops[p] = [e._rgb_crops(rgb, f)[0] for rgb, f in items]
        blob = np.stack(crops["f32"]).transpose(0, 3, 1, 2).astype(np.float32)
        one: dict[str, list[float]] = {p: [] for p in PRECISIONS}
        batch: dict[str, list[float]] = {p: [] for p in PRECISIONS}
        for _ in range(args.rounds):
            for p, e in embs.items():
                net = e._network()
                one[p].append(cpu_ms(lambda net=net, blob=blob: [net.run(b[None]) for b in blob],
                                     len(blob)))
                batch[p].append(cpu_ms(lambda net=net, blob=blob: [net.run(blob[i:i + 16])
                                                        for i in range(0, len(blob), 16)],
                                       len(blob)))
        for label, d in (("one_face_per_inference", one), ("16_faces_per_inference", batch)):
            med = {p: round(float(np.median(v)), 2) for p, v in d.items()}
            res[f"cpu_ms_per_face_{label}_threads{threads}"] = {
                **med, "int8_over_f32": round(med["int8"] / med["f32"], 3)}
            print(f"{threads} thread(s), {label}: CPU ms per face {med} "
                  f"-> int8/f32 {med['int8'] / med['f32']:.2f}x")
        if threads == "1":
            v = {p: np.concatenate([e.embed(rgb, f) for rgb, f in items])
                 for p, e in embs.items()}
            cos = (v["f32"] * v["int8"]).sum(1)
            res["cosine_int8_vs_f32"] = {"min": round(float(cos.min()), 4),
                                         "median": round(float(np.median(cos)), 4)}
            print("cosine int8 vs f32:", res["cosine_int8_vs_f32"])
    os.environ.pop("LOOKALIKE_THREADS", None)
    photos = sorted((lfw7() / "validation").glob("*/*.jpg"))
    data = [p.read_bytes() for p in photos]
    pipes = {p: FacePipeline(SFaceEmbedder(precision=p), cache=False) for p in PRECISIONS}
    for pipe in pipes.values():  # every photo once before the clock: every network compiled
        for d in data:          # (at int8 also the f32 SFace that measures contenders' quality)
            pipe.analyze(d)
    per_photo: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    wall: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for _ in range(max(1, args.photo_rounds)):
        for p, pipe in pipes.items():
            w0 = time.perf_counter()
            per_photo[p].append(cpu_ms(lambda pipe=pipe: [pipe.analyze(d) for d in data],
                                       len(data)))
            wall[p].append((time.perf_counter() - w0) / len(data) * 1000)
    med = {p: round(float(np.median(v)), 2) for p, v in per_photo.items()}
    res["cpu_ms_per_lfw7_photo_analyze"] = {**med, "int8_over_f32": round(
        med["int8"] / med["f32"], 3), "photos": len(data)}
    res["wall_ms_per_lfw7_photo_analyze"] = {p: round(float(np.median(v)), 2)
                                             for p, v in wall.items()}
    print(f"lfw7 photo (analyze, cache off): CPU ms {med}, wall ms "
          f"{res['wall_ms_per_lfw7_photo_analyze']}")
    res["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    save(args.name, res)


if __name__ == "__main__":
    main()
