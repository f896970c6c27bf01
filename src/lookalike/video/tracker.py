"""Following faces from frame to frame, and deciding when a frame needs the detector and when a
track needs the embedder again. Pure geometry and bookkeeping: knows no network.

- **Detection** runs on a sampled frame when the picture changed since the last detection
  (mean absolute difference of a 64×36 thumbnail) or when ``max_gap`` passed; a still
  scene is detected once a second, not ten times.
- **Association**: each detection goes to the track whose box, moved on by its velocity, lies
  closest (centre distance relative to the face's size, similar size), by an optimal
  assignment; a track not seen for ``max_lost`` seconds ends (one track per appearance, and a
  missed detection or a face turned away for a moment does not split it).
- **A cut** (the thumbnail's histogram changes completely) ends every track.
- **Embedding** happens when a track starts and when its view is worth it: clearly larger, or
  clearly better (size × detector score × sharpness), at most once per ``min_embed_gap``
  seconds and ``max_embeds`` times; and after the track came close to another one (two people
  crossing), to check it still follows the same person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lookalike.face.detector import Face


@dataclass
class TrackPolicy:
    """When to detect and when to embed (the trade-off ``bench/studies/video/bench_video.py``
    measures)."""

    max_gap: float = 1.0  # detect at least this often (seconds)
    change: float = 2.0  # detect when the thumbnail changed this much (mean grey levels)
    cut_cells: float = 0.7  # a cut changes at least this fraction of the thumbnail
    cut_correlation: float = 0.5  # ... and its colour histogram correlates less than this
    max_lost: float = 1.0  # a track unseen this long ends
    reid_window: float = 3.0  # ... but goes on when its face is found again within this
    max_distance: float = 1.0  # centre distance / face size for a match
    grow: float = 1.4  # re-embed when the face is this much larger than any embedded view
    better: float = 1.5  # re-embed when the view's quality is this much better
    min_embed_gap: float = 0.5  # seconds between embeddings of one track
    max_embeds: int = 12  # embeddings per track at most
    every_frame: bool = False  # embed every detected face (the reference for the trade-off)
    near: bool = True  # detect only near tracked faces when only the tracked people changed


    @classmethod
    def reference(cls) -> TrackPolicy:
        """Detect and embed on every sampled frame: what the savings are measured against."""
        return cls(max_gap=0.0, change=-1.0, every_frame=True, max_embeds=10**9, near=False)


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A 64×36 colour thumbnail (float32) for change and cut detection. Halved (OpenCV's
    fast 2× area path) down to under 256 px first: one area resize from 1280×720 to 64×36
    costs 4.4 ms, this 1 ms."""
    import cv2

    while rgb.shape[1] >= 256 and rgb.shape[0] >= 144:
        rgb = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2),
                         interpolation=cv2.INTER_AREA)
    return cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-cell change between two thumbnails (mean over the colour channels)."""
    return np.abs(a - b).mean(axis=2)


def change_outside(a: np.ndarray, b: np.ndarray, boxes: list, size: tuple[int, int],
                   level: float = 12.0) -> int:
    """How many cells of the thumbnails changed by more than ``level`` outside the regions of
    the tracked people (each face box widened by ``BODY`` face sizes: left, top, right,
    bottom, since a moving head moves shoulders too): 0 when only they moved."""
    changed = difference(a, b) > level
    w, h = size
    sx, sy = a.shape[1] / w, a.shape[0] / h
    left, top, right, bottom = BODY
    for x, y, bw, bh in boxes:
        s = max(bw, bh)
        x0, y0 = int(max((x - left * s) * sx, 0)), int(max((y - top * s) * sy, 0))
        x1 = int(np.ceil((x + bw + right * s) * sx))
        y1 = int(np.ceil((y + bh + bottom * s) * sy))
        changed[y0:y1, x0:x1] = False
    return int(changed.sum())


#: The region a tracked person's movement may change, around the face box, in face sizes.
BODY = (1.5, 1.0, 1.5, 3.0)


def is_cut(a: np.ndarray, b: np.ndarray, policy: TrackPolicy) -> bool:
    """Whether thumbnails ``a`` and ``b`` are different shots, not people moving: most cells
    changed (``policy.cut_cells``) and the colours changed (their histograms correlate under
    ``policy.cut_correlation``)."""
    if float((difference(a, b) > 16.0).mean()) < policy.cut_cells:
        return False
    ha = np.concatenate([np.histogram(a[..., c], 16, (0, 256))[0] for c in range(3)])
    hb = np.concatenate([np.histogram(b[..., c], 16, (0, 256))[0] for c in range(3)])
    ha, hb = ha - ha.mean(), hb - hb.mean()
    corr = float((ha * hb).sum() / max(np.sqrt((ha * ha).sum() * (hb * hb).sum()), 1e-9))
    return corr < policy.cut_correlation


def sharpness(rgb: np.ndarray, face: Face) -> float:
    """Variance of the Laplacian inside the face box, on a copy at most 64 px wide."""
    import cv2

    x, y, w, h = (int(round(v)) for v in face.box)
    crop = rgb[max(y, 0): max(y + h, 0), max(x, 0): max(x + w, 0)]
    if crop.size == 0:
        return 0.0
    k = 64.0 / max(crop.shape[1], 1)
    if k < 1:
        crop = cv2.resize(crop, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def view_quality(rgb: np.ndarray, face: Face) -> float:
    """How good a view of the face is: its size × detector score × sharpness (saturating)."""
    s = sharpness(rgb, face)
    return float(np.sqrt(face.area) * face.score * s / (s + 50.0))


@dataclass
class Track:
    """One appearance of one face."""

    id: int
    start: float
    face: Face
    end: float = 0.0
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre, pixels per second
    seen: int = 1
    closed: bool = False
    # the best view so far: quality, time, frame index, face, the frame itself
    best_quality: float = -1.0
    best: tuple[float, int, Face] | None = None
    best_rgb: np.ndarray | None = field(default=None, repr=False)
    embedded_area: float = 0.0
    embedded_quality: float = 0.0
    last_embed: float = -1e9
    crowded: bool = False  # came close to another track since its last embedding
    born_crowded: bool = False  # began over another face or cut by the border (a part?)
    answers: list = field(default_factory=list, repr=False)  # FaceResult per embedding
    vectors: list = field(default_factory=list, repr=False)  # the embeddings (or None)

    def __post_init__(self) -> None:
        self.end = self.start

    def absorb(self, young: Track) -> None:
        """Go on as ``young`` (a track that began after this one was lost, found to be the
        same face): its position, views and answers become this track's."""
        self.face, self.end, self.velocity = young.face, young.end, young.velocity
        self.seen += young.seen
        self.answers += young.answers
        self.vectors += young.vectors
        if young.best_quality > self.best_quality:
            self.best_quality, self.best, self.best_rgb = (young.best_quality, young.best,
                                                           young.best_rgb)
        self.embedded_area = max(self.embedded_area, young.embedded_area)
        self.embedded_quality = max(self.embedded_quality, young.embedded_quality)
        self.last_embed = max(self.last_embed, young.last_embed)
        self.crowded = young.crowded

    def predicted(self, t: float) -> tuple[float, float]:
        x, y, w, h = self.face.box
        dt = t - self.end
        return x + w / 2 + self.velocity[0] * dt, y + h / 2 + self.velocity[1] * dt

    def update(self, face: Face, t: float) -> None:
        dt = t - self.end
        if dt > 0:
            (x0, y0, w0, h0), (x1, y1, w1, h1) = self.face.box, face.box
            v = ((x1 + w1 / 2 - x0 - w0 / 2) / dt, (y1 + h1 / 2 - y0 - h0 / 2) / dt)
            self.velocity = (0.5 * self.velocity[0] + 0.5 * v[0],
                             0.5 * self.velocity[1] + 0.5 * v[1])
        self.face, self.end = face, t
        self.seen += 1

    def offer_view(self, rgb: np.ndarray, face: Face, t: float, index: int) -> float:
        """Keep this view as the best frame when it is; its quality."""
        q = view_quality(rgb, face)
        if q > self.best_quality:
            self.best_quality, self.best, self.best_rgb = q, (t, index, face), rgb
        return q

    def wants_embedding(self, quality: float, t: float, policy: TrackPolicy) -> bool:
        if policy.every_frame or not self.answers:
            return True
        if len(self.answers) >= policy.max_embeds or t - self.last_embed < policy.min_embed_gap:
            return False
        return (self.crowded or self.face.area >= policy.grow * self.embedded_area
                or quality >= policy.better * self.embedded_quality)

    def embedded(self, quality: float, t: float, answer, vector) -> None:
        self.answers.append(answer)
        self.vectors.append(vector)
        self.embedded_area = max(self.embedded_area, self.face.area)
        self.embedded_quality = max(self.embedded_quality, quality)
        self.last_embed = t
        self.crowded = False

    def mean_vector(self) -> np.ndarray | None:
        vs = [v for v in self.vectors[:-1] if v is not None]
        if not vs:
            return None
        m = np.mean(vs, axis=0)
        return m / max(float(np.linalg.norm(m)), 1e-9)


def _distance(track: Track, face: Face, t: float) -> float:
    """Centre distance from the track's predicted position, in face sizes, plus a penalty for
    a change of size; inf when too different to be the same face."""
    px, py = track.predicted(t)
    x, y, w, h = face.box
    size = max(np.sqrt(track.face.area), 1.0)
    ratio = np.sqrt(max(face.area, 1.0)) / size
    if not 0.55 < ratio < 1.8:
        return np.inf
    return float(np.hypot(x + w / 2 - px, y + h / 2 - py) / size + abs(np.log(ratio)))


def associate(tracks: list[Track], faces: list[Face], t: float, policy: TrackPolicy
              ) -> tuple[list[tuple[Track, Face]], list[Face], list[Track]]:
    """Pairs (track, face), unmatched faces, unmatched tracks: the assignment of least total
    distance among pairs closer than ``policy.max_distance``."""
    if not tracks or not faces:
        return [], list(faces), list(tracks)
    from scipy.optimize import linear_sum_assignment

    cost = np.array([[_distance(tr, f, t) for f in faces] for tr in tracks])
    big = 1e6
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
    pairs = [(tracks[r], faces[c]) for r, c in zip(rows, cols, strict=True)
             if cost[r, c] <= policy.max_distance]
    used_t = {id(tr) for tr, _ in pairs}
    used_f = {id(f) for _, f in pairs}
    return (pairs, [f for f in faces if id(f) not in used_f],
            [tr for tr in tracks if id(tr) not in used_t])


def mark_crowded(tracks: list[Track]) -> None:
    """Tracks whose boxes touch another's: their identity is checked at the next embedding."""
    for i, a in enumerate(tracks):
        for b in tracks[i + 1:]:
            if _overlap(a.face.box, b.face.box) > 0.0:
                a.crowded = b.crowded = True


def _overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    return max(iw, 0.0) * max(ih, 0.0)
