"""Clips made from photos, with their truth: faces that move, grow, leave and come back, two
people crossing, cuts between shots. For tests and ``bench/studies/video/bench_video.py`` (and
anyone who
wants to measure the video path on their own people's photos)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Appearance:
    """``image`` (an RGB photo of ``person``) in view from ``start`` to ``end`` seconds,
    its centre moving from ``at0`` to ``at1`` (fractions of the frame) and its height from
    ``size0`` to ``size1`` (fractions of the frame's height)."""

    person: str
    image: np.ndarray
    start: float
    end: float
    at0: tuple[float, float] = (0.5, 0.5)
    at1: tuple[float, float] = (0.5, 0.5)
    size0: float = 0.6
    size1: float = 0.6

    def place(self, t: float) -> tuple[float, float, float]:
        k = 0.0 if self.end <= self.start else min(max((t - self.start) /
                                                       (self.end - self.start), 0.0), 1.0)
        x = self.at0[0] + k * (self.at1[0] - self.at0[0])
        y = self.at0[1] + k * (self.at1[1] - self.at0[1])
        return x, y, self.size0 + k * (self.size1 - self.size0)


def background(size: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth two-colour gradient with a little texture, different for every seed."""
    w, h = size
    rng = np.random.default_rng(seed)
    a, b = rng.integers(20, 235, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    img = a[None, None, :] * (1 - ramp) + b[None, None, :] * ramp
    img = np.broadcast_to(img, (h, w, 3)).copy()
    img += rng.normal(0, 6, size=(h // 8 + 1, w // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:h, :w]
    return np.clip(img, 0, 255).astype(np.uint8)


def _paste(frame: np.ndarray, image: np.ndarray, x: float, y: float, height: float) -> None:
    import cv2

    fh, fw = frame.shape[:2]
    th = max(8, int(round(height * fh)))
    tw = max(8, int(round(image.shape[1] * th / image.shape[0])))
    small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
    x0, y0 = int(round(x * fw - tw / 2)), int(round(y * fh - th / 2))
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + tw, fw), min(y0 + th, fh)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    frame[fy0:fy1, fx0:fx1] = small[fy0 - y0: fy1 - y0, fx0 - x0: fx1 - x0]


def render_clip(path: str | Path, appearances: list[Appearance], *, duration: float,
                fps: float = 30.0, size: tuple[int, int] = (1280, 720),
                cuts: tuple[float, ...] = (), fourcc: str = "mp4v", seed: int = 0) -> Path:
    """Write the clip (``fourcc`` mp4v → .mp4/.mov, MJPG → .avi, FFV1 → .mkv); a new
    background after each cut; later appearances are drawn over earlier ones."""
    import cv2

    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
    shots = [0.0, *sorted(cuts)]
    backs = [background(size, seed + k) for k in range(len(shots))]
    try:
        for i in range(int(round(duration * fps))):
            t = i / fps
            shot = sum(t >= c for c in shots) - 1
            frame = backs[shot].copy()
            for a in appearances:
                if a.start <= t < a.end:
                    _paste(frame, a.image, *a.place(t))
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def scenario(people: dict[str, np.ndarray], duration: float = 60.0) -> tuple[
        list[Appearance], tuple[float, ...]]:
    """The benchmark's story for one or two people over ``duration`` seconds (the times scale
    with it; keep it at least 30 s so the gaps stay longer than the tracker's re-find window):
    the first person walks in and grows, leaves and comes back; the second crosses in front
    of the first; the second alone, then a cut to the first at the same place, joined by the
    second. Returns (appearances, cuts)."""
    names = list(people)
    a, b = names[0], names[-1]
    d = duration / 60.0
    s = [
        Appearance(a, people[a], 0.0, 14 * d, (0.25, 0.5), (0.5, 0.5), 0.35, 0.7),
        Appearance(a, people[a], 20 * d, 34 * d, (0.3, 0.5), (0.3, 0.5), 0.5, 0.5),
        Appearance(b, people[b], 22 * d, 32 * d, (0.95, 0.5), (-0.05, 0.5), 0.45, 0.45),
        Appearance(b, people[b], 38 * d, 46 * d, (0.4, 0.5), (0.4, 0.5), 0.5, 0.5),
        Appearance(a, people[a], 46 * d, 60 * d, (0.4, 0.5), (0.4, 0.5), 0.5, 0.5),
        Appearance(b, people[b], 50 * d, 60 * d, (0.8, 0.5), (0.8, 0.5), 0.45, 0.45),
    ]
    if len(names) == 1:
        s = [x for x in s if x.person == a]
    return s, (46 * d,)


def score_tracks(tracks: list, appearances: list[Appearance]) -> dict:
    """Tracks (``TrackResult`` or their dicts) against the truth. Each track belongs to the
    appearance it overlaps best in time (intersection over union of the two spans); returns
    counts of appearances found once, found several times (duplicates) and missed, tracks
    answered right, wrong or belonging to no appearance, and each track's appearance."""
    def span(t) -> tuple[float, float, str]:
        if isinstance(t, dict):
            return t["start"], t["end"], t["face"]["ranking"][0]["person"]
        return t.start, t.end, t.face.top.person

    owner: list[int | None] = []
    for t in tracks:
        s, e, _ = span(t)
        iou = [(min(e, a.end) - max(s, a.start)) / max(max(e, a.end) - min(s, a.start), 1e-9)
               for a in appearances]
        k = int(np.argmax(iou)) if iou else -1
        owner.append(k if k >= 0 and iou[k] > 0 else None)
    counts = [owner.count(k) for k in range(len(appearances))]
    right = sum(1 for t, k in zip(tracks, owner, strict=True)
                if k is not None and span(t)[2] == appearances[k].person)
    return {"appearances": len(appearances), "tracks": len(tracks),
            "found_once": sum(c == 1 for c in counts),
            "duplicated": sum(c > 1 for c in counts), "missed": sum(c == 0 for c in counts),
            "right": right, "wrong": sum(k is not None for k in owner) - right,
            "stray": owner.count(None), "owner": owner}


def subject(rgb: np.ndarray, margin: float = 0.3) -> np.ndarray:
    """The photo cut to the face a photo's answer is about (the face path's choice, as
    ``predict`` makes it) with ``margin`` face sizes around it: other people in the photo would
    be real faces in the clip that its truth does not name. The whole photo when no face is
    found."""
    from lookalike.face.pipeline import FacePipeline

    faces = FacePipeline(cache=False).analyze_array(rgb, first_only=True).faces
    if not faces:
        return rgb
    x, y, w, h = faces[0].box
    m = margin * max(w, h)
    H, W = rgb.shape[:2]
    x0, y0 = int(max(x - m, 0)), int(max(y - m, 0))
    x1, y1 = int(min(x + w + m, W)), int(min(y + h + 2 * m, H))
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])
