"""Would an int8 YuNet pay? NNCF post-training quantisation of the fp32 YuNet graph (calibrated
on wild train-split photos and LFW photos outside pairs.txt), against f32 in one process,
interleaved: CPU per inference at the detector's input sizes, and how the faces found differ
(count, box IoU, landmark shift) on the wild validation photos. A study: nothing is shipped.

    python bench/bench_int8_yunet.py [--calib 150] [--check 120] [--name int8_yunet]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_home, machine, save  # noqa: E402
from quantize_sface import calibration_photos  # noqa: E402


def blobs(paths: list[Path]) -> list[np.ndarray]:
    """YuNet's inputs as the detector makes them (longer side at most 640)."""
    from lookalike.face.detector import shrink, yunet_blob
    from lookalike.photos.images import decode_photo

    out = []
    for p in paths:
        rgb, _ = decode_photo(p.read_bytes())
        scale = min(1.0, 640 / max(rgb.shape[:2]))
        out.append(yunet_blob(rgb if scale == 1.0 else shrink(rgb, scale)))
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calib", type=int, default=150)
    ap.add_argument("--check", type=int, default=120)
    ap.add_argument("--name", default="int8_yunet")
    args = ap.parse_args()
    import nncf

    from lookalike.face.detector import yunet_decode, yunet_path
    from lookalike.runtime.openvino_import import import_openvino, ov_core
    from lookalike.runtime.weights import fp32_onnx

    lfw, wild = calibration_photos(args.calib // 3, args.calib - args.calib // 3)
    calib = blobs(lfw + wild)
    path, _ = fp32_onnx(yunet_path())
    core = ov_core()
    dyn = import_openvino().PartialShape([1, 3, -1, -1])
    fp32 = core.read_model(str(path))
    fp32.reshape({fp32.inputs[0]: dyn})
    t0 = time.perf_counter()
    int8 = nncf.quantize(fp32.clone(), nncf.Dataset(calib), subset_size=len(calib))
    print(f"quantised on {len(calib)} photos in {time.perf_counter() - t0:.0f} s")
    val = sorted((data_home() / "wild").glob("*/validation/*/*.jpg"))
    rng = np.random.default_rng(3)
    val = [val[i] for i in sorted(rng.permutation(len(val))[: args.check])]
    check = blobs(val)
    res: dict = {"machine": machine(), "calibration": {"lfw_outside_pairs": len(lfw),
                                                       "wild_train": len(wild)}}
    cfg = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
           "INFERENCE_PRECISION_HINT": "f32"}
    for side in (160, 640):
        x = np.random.default_rng(0).random((1, 3, side, side), np.float32) * 255
        nets = {}
        for k, m in (("f32", fp32), ("int8", int8)):
            mm = m.clone()
            mm.reshape({mm.inputs[0]: [1, 3, side, side]})
            nets[k] = core.compile_model(mm, "CPU", cfg).create_infer_request()
            nets[k].infer({0: x})
        cpu: dict[str, list[float]] = {"f32": [], "int8": []}
        n = 60 if side == 160 else 15
        for _ in range(5):
            for k, req in nets.items():
                c0 = time.process_time()
                for _ in range(n):
                    req.infer({0: x})
                cpu[k].append((time.process_time() - c0) / n * 1000)
        med = {k: round(float(np.median(v)), 2) for k, v in cpu.items()}
        res[f"cpu_ms_{side}x{side}_1thread"] = {**med, "int8_over_f32": round(
            med["int8"] / med["f32"], 3)}
        print(side, res[f"cpu_ms_{side}x{side}_1thread"])
    nets = {k: core.compile_model(m, "CPU", {**cfg, "CPU_RUNTIME_CACHE_CAPACITY": 0})
            for k, m in (("f32", fp32), ("int8", int8))}
    counts = {"f32": 0, "int8": 0}
    ious, shifts, same_count = [], [], 0
    for b in check:
        rows = {}
        for k, net in nets.items():
            req = net.create_infer_request()
            req.infer({0: b})
            outs = [np.array(req.get_output_tensor(i).data, np.float32)
                    for i in range(len(net.outputs))]
            rows[k] = yunet_decode(outs, b.shape[2:], 0.6, 0.3)
            counts[k] += len(rows[k])
        same_count += len(rows["f32"]) == len(rows["int8"])
        for r in rows["f32"]:
            if len(rows["int8"]):
                j = int(np.argmax([iou(r[:4], q[:4]) for q in rows["int8"]]))
                ious.append(iou(r[:4], rows["int8"][j][:4]))
                shifts.append(float(np.abs(r[4:14] - rows["int8"][j][4:14]).max() / r[2]))
    res["faces_found"] = counts
    res["photos_same_face_count"] = f"{same_count}/{len(check)}"
    res["box_iou_f32_vs_int8"] = {"min": round(float(np.min(ious)), 3),
                                  "median": round(float(np.median(ious)), 3)}
    res["landmark_shift_over_box_width"] = {"max": round(float(np.max(shifts)), 3),
                                            "median": round(float(np.median(shifts)), 4)}
    res["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print({k: v for k, v in res.items() if k != "machine"})
    save(args.name, res)


if __name__ == "__main__":
    main()
