"""Two ideas for a higher LFW score, measured on LFW's pairs (both came out flat; kept so the
result can be checked and not tried again blindly).

    .venv/bin/python bench/lfw_variants.py flip       # SFace, with and without flip averaging
    .venv/bin/python bench/lfw_variants.py dlib-box   # dlib chips from YuNet's box or a
                                                      # HOG-like box mapped from it

``flip``: each aligned 112 px SFace crop is embedded as it is and mirrored, and the two vectors
are summed (test-time augmentation, as ArcFace evaluations do); all 6,000 pairs, one pass gives
both variants. ``dlib-box``: dlib's 5-point landmark model was trained on its own HOG detector's
boxes, square and lower than YuNet's (on 398 LFW photos: side 1.06 × YuNet's width, centre
0.065 × its height lower); the chip is cut from landmarks fitted inside YuNet's box, or inside
that mapped box; the 2,000-pair subset (first 100 same + 100 different pairs per fold). No
embedding cache is used (the variants are not product embedders). Writes
bench/results/lfw_variants_<name>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_home, machine, save  # noqa: E402

from lookalike import benchmark as B  # noqa: E402
from lookalike.embedders import DlibEmbedder, SFaceEmbedder, _upright, l2_normalize  # noqa: E402
from lookalike.faces import FaceDetector  # noqa: E402
from lookalike.images import load_image  # noqa: E402
from lookalike.pipeline import FacePipeline  # noqa: E402

#: dlib HOG box relative to YuNet's (medians on 398 random LFW photos, IQR ≈ 0.09)
HOG_SIDE, HOG_DROP = 1.06, 0.065


class _SFaceBoth(SFaceEmbedder):
    """Plain and flip-summed SFace vectors side by side (256-d)."""

    name = "sface-plain-and-flip"
    dim = 256

    def embed(self, rgb, faces):
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        rec = self._recognizer()
        out = []
        for crop in self.crops(rgb, faces):
            a = rec.feature(crop).reshape(-1)
            b = rec.feature(np.ascontiguousarray(crop[:, ::-1])).reshape(-1)
            out.append(np.concatenate([l2_normalize(a), l2_normalize(a + b)]))
        return np.stack(out).astype(np.float32)


def _verify(paths: list[Path], pairs, vectors: dict[str, np.ndarray]) -> dict:
    index = {p: i for i, p in enumerate(paths)}
    out = {}
    for name, vecs in vectors.items():
        emb = B.Embedded(index, l2_normalize(vecs), np.zeros(len(paths), bool), 0.0)
        res = B.verification(emb, pairs, None)
        out[name] = {"accuracy": res["mean_accuracy"], "std": res["std"], "auc": res["auc"],
                     "tar_at_far": res["tar_at_far"]}
        print(f"{name:>16}: {100 * res['mean_accuracy']:.2f} ± {100 * res['std']:.2f} %, "
              f"TAR@0.1% {100 * res['tar_at_far']['0.001']:.2f} %", flush=True)
    return out


def flip(pairs) -> dict:
    paths = sorted(set(pairs.left) | set(pairs.right))
    pipe = FacePipeline(_SFaceBoth(), crops=True, cache=False)
    vecs = np.stack([pipe.analyze(p, first_only=True).embeddings[0] for p in paths])
    return _verify(paths, pairs, {"sface": vecs[:, :128], "sface-flip": vecs[:, 128:]})


def dlib_box(pairs) -> dict:
    import dlib

    paths = sorted(set(pairs.left) | set(pairs.right))
    _, shape_predictor, net = DlibEmbedder()._load()
    detector = FaceDetector()

    def chip(img, box):
        x, y, w, h = box
        rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)),
                              int(round(y + h)))
        return dlib.get_face_chip(img, shape_predictor(img, rect), size=150, padding=0.25)

    a, b = [], []
    for p in paths:
        rgb = load_image(p)
        img, (x, y, w, h) = _upright(rgb, detector.detect(rgb)[0])
        img = np.ascontiguousarray(img)
        side, cx, cy = HOG_SIDE * w, x + w / 2, y + h / 2 + HOG_DROP * h
        v = net.compute_face_descriptor(
            [chip(img, (x, y, w, h)), chip(img, (cx - side / 2, cy - side / 2, side, side))], 0)
        a.append(np.array(v[0]))
        b.append(np.array(v[1]))
    return _verify(paths, pairs, {"yunet-box": np.stack(a), "hog-like-box": np.stack(b)})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variant", choices=["flip", "dlib-box"])
    ap.add_argument("--per-class", type=int, default=None,
                    help="first N same + N different pairs per fold (default: all for flip, "
                         "100 for dlib-box)")
    args = ap.parse_args()
    lfw_dir, pairs_txt = B.find_pairs(data_home())
    pairs = B.parse_pairs(pairs_txt.read_text(), lfw_dir)
    per_class = args.per_class or (100 if args.variant == "dlib-box" else None)
    if per_class:
        pairs = B.subset_pairs(pairs, per_class)
    info = machine()
    t0 = time.perf_counter()
    res = flip(pairs) if args.variant == "flip" else dlib_box(pairs)
    save(f"lfw_variants_{args.variant}", {"machine": info, "pairs": len(pairs), "results": res,
                                          "seconds": round(time.perf_counter() - t0, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
