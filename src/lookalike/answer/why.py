"""Why do two faces look alike? Which parts of the face carry their similarity.

The two faces are read as the embedder reads them (SFace: the 112×112 crop aligned on the
5-point template; other embedders: a wider aligned view they read with their own landmarks).
The parts of the face (eyes and brows, nose, mouth, the face's outline and chin: regions fixed
on the alignment template, so the same for both faces) are weighed by one of two methods:

- ``contribution`` (SFace f32 on OpenVINO, the default there): SFace ends in affine layers over
  its last 7×7 feature map, so the cosine of two faces is exactly a sum over that map's cells
  (:mod:`lookalike.answer.why_tail`). A part's *drop* is what the cells under its region add to
  the cosine beyond the face's average cell (each cell weighed by how much of it the region,
  blurred by about one and a half cells, covers; the mean of face a's cells against b and face
  b's against a, and of the pair as it is and mirrored). Both faces go through SFace as they
  are and mirrored, in one batch (4 crops; one face against several: 2 + 2 per other face).
- ``occlusion`` (every other embedder): each part is hidden in turn — blended with a blurred
  copy of the face — in one face, then in the other; its *drop* is how much the cosine falls
  (the mean of hiding it in either face).

A part's *share* is its drop over the sum of the positive drops. The heat map of each face
spreads that face's drops over its parts' (soft) regions.

What it means: which parts of the two faces the network's likeness rests on — hide the part
ranked first and the similarity falls more than when the one ranked last is hidden
(``bench/studies/why/bench_why.py`` measures how often, for both methods). What it does not
mean: anything about genetics, kinship or attractiveness; nor that the parts are alike to a
human eye.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from lookalike.face.detector import ARCFACE_TEMPLATE, Face

#: The parts of the face and their regions: ellipses ``(cx, cy, rx, ry)`` in the 112×112
#: aligned crop (right eye (38, 52), left eye (74, 52), nose tip (56, 72), mouth corners
#: (42, 92) and (71, 92)). Chosen by ``bench/studies/why/bench_why.py``
#: (bench/studies/why/NOTES-why.md).
PARTS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "eyes": ((38.3, 47.0, 17.0, 12.0), (73.5, 47.0, 17.0, 12.0)),
    "nose": ((56.0, 68.0, 10.0, 15.0),),
    "mouth": ((56.0, 93.0, 22.0, 9.5),),
    "outline": ((56.0, 113.0, 30.0, 10.0), (8.0, 78.0, 10.0, 30.0), (104.0, 78.0, 10.0, 30.0)),
    "jawline": ((21.0, 78.0, 8.0, 20.0), (91.0, 78.0, 8.0, 20.0), (31.0, 100.0, 12.0, 8.0),
                (81.0, 100.0, 12.0, 8.0), (56.0, 108.0, 18.0, 6.0)),
    "cheeks": ((28.0, 75.0, 11.0, 10.0), (84.0, 75.0, 11.0, 10.0)),
    "forehead": ((56.0, 16.0, 40.0, 15.0),),
}
#: The parts explained by default: the four the issue names. With cheeks and forehead too the
#: full ranking flips under a mirror or a 2 px shift in most pairs
#: (``bench/studies/why/bench_why.py``,
#: bench/studies/why/NOTES-why.md); ``jawline`` (the jaw contour) measured no steadier than
#: ``outline``.
DEFAULT_PARTS = ("eyes", "nose", "mouth", "outline")
#: How each part is named in sentences and on cards.
PART_NAMES = {"eyes": "the eyes and brows", "nose": "the nose", "mouth": "the mouth",
              "outline": "the face's outline and chin", "cheeks": "the cheeks",
              "jawline": "the jawline and chin",
              "forehead": "the forehead"}
#: How each part is said in the one-line sentence.
SENTENCE_NAMES = {"eyes": "the eyes", "nose": "the nose", "mouth": "the mouth",
                  "outline": "the face's outline", "cheeks": "the cheeks",
                  "jawline": "the jawline",
                  "forehead": "the forehead"}
#: The blur (Gaussian sigma, in pixels of the 112 crop) of the fill that hides a part, and the
#: feathering of the regions' edges.
FILL_SIGMA = 8.0
FEATHER = 2.5
#: Side of the heat map grid in the JSON answer (cells over the 112×112 crop).
GRID = 16
#: The two methods (the ``method`` of the JSON answer): ``"contribution"`` — SFace f32's cosine
#: split exactly over its last 7×7 map's cells (:mod:`lookalike.answer.why_tail`), the cells
#: summed per part; ``"occlusion"`` — each part hidden in the pixels of one face at a time.
CONTRIBUTION = "contribution"
OCCLUSION = "occlusion"


@lru_cache(maxsize=16)
def part_masks(size: int = 112, margin: float = 0.0, parts: tuple[str, ...] | None = None
               ) -> np.ndarray:
    """``(len(parts), size, size)`` float32 soft masks (1 inside a part) on a ``size``-pixel
    view aligned like :func:`lookalike.face.detector.align` with ``margin``."""
    import cv2

    names = DEFAULT_PARTS if parts is None else parts
    k = size / 112.0 / (1.0 + 2.0 * margin)
    off = size * margin / (1.0 + 2.0 * margin)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    out = np.zeros((len(names), size, size), np.float32)
    for i, name in enumerate(names):
        for cx, cy, rx, ry in PARTS[name]:
            inside = (((xx - (cx * k + off)) / (rx * k)) ** 2
                      + ((yy - (cy * k + off)) / (ry * k)) ** 2) <= 1.0
            out[i] = np.maximum(out[i], inside)
        out[i] = np.clip(cv2.GaussianBlur(out[i], (0, 0), FEATHER * k), 0.0, 1.0)
    out.flags.writeable = False
    return out


def occlude(view: np.ndarray, masks: np.ndarray, sigma: float, fill: str = "blur"
            ) -> np.ndarray:
    """``(len(masks), H, W, 3)`` uint8: ``view`` with each mask's region replaced by a blurred
    copy of the view (``fill="mean"``: by the view's mean colour)."""
    import cv2

    if fill == "mean":
        fill_img = np.broadcast_to(view.reshape(-1, 3).mean(axis=0).astype(np.float32),
                                   view.shape)
    else:
        fill_img = cv2.GaussianBlur(view.astype(np.float32), (0, 0), sigma)
    return _blend(view, masks, fill_img)


def _blend(view: np.ndarray, masks: np.ndarray, fill: np.ndarray) -> np.ndarray:
    m = masks[:, :, :, None]
    out = view.astype(np.float32)[None] * (1.0 - m) + fill[None] * m
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _moved(view: np.ndarray, flip: bool, dx: int, dy: int) -> np.ndarray:
    """``view`` mirrored (``flip``) and moved by ``(dx, dy)`` px, its edges repeated."""
    import cv2

    out = np.ascontiguousarray(view[:, ::-1]) if flip else view
    if dx or dy:
        m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        out = cv2.warpAffine(out, m, out.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    return out


#: The contribution method's cell weights: each part's region blurred by this Gaussian sigma
#: (pixels of the 112 crop; a cell of SFace's last map is 16 px) before it is weighed per cell,
#: so that a face moved by a pixel or two moves weight across the cells' borders smoothly. The
#: least blur that kept the full ranking under a mirror and 2 px moves in ≥ 90 % of pairs on
#: two sets of 100 + 100 pairs (bench/studies/why/NOTES-why4.md); it also makes the ranking
#: more alike from pair to pair.
CELL_BLUR = 24.0


@lru_cache(maxsize=8)
def part_cells(parts: tuple[str, ...], cells: int = 7, blur: float = CELL_BLUR) -> np.ndarray:
    """``(len(parts), cells * cells)``: how much of each cell of a ``cells × cells`` grid over
    the 112 crop each part's soft region covers (0–1), the region blurred by ``blur`` px
    first; symmetric about the template's axis, as the regions are meant to be (a mirrored
    look's cells then weigh alike)."""
    import cv2

    masks = part_masks(112, 0.0, parts)
    out = np.stack([cv2.resize(cv2.GaussianBlur(m, (0, 0), blur) if blur > 0 else m,
                               (cells, cells), interpolation=cv2.INTER_AREA).reshape(-1)
                    for m in masks]).astype(np.float32)
    out = (out + out.reshape(-1, cells, cells)[:, :, ::-1].reshape(len(out), -1)) / 2
    out.flags.writeable = False
    return out


@dataclass
class PartShare:
    part: str
    share: float
    #: how much the similarity falls with the part hidden (mean of hiding it in either face)
    drop: float
    drops: tuple[float, float] = (0.0, 0.0)  # hidden in face a, in face b

    def to_dict(self) -> dict:
        return {"part": self.part, "name": PART_NAMES.get(self.part, self.part),
                "share": round(float(self.share), 4), "drop": round(float(self.drop), 4)}


@dataclass
class Why:
    """Which parts of two faces make their likeness (see the module's docstring)."""

    parts: list[PartShare]  # most important first
    similarity: float  # the cosine of the two views explained
    heat: np.ndarray | None = field(default=None, repr=False)  # (2, 112, 112) in [0, 1]
    #: the two aligned faces explained, as the heat map lies on them: (2, 112, 112, 3) RGB
    views: np.ndarray | None = field(default=None, repr=False)
    available: bool = True
    note: str = ""
    #: how the parts were weighed: :data:`CONTRIBUTION` or :data:`OCCLUSION`
    method: str = OCCLUSION

    @property
    def sentence(self) -> str:
        if not self.available:
            return self.note
        if not self.parts or self.parts[0].share <= 0:
            return "no single part carries the likeness (hiding any one changes it little)"
        top = [self.parts[0]]
        for p in self.parts[1:3]:
            if sum(q.share for q in top) >= 0.5 or p.share < 0.15:
                break
            top.append(p)
        names = [SENTENCE_NAMES.get(p.part, p.part) for p in top]
        said = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"mostly {said}"

    def ranking(self) -> list[str]:
        return [p.part for p in self.parts]

    def grid(self, cells: int = GRID) -> list[list[list[float]]]:
        """The heat maps of both faces as ``cells × cells`` grids (rows top to bottom)."""
        if self.heat is None:
            return []
        h = self.heat.reshape(2, cells, self.heat.shape[1] // cells,
                              cells, self.heat.shape[2] // cells).mean(axis=(2, 4))
        return [[[round(float(v), 2) for v in row] for row in face] for face in h]

    def to_dict(self) -> dict:
        if not self.available:
            return {"available": False, "parts": [], "sentence": self.note}
        return {
            "available": True,
            "parts": [p.to_dict() for p in self.parts],
            "sentence": self.sentence,
            "similarity": round(float(self.similarity), 4),
            "method": self.method,
            "heatmap": {"grid": GRID, "crop": 112, "faces": self.grid()},
            "regions": {p.part: [list(e) for e in PARTS[p.part]] for p in self.parts},
        }


def unavailable(reason: str) -> Why:
    return Why([], float("nan"), None, available=False, note=reason)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


class Explainer:
    """Explains pairs of faces for one embedder.

    ``method``: ``"contribution"`` (the default for SFace f32 on OpenVINO): both faces go once
    through SFace to its last 7×7 map, whose cells the cosine splits over exactly
    (:mod:`lookalike.answer.why_tail`); a part's ``drop`` is what its cells add to the cosine
    (each cell weighed by how much of the part's region, blurred by ``cell_blur`` px, it
    covers), measured against the face's average cell (``centred``; else against an empty
    cell), averaged with the mirrored pair's (4 crops, one batch). ``"occlusion"`` (every
    other embedder, or asked for): each part is hidden in the pixels of one face at a time
    (blur fill); SFace reads the 8 hidden crops in one batch, dlib and sface+dlib each hidden
    view through their own ``embed`` (dlib fits its landmarks on it). Which is faithful,
    steady and cheap: bench/studies/why/NOTES-why3.md and NOTES-why4.md.

    ``mirror`` / ``jitter``: also explain the mirrored pair / the pair moved ``jitter`` px in 4
    directions, and average (2× / 5× the work). ``mirror``: on by default for the contribution
    method (a mirrored pair is then explained exactly alike), off for occlusion (16 crops);
    ``jitter``: off."""

    def __init__(self, embedder: Any, parts: Sequence[str] | None = None,
                 sigma: float = FILL_SIGMA, fill: str = "blur", mirror: bool | None = None,
                 jitter: int = 0, method: str | None = None, centred: bool = True,
                 cell_blur: float = CELL_BLUR):
        from lookalike.face.embedders import SFaceEmbedder

        self.embedder = embedder
        self.parts = tuple(parts) if parts is not None else DEFAULT_PARTS
        self.sigma = sigma
        self.fill = fill
        #: also explain the pair moved by ``jitter`` px left, right, up and down, and average
        #: (5 times the crops; with ``mirror``, 10)
        self.jitter = int(jitter)
        self.sface = isinstance(embedder, SFaceEmbedder) and not embedder.flip_test
        # the view each embedder reads: SFace its 112 crop; others a wider aligned view
        self.size, self.margin = (112, 0.0) if self.sface else (224, 0.25)
        tail_ok = (self.sface and getattr(embedder, "precision", "f32") == "f32"
                   and getattr(embedder, "backend", "openvino") == "openvino")
        if method is None:
            method = CONTRIBUTION if tail_ok else OCCLUSION
        if method not in (CONTRIBUTION, OCCLUSION):
            raise ValueError(f"why: no method {method!r}: use {CONTRIBUTION!r} or {OCCLUSION!r}")
        if method == CONTRIBUTION and not tail_ok:
            raise ValueError("why: the contribution method explains SFace f32 on OpenVINO only: "
                             f"use method={OCCLUSION!r} for this embedder")
        self.method = method
        #: also explain the mirrored pair and average (twice the crops)
        self.mirror = (method == CONTRIBUTION) if mirror is None else bool(mirror)
        #: contributions against the face's average cell (else against an empty cell)
        self.centred = centred
        #: the contribution method's parts' regions blurred by this many px (:func:`part_cells`)
        self.cell_blur = float(cell_blur)

    # the faces' views ------------------------------------------------------------------------
    def view(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The aligned view of ``face`` that is occluded (RGB uint8, size × size)."""
        if self.sface:
            return self.embedder._rgb_crops(rgb, [face])[0]
        from lookalike.face.detector import align

        return align(rgb, face, size=self.size, margin=self.margin)

    def view_face(self) -> Face:
        """The face in a (non-SFace) view: landmarks on the template, box the 112 crop's."""
        k = self.size / 112.0 / (1.0 + 2.0 * self.margin)
        off = self.size * self.margin / (1.0 + 2.0 * self.margin)
        side = 112.0 * k
        return Face((off, off, side, side), ARCFACE_TEMPLATE * k + off, 1.0)

    def embed_views(self, views: np.ndarray) -> np.ndarray:
        """``(n, dim)`` unit vectors of ``(n, size, size, 3)`` views, SFace in one batch."""
        from lookalike.face.embedders import l2_normalize

        if self.sface:
            blob = np.ascontiguousarray(views.transpose(0, 3, 1, 2), dtype=np.float32)
            return l2_normalize(self.embedder._network().run(blob)[0].reshape(len(views), -1))
        face = [self.view_face()]
        return np.concatenate([self.embedder.embed(np.ascontiguousarray(v), face)
                               for v in views])

    # the explanation ---------------------------------------------------------------------------
    def looks(self) -> list[tuple[bool, int, int]]:
        """The ways the pair is looked at and averaged: ``(mirrored, dx, dy)``, the pair as it
        is first."""
        moves = [(0, 0)]
        if self.jitter:
            j = self.jitter
            moves += [(j, 0), (-j, 0), (0, j), (0, -j)]
        return [(f, dx, dy) for f in ((False, True) if self.mirror else (False,))
                for dx, dy in moves]

    def explain_views(self, va: np.ndarray, vb: np.ndarray,
                      base: tuple[np.ndarray, np.ndarray] | None = None) -> Why:
        """Explain two views (from :meth:`view`); ``base``: their embeddings when known. Every
        look (:meth:`looks`) hides each part in each face; all crops go through the network in
        one batch and the drops are averaged over the looks. With the contribution method
        every look's two faces go through SFace to its last map in one batch instead."""
        if self.method == CONTRIBUTION:  # (SFace's own vectors come with the cells)
            return self._explain_cells(va, [vb], None if base is None
                                       else [float(_cos(*base))])[0]
        masks = part_masks(self.size, self.margin, self.parts)
        n = len(masks)
        looks = self.looks()
        batch = []
        for k, (flip, dx, dy) in enumerate(looks):
            a, b = _moved(va, flip, dx, dy), _moved(vb, flip, dx, dy)
            batch += [occlude(a, masks, self.sigma, self.fill),
                      occlude(b, masks, self.sigma, self.fill)]
            if k or base is None:  # the pair's own vectors: given, or embedded with the rest
                batch.append(np.stack([a, b]))
        e = self.embed_views(np.concatenate(batch))
        starts = np.cumsum([0, *(len(x) for x in batch)])
        drop_a = np.zeros(n)
        drop_b = np.zeros(n)
        sim = float("nan")
        pos = 0
        for k in range(len(looks)):
            occ_a = e[starts[pos]:starts[pos] + n]
            occ_b = e[starts[pos + 1]:starts[pos + 1] + n]
            pos += 2
            if k or base is None:
                ea, eb = e[starts[pos]], e[starts[pos] + 1]
                pos += 1
            else:
                ea, eb = base
            s = float(_cos(ea, eb))
            if k == 0:
                sim = s
            drop_a += s - _cos(occ_a, eb[None])  # part hidden in face a
            drop_b += s - _cos(ea[None], occ_b)
        why = self._why(sim, drop_a / len(looks), drop_b / len(looks), masks)
        why.views = np.stack([self._crop112(va), self._crop112(vb)])
        return why

    def explain_many(self, va: np.ndarray, vbs: Sequence[np.ndarray],
                     base_a: np.ndarray | None = None,
                     bases_b: Sequence[np.ndarray | None] | None = None) -> list[Why]:
        """Explain one face's view ``va`` against each of ``vbs`` (a photo's top matches,
        ``compare A B C``'s candidates). With the contribution method the first face's looks
        go through SFace once for all of them, in the same batch as every other face's looks
        (``base_a`` / ``bases_b`` are not needed: SFace's vectors come with the cells);
        with occlusion each pair is explained in turn."""
        if self.method != CONTRIBUTION:
            bases = bases_b if bases_b is not None else [None] * len(vbs)
            return [self.explain_views(va, vb, (base_a, eb) if base_a is not None
                                       and eb is not None else None)
                    for vb, eb in zip(vbs, bases, strict=True)]
        sims = None
        if base_a is not None and bases_b is not None:
            sims = [float(_cos(base_a, eb)) if eb is not None else None for eb in bases_b]
        return self._explain_cells(va, list(vbs), sims)

    def _explain_cells(self, va: np.ndarray, vbs: list[np.ndarray],
                       sims: Sequence[float | None] | None = None) -> list[Why]:
        from lookalike.answer.why_tail import sface_tail

        tail = sface_tail()
        looks = self.looks()
        views = [_moved(v, flip, dx, dy) for v in (va, *vbs) for flip, dx, dy in looks]
        cells = tail.cells(np.stack(views)).reshape(1 + len(vbs), len(looks), 128, -1)
        cover = part_cells(self.parts, blur=self.cell_blur)
        masks = part_masks(self.size, self.margin, self.parts)
        out = []
        for k, vb in enumerate(vbs, 1):
            rows = np.zeros((2, cover.shape[1]))
            sim = float("nan")
            for m in range(len(looks)):  # (cover is symmetric: a mirrored look's cells as
                # they are give the drops of the same cells mirrored back)
                r, cos = tail.cell_shares(np.stack([cells[0, m], cells[k, m]]))
                if m == 0:  # the pair's similarity: as given, else SFace's (the cells' sum)
                    sim = cos if sims is None or sims[k - 1] is None else sims[k - 1]
                rows += r
            if self.centred:
                rows = rows - rows.mean(axis=1, keepdims=True)
            drop = rows @ cover.T / len(looks)
            why = self._why(sim, drop[0], drop[1], masks)
            why.method = CONTRIBUTION
            why.views = np.stack([va, vb])
            out.append(why)
        return out

    def _crop112(self, image: np.ndarray) -> np.ndarray:
        """The 112 crop's part of a view (the view itself for SFace)."""
        import cv2

        if self.size == 112:
            return image
        c0 = int(round(self.size * self.margin / (1.0 + 2.0 * self.margin)))
        return cv2.resize(image[c0:self.size - c0, c0:self.size - c0], (112, 112),
                          interpolation=cv2.INTER_AREA)

    def _why(self, sim: float, drop_a: np.ndarray, drop_b: np.ndarray,
             masks: np.ndarray) -> Why:

        drop = (drop_a + drop_b) / 2.0
        pos = np.maximum(drop, 0.0)
        total = float(pos.sum())
        shares = pos / total if total > 0 else np.zeros_like(pos)
        order = np.argsort(-drop, kind="stable")
        parts = [PartShare(self.parts[i], float(shares[i]), float(drop[i]),
                           (float(drop_a[i]), float(drop_b[i]))) for i in order]
        heat = np.stack([np.tensordot(np.maximum(d, 0.0), masks, axes=1)
                         for d in (drop_a, drop_b)])
        if self.size != 112:  # the heat map is given over the 112 crop
            heat = np.stack([self._crop112(h) for h in heat])
        peak = float(heat.max())
        heat = heat / peak if peak > 0 else heat
        return Why(parts, sim, heat.astype(np.float32))

    def explain(self, rgb_a: np.ndarray, face_a: Face, rgb_b: np.ndarray, face_b: Face,
                base: tuple[np.ndarray, np.ndarray] | None = None) -> Why:
        """Explain the likeness of ``face_a`` in ``rgb_a`` and ``face_b`` in ``rgb_b``."""
        return self.explain_views(self.view(rgb_a, face_a), self.view(rgb_b, face_b), base)


_EXPLAINERS: dict[int, Explainer] = {}


def explainer_for(embedder: Any) -> Explainer:
    """One :class:`Explainer` per embedder object (it holds no state of its own)."""
    key = id(embedder)
    ex = _EXPLAINERS.get(key)
    if ex is None or ex.embedder is not embedder:
        ex = _EXPLAINERS[key] = Explainer(embedder)
    return ex


__all__ = ["CONTRIBUTION", "DEFAULT_PARTS", "OCCLUSION", "PARTS", "PART_NAMES", "Explainer",
           "PartShare", "Why", "explainer_for", "occlude", "part_cells", "part_masks",
           "unavailable"]
