"""Choosing the face: is the answer a real face, and the subject's?

    .venv/bin/python bench/bench_face_choice.py [--n 240] [--seed 0]

Photos made here from what packages ship plus LFW (../shared/data):

- pasted: LFW faces (the centre 110 px of one photo per person) pasted small (44–80 px) or
  large (150–300 px) at a random place into an 800×600 scene from scikit-image / scikit-learn
  (coffee, rocket, the cat ``chelsea``, hubble, IHC, retina, china, flower), half of the
  scenes blurred (Gaussian σ 6) — sharp subject, blurred background, as in the issue. The
  subject is the pasted face; every other detection is a false one (these scenes hold no
  faces; the cat's face is a classic false face).
- lfw_multi: LFW photos (``pairs.txt``'s) in which the detector finds two or more faces; the
  subject is the face nearest the centre (LFW's photos are centred on their subject).

Each photo is detected once (``FaceDetector``, the pipeline's); the faces are then ordered by
the previous rule (``prominence`` alone, as before this change: ``legacy``) and by today's
``choose.order_indices``. Reported per set: false-detection rate (photos whose *answer* is a
false detection; also: photos with any false detection among the faces), subject-choice
accuracy, and the target "no false detection chosen when the real face scores ≥ 0.9". For
every detection of ``pasted`` the candidate face-likeness signals — detector score, landmark
geometry, SFace's raw feature norm before L2 normalisation, cosine to the average LFW face —
are measured by how well they separate real from false detections (ROC AUC).

Writes ``bench/results/face_choice.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_home, lfw_funneled, machine, save  # noqa: E402

from lookalike.face import choose  # noqa: E402
from lookalike.face.detector import Face, FaceDetector, prominence, sface_path  # noqa: E402
from lookalike.photos.images import load_image  # noqa: E402
from lookalike.progress import bar  # noqa: E402

SCENES = ("coffee", "rocket", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina")


def scenes() -> list[tuple[str, np.ndarray]]:
    import cv2
    import skimage.data as d
    from sklearn.datasets import load_sample_images

    out = [(n, getattr(d, n)()) for n in SCENES]
    out += list(zip(("china", "flower"), load_sample_images().images, strict=True))
    fixed = []
    for name, img in out:
        img = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
        img = cv2.resize(np.ascontiguousarray(img[:, :, :3]), (800, 600),
                         interpolation=cv2.INTER_AREA)
        fixed.append((name, img))
        fixed.append((name + "-blurred", cv2.GaussianBlur(img, (0, 0), 6)))
    return fixed


def legacy_order(faces: list[Face], size: tuple[int, int]) -> list[int]:
    return sorted(range(len(faces)), key=lambda i: -prominence(faces[i], size))


def inside(face: Face, rect: tuple[int, int, int, int]) -> bool:
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    rx, ry, rw, rh = rect
    return rx <= cx <= rx + rw and ry <= cy <= ry + rh


class SFaceRaw:
    """SFace's feature before L2 normalisation (its norm is a face-quality signal)."""

    def __init__(self) -> None:
        import cv2

        self.rec = cv2.FaceRecognizerSF.create(str(sface_path()), "")

    def features(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        import cv2

        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        return np.stack([self.rec.feature(self.rec.alignCrop(bgr, f.yunet_row())).reshape(-1)
                         for f in faces]) if faces else np.zeros((0, 128), np.float32)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a real detection scores higher than a false one), ties half."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))  # ties get their average rank
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2)
                 / (len(pos) * len(neg)))


def scene_at(src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An 800×600 view of a scene: zoomed (0.35–1.6×), cropped or mirrored-padded, blurred
    (σ 3, 6 or 10) in half of the cases."""
    import cv2

    zoom = float(rng.uniform(0.35, 1.6))
    img = cv2.resize(src, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    if h < 600 or w < 800:
        img = cv2.copyMakeBorder(img, 0, max(0, 600 - h), 0, max(0, 800 - w),
                                 cv2.BORDER_REFLECT)
        h, w = img.shape[:2]
    y, x = int(rng.integers(0, h - 600 + 1)), int(rng.integers(0, w - 800 + 1))
    img = np.ascontiguousarray(img[y:y + 600, x:x + 800])
    sigma = float(rng.choice([0, 0, 0, 3, 6, 10]))
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma else img


def paste(img: np.ndarray, patch: np.ndarray, side: int, rng: np.random.Generator
          ) -> tuple[int, int, int, int]:
    import cv2

    x, y = int(rng.integers(0, 800 - side)), int(rng.integers(0, 600 - side))
    img[y:y + side, x:x + side] = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
    return (x, y, side, side)


def pasted_set(n: int, rng: np.random.Generator, det: FaceDetector, raw: SFaceRaw,
               mean_face: np.ndarray, progress: bool) -> tuple[list[dict], list[dict]]:
    import cv2
    import skimage.data as d

    people = sorted(p for p in lfw_funneled().iterdir() if p.is_dir())
    picks = rng.choice(len(people), size=2 * n, replace=False)
    sources = [(name, img) for name, img in scenes() if not name.endswith("-blurred")]
    cat_head = d.chelsea()[0:260, 100:340]
    photos, detections = [], []
    for k in bar(range(n), desc="pasted", enabled=progress):
        first = sorted(people[picks[k]].glob("*.jpg"))[0]
        name, src = sources[int(rng.integers(len(sources)))]
        img = scene_at(src, rng)
        what = [name]
        blurred_rect = None
        if rng.random() < 1 / 3:  # a big blurred face behind the subject (out of focus)
            other = load_image(sorted(people[picks[n + k]].glob("*.jpg"))[0])
            blurred = cv2.GaussianBlur(other, (0, 0), float(rng.uniform(2.0, 4.0)))
            blurred_rect = paste(img, blurred, int(rng.integers(280, 520)), rng)
            what.append("blurred face")
        if rng.random() < 1 / 4:  # a cat's face: a classic false face
            paste(img, cat_head, int(rng.integers(90, 300)), rng)
            what.append("cat")
        big = k % 2 == 1
        side = int(rng.integers(150, 300) if big else rng.integers(44, 80))
        rect = paste(img, load_image(first)[20:130, 20:130], side, rng)
        what.append("large" if big else "small")
        faces = det.detect(img)
        kinds = []
        for f in faces:
            if inside(f, rect):
                kinds.append("subject")
            elif blurred_rect is not None and inside(f, blurred_rect):
                kinds.append("blurred_face")
            else:
                kinds.append("false")
        feats = raw.features(img, faces)
        for f, kind, v in zip(faces, kinds, feats, strict=True):
            norm = float(np.linalg.norm(v))
            detections.append({"kind": kind, "in": "/".join(what), "score": f.score,
                               "geometry": choose.geometry(f), "norm": norm,
                               "mean_face_cos": float(v @ mean_face / max(norm, 1e-9)),
                               "likeness": choose.face_likeness(f),
                               "sharpness": choose.sharpness(img, f),
                               "box": [round(float(b)) for b in f.box]})
        photos.append(_photo_row(f"{first.name}@{'/'.join(what)}", faces, kinds, img))
    return photos, detections


def _photo_row(name: str, faces: list[Face], kinds: list[str], img: np.ndarray) -> dict:
    """``kinds``: per face, ``subject``, ``false`` (not a face) or another real face."""
    size = (img.shape[1], img.shape[0])
    row = {"photo": name, "faces": len(faces), "false": kinds.count("false"),
           "real_score": max((f.score for f, k in zip(faces, kinds, strict=True)
                              if k == "subject"), default=None)}
    for rule, order in (("legacy", legacy_order(faces, size)),
                        ("score_geometry", choose.order_indices(faces, size)),
                        ("today", choose.choose_indices(img, faces)[0])):
        row[rule] = None if not faces else kinds[order[0]]
    return row


def lfw_multi_set(det: FaceDetector, progress: bool, limit: int) -> list[dict]:
    from lookalike.measure.lfw import find_pairs, parse_pairs

    lfw_dir, pairs_txt = find_pairs(data_home())
    pairs = parse_pairs(pairs_txt.read_text(), lfw_dir)
    paths = sorted(set(pairs.left) | set(pairs.right))
    rows = []
    for p in bar(paths[:limit], desc="lfw multi", enabled=progress):
        img = load_image(p)
        faces = det.detect(img)
        if len(faces) < 2:
            continue
        h, w = img.shape[:2]
        centre = [np.hypot(f.box[0] + f.box[2] / 2 - w / 2, f.box[1] + f.box[3] / 2 - h / 2)
                  for f in faces]
        subject = int(np.argmin(centre))
        kinds = ["subject" if i == subject else "other_face" for i in range(len(faces))]
        rows.append(_photo_row(p.name, faces, kinds, img))
    return rows


def summarize(rows: list[dict]) -> dict:
    out: dict = {"photos": len(rows), "with_a_face": sum(r["faces"] > 0 for r in rows),
                 "with_any_false_detection": sum(r["false"] > 0 for r in rows)}
    for rule in ("legacy", "score_geometry", "today"):
        answered = [r for r in rows if r[rule] is not None]
        strong = [r for r in answered if (r["real_score"] or 0) >= 0.9]
        out[rule] = {
            "subject_chosen": round(float(np.mean([r[rule] == "subject" for r in answered])),
                                    4) if answered else None,
            "false_detection_chosen": sum(r[rule] == "false" for r in answered),
            "other_face_chosen": sum(r[rule] not in ("subject", "false") for r in answered),
            "false_chosen_when_real_scores_0.9": sum(r[rule] == "false" for r in strong),
            "photos_with_real_at_0.9": len(strong),
        }
    return out


def mean_lfw_face(det: FaceDetector, raw: SFaceRaw, n: int = 300) -> np.ndarray:
    people = sorted(p for p in lfw_funneled().iterdir() if p.is_dir())
    vecs = []
    for person in people[-n:]:  # other people than the pasted ones, mostly
        img = load_image(sorted(person.glob("*.jpg"))[0])
        faces = det.detect(img)
        if faces:
            v = raw.features(img, faces[:1])[0]
            vecs.append(v / np.linalg.norm(v))
    m = np.mean(vecs, axis=0)
    return m / np.linalg.norm(m)




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=240, help="pasted photos")
    ap.add_argument("--lfw", type=int, default=7701, help="LFW photos to look at for lfw_multi")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    info = machine()
    t0 = time.perf_counter()
    det = FaceDetector()
    raw = SFaceRaw()
    rng = np.random.default_rng(args.seed)
    mean_face = mean_lfw_face(det, raw)
    pasted, detections = pasted_set(args.n, rng, det, raw, mean_face, not args.quiet)
    multi = lfw_multi_set(det, not args.quiet, args.lfw)
    real = [d for d in detections if d["kind"] != "false"]
    false = [d for d in detections if d["kind"] == "false"]
    sharp = [d for d in detections if d["kind"] == "subject"]
    blurred = [d for d in detections if d["kind"] == "blurred_face"]
    separation = {}
    for key in ("score", "geometry", "norm", "mean_face_cos", "likeness", "sharpness"):
        def col(rows, key=key):
            return np.array([d[key] for d in rows], float)

        separation[key] = {
            "auc_real_vs_false": round(auc(col(real), col(false)), 4),
            "auc_sharp_subject_vs_blurred_face": round(auc(col(sharp), col(blurred)), 4),
            "subject_median": round(float(np.median(col(sharp))), 3),
            "blurred_face_median": round(float(np.median(col(blurred))), 3) if blurred
            else None,
            "false_median": round(float(np.median(col(false))), 3) if false else None}
    res = {"machine": info, "n_pasted": args.n, "seed": args.seed,
           "detections": {"subject": len(sharp), "blurred_face": len(blurred),
                          "false": len(false)},
           "separation": separation,
           "pasted": summarize(pasted), "lfw_multi": summarize(multi),
           "pasted_misses_today": [r for r in pasted if r["today"] not in (None, "subject")],
           "pasted_misses_legacy": [r for r in pasted if r["legacy"] not in (None, "subject")],
           "lfw_multi_misses_today": [r for r in multi if r["today"] not in (None, "subject")],
           "false_detections": sorted(false, key=lambda d: -d["score"])[:25],
           "seconds": round(time.perf_counter() - t0, 1)}
    for name in ("pasted", "lfw_multi"):
        s = res[name]
        print(f"{name}: {s['photos']} photos ({s['with_any_false_detection']} with a false "
              f"detection)")
        for rule in ("legacy", "score_geometry", "today"):
            r = s[rule]
            print(f"  {rule:6s}: subject chosen {r['subject_chosen']}, false detection chosen "
                  f"{r['false_detection_chosen']}, another face {r['other_face_chosen']} "
                  f"(false chosen when the subject scores >= 0.9: "
                  f"{r['false_chosen_when_real_scores_0.9']} of {r['photos_with_real_at_0.9']})")
    print(f"detections: {len(sharp)} subject, {len(blurred)} blurred face, {len(false)} false")
    for k, v in separation.items():
        print(f"  {k:14s} AUC real vs false {v['auc_real_vs_false']}, sharp subject vs "
              f"blurred face {v['auc_sharp_subject_vs_blurred_face']}; medians subject "
              f"{v['subject_median']}, blurred {v['blurred_face_median']}, false "
              f"{v['false_median']}")
    save("face_choice", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
