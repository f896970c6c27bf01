"""Does int8 change the face choice? Every wild photo (train and validation of each set)
analysed at f32 and at int8 (the cached analyses when there are: run ``bench_wild`` at both
precisions first), and the photo's first face compared.

The face choice weighs contenders by SFace's raw feature norm (``choose.measure_quality``),
which int8 changes; the script also re-orders each int8 analysis with the f32 norms of the
same faces (what measuring the quality at f32 would choose) and with the int8 norms divided by
the median int8/f32 norm ratio (a precision-independent scale), to say which fix would
matter. Usage: ``python -m bench.studies.wild.face_choice_precision [--name face_choice_int8]``.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace

import numpy as np

from bench.common import RESULTS, data_home, machine, save  # noqa: E402


def _same(a, b) -> bool:
    return bool(np.allclose(np.asarray(a.box, float), np.asarray(b.box, float), atol=1.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", default="face_choice_int8")
    args = ap.parse_args()
    from lookalike.face.choose import order_faces
    from lookalike.face.embedders import SFaceEmbedder
    from lookalike.face.pipeline import FacePipeline

    photos = sorted((data_home() / "wild").glob("*/*/*/*.jpg"))
    pipes = {p: FacePipeline(SFaceEmbedder(precision=p)) for p in ("f32", "int8")}
    out = {"photos": len(photos), "several_faces": 0, "measured": 0, "first_differs": [],
           "first_differs_with_f32_norms": [], "first_differs_scaled": [],
           "reorder_check_differs": 0}
    ratios, pairs = [], []
    for path in photos:
        a = {p: pipe.analyze(path) for p, pipe in pipes.items()}
        f32, q8 = a["f32"], a["int8"]
        if len(f32.faces) < 2:
            continue
        out["several_faces"] += 1
        if not any(f.quality is not None for f in f32.faces + q8.faces):
            continue
        out["measured"] += 1
        pairs.append((str(path), f32, q8))
        for g in q8.faces:
            m = next((f for f in f32.faces if _same(f, g)), None)
            if m is not None and m.quality and g.quality:
                ratios.append(g.quality / m.quality)
    scale = float(np.median(ratios)) if ratios else 1.0
    for path, f32, q8 in pairs:
        size = q8.image_size
        if not _same(f32.faces[0], q8.faces[0]):
            out["first_differs"].append(path)
        if not _same(order_faces(list(q8.faces), size)[0], q8.faces[0]):
            out["reorder_check_differs"] += 1  # order_faces must give the stored order back
        with_f32 = [replace(g, quality=next((f.quality for f in f32.faces if _same(f, g)),
                                            g.quality)) for g in q8.faces]
        if not _same(order_faces(with_f32, size)[0], f32.faces[0]):
            out["first_differs_with_f32_norms"].append(path)
        scaled = [replace(g, quality=None if g.quality is None else g.quality / scale)
                  for g in q8.faces]
        if not _same(order_faces(scaled, size)[0], f32.faces[0]):
            out["first_differs_scaled"].append(path)
    r = np.array(ratios) if ratios else np.ones(1)
    out["norm_ratio_int8_over_f32"] = {
        "faces": len(ratios), "median": round(scale, 4),
        "p5_p95": [round(float(x), 4) for x in np.percentile(r, [5, 95])]}
    out["machine"], out["load"] = machine(), os.getloadavg()
    print(json.dumps({k: v for k, v in out.items() if k != "machine"}, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    save(args.name, out)


if __name__ == "__main__":
    main()
