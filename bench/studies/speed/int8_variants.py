"""Which int8 SFace? NNCF post-training quantisation variants of the fp32 graph, each
against the fp32 graph in one process: the cosine between each face's int8 and fp32 vectors
and the change of the raw vector's norm (the face choice's quality signal), and SFace's CPU
per face (1 thread; one face and 16 faces per inference, interleaved with fp32).

Calibration (as ``quantize_sface.py``): the first photo of LFW people outside ``pairs.txt``
and wild *train* photos. Two held-out sets, neither used for calibration:

- **select**: another photo of LFW people outside ``pairs.txt`` (the set a variant is picked
  on, and the validation set of accuracy-aware quantisation);
- **report**: one photo each of LFW people of ``pairs.txt`` (the set quoted before).

Variants (``--variants``, comma-separated): ``base`` (preset performance, as shipped),
``ends`` (the first convolution and the last linear layer kept f32), ``ends_bc`` (plus the
full bias correction instead of the fast one), ``mixed_ends`` (asymmetric activations),
``nodw`` / ``nodw_ends`` (the depthwise
convolutions kept f32), ``early`` (``ends`` and the first block's other layers kept f32),
``*_minmax`` (activation ranges: the calibration's full min-max, not the mean of each
face's),
``acc`` (``nncf.quantize_with_accuracy_control``: layers back to f32, most sensitive first,
until the mean cosine to fp32 on the select set drops at most ``--max-drop``). Usage:
``python -m bench.studies.speed.int8_variants [--variants base,ends] [--name int8_variants]``.
Writes the variants' IR to ``--out`` (default a temporary folder) and ``results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REPO, RESULTS, lfw_funneled, machine  # noqa: E402
from bench.studies.speed.bench_int8 import run as run_raw  # noqa: E402  (one face per inference)
from bench.studies.speed.quantize_sface import calibration_photos, crops, pair_people  # noqa: E402

OUT = REPO / "src" / "lookalike" / "runtime" / "int8"
#: The name ``--ship`` gives a graph and its tag in embedder versions (``2021dec-int8bq+int8.2``;
#: the tag needs the runtime of branch ``int8``: not merged, see NOTES-int8.md).
SHIPPED, TAG = "sface-2021dec-int8ptq2", "int8.2"
#: The first convolution and the last linear layer (the embedding's own projection).
ENDS = ["conv_1_conv2d", "pre_fc1/WithoutBiases"]
#: The rest of the first block, at 112x112 (7 % of the multiply-adds): what accuracy-aware
#: quantisation reverted first (conv_2, conv_2_dw and the first two batch norms).
EARLY = ["conv_1_batchnorm", "conv_2_dw_conv2d", "conv_2_dw_batchnorm", "conv_2_conv2d"]


def select_photos(n: int, calibrated: list[Path], seed: int = 2) -> list[Path]:
    """A photo of LFW people outside pairs.txt that calibration did not use (their second
    photo, or the first of people calibration did not draw)."""
    root = lfw_funneled()
    in_pairs, used = pair_people(), set(calibrated)
    rng = np.random.default_rng(seed)
    outside = sorted(d for d in root.iterdir() if d.is_dir() and d.name not in in_pairs)
    out = []
    for d in rng.permutation(outside):
        photos = [p for p in sorted(d.glob("*.jpg")) if p not in used]
        if photos:
            out.append(photos[0])
        if len(out) == n:
            break
    return out


def report_photos(n: int, seed: int = 1) -> list[Path]:
    root = lfw_funneled()
    rng = np.random.default_rng(seed)
    return [sorted((root / p).glob("*.jpg"))[0] for p in rng.permutation(sorted(pair_people()))[:n]]




def compare(f32: np.ndarray, q: np.ndarray) -> dict:
    nf, nq = np.linalg.norm(f32, axis=1), np.linalg.norm(q, axis=1)
    cos = (f32 * q).sum(1) / (nf * nq)
    ratio = nq / nf
    return {"faces": len(cos), "cos_min": round(float(cos.min()), 4),
            "cos_p1": round(float(np.percentile(cos, 1)), 4),
            "cos_median": round(float(np.median(cos)), 4),
            "cos_mean": round(float(cos.mean()), 5),
            "norm_ratio_median": round(float(np.median(ratio)), 4),
            "norm_ratio_p5_p95": [round(float(x), 4) for x in np.percentile(ratio, [5, 95])],
            "norm_abs_change_median": round(float(np.median(np.abs(nq - nf))), 4)}


def cpu_per_face(paths: dict[str, Path], blobs: np.ndarray, rounds: int) -> dict:
    """CPU ms per face of each graph on 1 thread, one face and 16 faces per inference,
    interleaved round by round; medians of the rounds."""
    from lookalike.runtime.openvino_import import ov_core

    core = ov_core()
    cfg = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"}
    one, many = {}, {}
    for k, path in paths.items():
        one[k] = core.compile_model(core.read_model(str(path)), "CPU", cfg)
        m = core.read_model(str(path))
        m.reshape([16, 3, 112, 112])
        many[k] = core.compile_model(m, "CPU", cfg)
    out: dict[str, dict[str, list[float]]] = {k: {"b1": [], "b16": []} for k in paths}
    b16 = [blobs[i: i + 16] for i in range(0, len(blobs) - 15, 16)]
    for _ in range(rounds):
        for k in paths:
            req = one[k].create_infer_request()
            t = time.process_time()
            for b in blobs:
                req.infer({0: b[None]})
            out[k]["b1"].append(1e3 * (time.process_time() - t) / len(blobs))
            req = many[k].create_infer_request()
            t = time.process_time()
            for b in b16:
                req.infer({0: b})
            out[k]["b16"].append(1e3 * (time.process_time() - t) / (16 * len(b16)))
    res = {k: {m: round(float(np.median(v)), 3) for m, v in d.items()} for k, d in out.items()}
    for k in paths:
        res[k]["b1_over_f32"] = round(res[k]["b1"] / res["f32"]["b1"], 3)
        res[k]["b16_over_f32"] = round(res[k]["b16"] / res["f32"]["b16"], 3)
    return res


def quantize(kind: str, model, calib: np.ndarray, select: tuple[np.ndarray, np.ndarray],
             max_drop: float, ranking: int = 100):
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    preset = nncf.QuantizationPreset.MIXED if kind.startswith("mixed") else \
        nncf.QuantizationPreset.PERFORMANCE
    names = (ENDS + EARLY) if "early" in kind else ENDS if "ends" in kind else []
    types = ["GroupConvolution"] if "nodw" in kind else []
    ignored = (nncf.IgnoredScope(names=names, types=types, validate=False)
               if names or types else None)
    kw: dict = {"subset_size": len(calib), "preset": preset}
    if ignored is not None:
        kw["ignored_scope"] = ignored
    if kind.endswith("_bc"):
        kw["fast_bias_correction"] = False
    if kind.endswith("_minmax"):  # the activations' full range (no clipping of outliers)
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
        from nncf.quantization.range_estimator import RangeEstimatorParametersSet

        kw["advanced_parameters"] = AdvancedQuantizationParameters(
            activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    data = nncf.Dataset(list(calib[:, None]))
    if kind != "acc":
        return nncf.quantize(model, data, **kw), {}
    blobs, ref = select
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)

    def validate(compiled, items) -> tuple[float, list[float]]:
        req = compiled.create_infer_request()
        per = []
        for blob, r in items:
            req.infer({0: blob[None]})
            v = np.array(req.get_output_tensor(0).data, copy=True).reshape(-1)
            per.append(float(v @ r / np.linalg.norm(v)))
        return float(np.mean(per)), per

    val = nncf.Dataset(list(zip(blobs, ref, strict=True)), lambda item: item[0][None])
    restorer = AdvancedAccuracyRestorerParameters(ranking_subset_size=ranking)
    q = nncf.quantize_with_accuracy_control(
        model, data, val, validation_fn=validate, max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE, **kw,
        advanced_accuracy_restorer_parameters=restorer)
    return q, {"max_drop": max_drop, "ranking_subset": ranking}


def ship(xml: Path, kind: str, entry: dict, calibration: dict) -> None:
    """The variant becomes the package's int8 SFace: ``runtime/int8/<SHIPPED>.{xml,bin,json}``
    (the json: how it was made, from which file, its ``tag`` in embedder versions), replacing
    the graph shipped before."""
    import hashlib
    import shutil
    import sys

    import nncf
    import openvino as ov

    from lookalike.face.detector import sface_path

    for old in OUT.glob("sface-*"):
        old.unlink()
    dest = OUT / f"{SHIPPED}.xml"
    shutil.copyfile(xml, dest)
    shutil.copyfile(xml.with_suffix(".bin"), dest.with_suffix(".bin"))
    source = sface_path()
    info = {
        "made_by": "python -m bench.studies.speed.int8_variants " + " ".join(sys.argv[1:]),
        "tag": TAG, "variant": kind,
        "from": source.name,
        "from_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "license": "Apache-2.0 (SFace, OpenCV Zoo); quantised by lookalike",
        "nncf": nncf.__version__, "openvino": ov.__version__.split("-")[0],
        "calibration": calibration, "fake_quantize_ops": entry["fake_quantize_ops"],
        "ignored": (ENDS + EARLY) if "early" in kind else ENDS if "ends" in kind else [],
        "cosine_to_f32": {"select (LFW outside pairs.txt)": entry["select"],
                          "report (LFW people of pairs.txt)": entry["report"]},
        "bin_sha256": hashlib.sha256(dest.with_suffix(".bin").read_bytes()).hexdigest(),
    }
    if "max_drop" in entry:
        info["accuracy_control"] = {"metric": "mean cosine to f32 on the select set",
                                    "max_drop": entry["max_drop"],
                                    "ranking_subset": entry["ranking_subset"]}
    dest.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"shipped {dest}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default="base,ends,ends_bc")
    ap.add_argument("--lfw", type=int, default=300)
    ap.add_argument("--wild", type=int, default=100)
    ap.add_argument("--select", type=int, default=300)
    ap.add_argument("--report", type=int, default=200)
    ap.add_argument("--max-drop", type=float, default=0.004)
    ap.add_argument("--ranking", type=int, default=100,
                    help="acc: faces that rank the layers (of the select set)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--name", default="int8_variants")
    ap.add_argument("--time", nargs="*", default=[], metavar="NAME=XML",
                    help="also time these graphs (made earlier)")
    ap.add_argument("--ship", action="store_true",
                    help="write the (one) variant into the package as the shipped int8 SFace")
    args = ap.parse_args()
    if args.ship and "," in args.variants:
        ap.error("--ship takes one variant")
    os.environ["LOOKALIKE_PRECISION"] = "f32"
    import openvino as ov

    from lookalike.face.detector import sface_path
    from lookalike.runtime.openvino_import import ov_core
    from lookalike.runtime.weights import fp32_onnx

    out_dir = args.out or Path(tempfile.mkdtemp(prefix="int8_variants-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    lfw, wild = calibration_photos(args.lfw, args.wild)
    t0 = time.perf_counter()
    calib = crops(lfw + wild)
    select = crops(select_photos(args.select, lfw))
    report = crops(report_photos(args.report))
    print(f"crops in {time.perf_counter() - t0:.0f} s: {len(calib)} calibration, "
          f"{len(select)} select, {len(report)} report", flush=True)
    core = ov_core()
    path, _ = fp32_onnx(sface_path())
    cfg = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"}
    f32 = core.compile_model(core.read_model(str(path)), "CPU", cfg)
    ref_select, ref_report = run_raw(f32, select), run_raw(f32, report)
    result: dict = {"machine": machine(), "load_start": os.getloadavg(),
                    "calibration": {"lfw_outside_pairs": len(lfw), "wild_train": len(wild)},
                    "variants": {}}
    paths = {"f32": path, **{k: Path(x) for k, x in
                             (a.split("=", 1) for a in args.time if args.time)}}
    for kind in [v for v in args.variants.split(",") if v]:
        t0, c0 = time.perf_counter(), time.process_time()
        q, extra = quantize(kind, core.read_model(str(path)), calib, (select, ref_select),
                            args.max_drop, args.ranking)
        made = {"wall_s": round(time.perf_counter() - t0), "cpu_s": round(time.process_time() - c0)}
        xml = out_dir / f"sface-{kind}.xml"
        ov.save_model(q, str(xml), compress_to_fp16=False)
        c = core.compile_model(core.read_model(str(xml)), "CPU", cfg)
        paths[kind] = xml
        fq = sum(o.get_type_name() == "FakeQuantize" for o in q.get_ordered_ops())
        entry = {"xml": str(xml), "fake_quantize_ops": fq, "made": made, **extra,
                 "select": compare(ref_select, run_raw(c, select)),
                 "report": compare(ref_report, run_raw(c, report))}
        result["variants"][kind] = entry
        print(kind, json.dumps(entry), flush=True)
        if args.ship:
            ship(xml, kind, entry, result["calibration"])
    result["cpu_ms_per_face_1thread"] = cpu_per_face(paths, report[:96], args.rounds)
    result["load_end"] = os.getloadavg()
    print(json.dumps(result["cpu_ms_per_face_1thread"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
