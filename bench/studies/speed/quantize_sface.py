"""Make an int8 SFace: NNCF post-training quantisation of the fp32 graph, once, offline (NNCF
is a bench-only extra: ``pip install -e '.[quantize]'``). This made the first shipped graph
(tag ``int8``), which is the one shipped; a second graph (the first block and the last
linear layer kept f32) is made by ``int8_variants.py --variants early`` with these
calibration crops, measured and not shipped (NOTES-int8.md).

Calibration faces are the pipeline's own 112x112 crops of the most prominent face of:
one photo each of LFW people who appear nowhere in ``pairs.txt`` (so LFW's 10-fold test pairs
never saw them), and photos of the wild sets' *train* split (never their validation photos;
the same people do appear in validation, with other photos). Post-training quantisation only
sets each activation's range from these crops; no weight is trained on them.

Writes ``--out``/``sface-2021dec-int8ptq.{xml,bin,json}`` (default a temporary folder: a
second graph in ``src/lookalike/runtime/int8/`` for the same source would shadow the shipped
one; the json: how it was made, and the SHA-256 of the int8 file it comes from) and
prints the cosine between int8 and fp32 vectors on held-out faces (LFW people of pairs.txt).

    python -m bench.studies.speed.quantize_sface [--lfw 300] [--wild 100] \
        [--preset performance|mixed]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import data_home, lfw_funneled  # noqa: E402

NAME = "sface-2021dec-int8ptq"


def crops(paths: list[Path]) -> np.ndarray:
    """SFace's input blobs (N, 3, 112, 112) of the most prominent face of each photo (a photo
    without a face gets its whole image, as ``--crops`` training does)."""
    from lookalike.face.detector import FaceDetector, whole_image_face
    from lookalike.face.embedders import SFaceEmbedder
    from lookalike.photos.images import decode_photo

    det, emb = FaceDetector(), SFaceEmbedder(precision="f32")
    out = []
    for p in paths:
        rgb, _ = decode_photo(p.read_bytes())
        faces = det.detect(rgb)[:1] or [whole_image_face(rgb.shape)]
        out.append(emb._rgb_crops(rgb, faces)[0].transpose(2, 0, 1).astype(np.float32))
    return np.stack(out)


def pair_people() -> set[str]:
    lines = (lfw_funneled().parent / "pairs.txt").read_text().splitlines()[1:]
    out = set()
    for line in lines:
        f = line.split()
        out.add(f[0])
        if len(f) == 4:
            out.add(f[2])
    return out


def calibration_photos(n_lfw: int, n_wild: int, seed: int = 0) -> tuple[list[Path], list[Path]]:
    rng = np.random.default_rng(seed)
    root = lfw_funneled()
    in_pairs = pair_people()
    outside = sorted(d for d in root.iterdir() if d.is_dir() and d.name not in in_pairs)
    lfw = [sorted(d.glob("*.jpg"))[0] for d in rng.permutation(outside)[:n_lfw]]
    wild = sorted((data_home() / "wild").glob("*/train/*/*.jpg"))
    wild = [wild[i] for i in sorted(rng.permutation(len(wild))[:n_wild])]
    return lfw, wild


def held_out(n: int, seed: int = 1) -> list[Path]:
    root = lfw_funneled()
    people = sorted(pair_people())
    rng = np.random.default_rng(seed)
    return [sorted((root / p).glob("*.jpg"))[0] for p in rng.permutation(people)[:n]]


def vectors(compiled, blobs: np.ndarray) -> np.ndarray:
    req = compiled.create_infer_request()
    out = []
    for b in blobs:
        req.infer({0: b[None]})
        out.append(np.array(req.get_output_tensor(0).data, copy=True).reshape(-1))
    v = np.stack(out)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lfw", type=int, default=300, help="LFW calibration people (one photo)")
    ap.add_argument("--wild", type=int, default=100, help="wild train-split calibration photos")
    ap.add_argument("--preset", choices=["performance", "mixed"], default="performance")
    ap.add_argument("--check", type=int, default=200, help="held-out faces for the cosine")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    os.environ["LOOKALIKE_PRECISION"] = "f32"
    import nncf
    import openvino as ov

    from lookalike.face.detector import sface_path
    from lookalike.runtime.openvino_import import ov_core
    from lookalike.runtime.weights import fp32_onnx

    lfw, wild = calibration_photos(args.lfw, args.wild)
    t0 = time.perf_counter()
    calib = crops(lfw + wild)
    print(f"{len(calib)} calibration faces ({len(lfw)} LFW outside pairs.txt, {len(wild)} wild "
          f"train) in {time.perf_counter() - t0:.0f} s")
    path, _ = fp32_onnx(sface_path())
    core = ov_core()
    preset = {"performance": nncf.QuantizationPreset.PERFORMANCE,
              "mixed": nncf.QuantizationPreset.MIXED}[args.preset]
    t0 = time.perf_counter()
    int8 = nncf.quantize(core.read_model(str(path)), nncf.Dataset(list(calib[:, None])),
                         subset_size=len(calib), preset=preset)
    print(f"quantised in {time.perf_counter() - t0:.0f} s")
    args.out = args.out or Path(tempfile.mkdtemp(prefix="quantize_sface-"))
    args.out.mkdir(parents=True, exist_ok=True)
    xml = args.out / f"{NAME}.xml"
    ov.save_model(int8, str(xml), compress_to_fp16=False)
    check = crops(held_out(args.check))
    cfg = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"}
    f32 = vectors(core.compile_model(core.read_model(str(path)), "CPU", cfg), check)
    q = vectors(core.compile_model(core.read_model(str(xml)), "CPU", cfg), check)
    cos = (f32 * q).sum(1)
    source = sface_path()
    info = {
        "made_by": "bench/studies/speed/quantize_sface.py " + " ".join(sys.argv[1:]),
        "from": source.name,
        "from_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "license": "Apache-2.0 (SFace, OpenCV Zoo); quantised by lookalike",
        "nncf": nncf.__version__, "openvino": ov.__version__.split("-")[0],
        "preset": args.preset,
        "calibration": {"lfw_outside_pairs": len(lfw), "wild_train": len(wild)},
        "cosine_to_f32_on_held_out": {"faces": len(check), "min": round(float(cos.min()), 4),
                                      "median": round(float(np.median(cos)), 4)},
        "bin_sha256": hashlib.sha256(xml.with_suffix(".bin").read_bytes()).hexdigest(),
    }
    xml.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
