"""Who appears in a video: faces detected on sampled frames, followed as tracks, each track
answered once from a few chosen views and fused as ``--together`` fuses photos.

``analyse_video(recognizer, path)`` → :class:`VideoResult`; ``Recognizer.predict_video`` is
the same. The answer shape (``to_dict``, CLI ``--json``, ``POST /api/video``)::

    {"video": name, "duration": s, "fps": f, "size": [w, h], "rotation": deg,
     "tracks": [{"id": 1, "start": s, "end": s, "best_frame": {"index": i, "time": s},
                 "face": <a face's answer: box (in the best frame), landmarks, ranking, …>,
                 "answers": n}],
     "stats": {...}, "error": null}
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .answer import FrameAnswerer, fuse
from .reader import MAX_DURATION, SAMPLE_FPS, VideoReader
from .tracker import (
    Track,
    TrackPolicy,
    associate,
    change_outside,
    difference,
    is_cut,
    mark_crowded,
    thumbnail,
)

if TYPE_CHECKING:
    from ..ranking import FaceResult
    from ..recognizer import Recognizer


@dataclass
class TrackResult:
    """One appearance of one face and its fused answer (``face``, shown at the best view)."""

    id: int
    start: float
    end: float
    best_index: int
    best_time: float
    face: FaceResult
    n_answers: int
    best_rgb: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self, top: int | None = None) -> dict:
        return {"id": self.id, "start": round(self.start, 3), "end": round(self.end, 3),
                "best_frame": {"index": self.best_index, "time": round(self.best_time, 3)},
                "face": self.face.to_dict(top), "answers": self.n_answers}


@dataclass
class VideoResult:
    video: str
    duration: float | None
    fps: float | None
    size: tuple[int, int]
    rotation: int
    tracks: list[TrackResult]
    stats: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.tracks)

    def to_dict(self, top: int | None = None) -> dict:
        return {"video": self.video, "duration": self.duration, "fps": self.fps,
                "size": list(self.size), "rotation": self.rotation,
                "tracks": [t.to_dict(top) for t in self.tracks], "stats": self.stats,
                "error": self.error}


class TrackSet:
    """The live state of the tracks: feed it detected frames, it decides what to embed."""

    def __init__(self, answerer: FrameAnswerer, policy: TrackPolicy):
        self.answerer, self.policy = answerer, policy
        self.active: list[Track] = []
        self.done: list[Track] = []
        self.next_id = 1
        self.embeddings = 0
        self.last_step = -1.0

    def _new(self, face, t: float) -> Track:
        tr = Track(self.next_id, t, face)
        self.next_id += 1
        self.active.append(tr)
        return tr

    def still(self, t: float) -> None:
        """Nothing moved by time ``t``: the tracks seen at the last detection are seen now."""
        for tr in self.active:
            if tr.end == self.last_step:
                tr.end, tr.velocity = t, (0.0, 0.0)
        self.last_step = t

    def close_all(self) -> None:
        """A cut (or the end): every track ends, and none lost before it is found again."""
        self.done += self.active
        self.active = []
        for tr in self.done:
            tr.closed = True

    def step(self, rgb: np.ndarray, faces: list, t: float, index: int) -> None:
        """One detected frame: match faces to tracks, start new tracks, embed where worth
        it, check the identity of tracks that came close to another, end lost tracks."""
        pairs, new, _ = associate(self.active, faces, t, self.policy)
        todo: list[tuple[Track, float, tuple]] = []
        for tr, f in pairs:
            before = (tr.face, tr.end, tr.best_quality, tr.best, tr.best_rgb)
            tr.update(f, t)
            q = tr.offer_view(rgb, f, t, index)
            if tr.wants_embedding(q, t, self.policy):
                todo.append((tr, q, before))
        for f in new:
            tr = self._new(f, t)
            todo.append((tr, tr.offer_view(rgb, f, t, index), ()))
        answers = self.answerer.answer(rgb, [tr.face for tr, _, _ in todo])
        self.embeddings += len(answers)
        for (tr, q, before), (ans, vec) in zip(todo, answers, strict=True):
            if tr.crowded and tr.answers and vec is not None:
                own, other = self._identity(tr, vec, t)
                if own < self.answerer.same_person and other is not None:
                    # it followed someone else: put it back where it was (it may be found
                    # again), and this face starts or continues the other's track
                    tr.face, tr.end, tr.best_quality, tr.best, tr.best_rgb = before
                    tr.seen -= 1
                    self.active.remove(tr)
                    self.done.append(tr)
                    tr = self._new(ans.face, t)
                    tr = self._revive(tr, vec, t) or tr
                    q = tr.offer_view(rgb, ans.face, t, index)
                elif own < self.answerer.same_person:
                    continue  # a doubtful view (half hidden): not part of the answer
            elif not tr.answers and vec is not None:
                tr = self._revive(tr, vec, t) or tr
                q = tr.offer_view(rgb, tr.face, t, index)
            tr.embedded(q, t, ans, vec)
        mark_crowded(self.active)
        self.last_step = t
        lost = [tr for tr in self.active if tr.closed or t - tr.end > self.policy.max_lost]
        if lost:
            self.done += lost
            self.active = [tr for tr in self.active if tr not in lost]

    def _revive(self, new: Track, vec: np.ndarray, t: float) -> Track | None:
        """A track lost less than ``policy.reid_window`` ago (hidden behind someone, turned
        away; not ended by a cut) whose face this new track's is: it goes on instead."""
        best, best_sim = None, self.answerer.same_person
        for old in self.done:
            if old.closed or t - old.end > self.policy.reid_window or not old.vectors:
                continue
            sim = _similarity(old, vec)
            if sim >= best_sim:
                best, best_sim = old, sim
        if best is None:
            return None
        self.done.remove(best)
        self.active[self.active.index(new)] = best
        best.velocity = (0.0, 0.0)
        best.update(new.face, t)
        return best

    def _identity(self, tr: Track, vec: np.ndarray, t: float) -> tuple[float, Track | None]:
        """The similarity of ``vec`` to the track's face, and another track (in view or lost
        lately) whose face it is more like, when there is one above the same-person line."""
        own = _similarity(tr, vec)
        others = [o for o in [*self.active, *self.done] if o is not tr and o.vectors
                  and not o.closed and t - o.end <= self.policy.reid_window]
        best = max(others, key=lambda o: _similarity(o, vec), default=None)
        if best is None or _similarity(best, vec) < max(own, self.answerer.same_person):
            return own, None
        return own, best


def _similarity(tr: Track, vec: np.ndarray) -> float:
    """Cosine of ``vec`` to the mean of the track's embeddings."""
    m = np.mean([v for v in tr.vectors if v is not None], axis=0)
    return float(m @ vec) / max(float(np.linalg.norm(m)), 1e-9)


def analyse_video(recognizer: Recognizer, path: str | Path, *, name: str | None = None,
                  sample_fps: float | None = SAMPLE_FPS,
                  max_duration: float | None = MAX_DURATION,
                  policy: TrackPolicy | None = None, progress: bool = False,
                  keep_frames: bool = False) -> VideoResult:
    """Who appears in the video at ``path`` (see the module doc). Raises ImageError for a file
    that cannot be analysed (damaged, no frames, too long, too large), LookalikeError for a
    model that cannot answer video frames. ``keep_frames``: each track keeps its best frame
    (``best_rgb``, for cards)."""
    policy = policy or TrackPolicy()
    answerer = FrameAnswerer(recognizer)
    label = name or str(path)
    t0, cpu0 = time.perf_counter(), time.process_time()
    timing = {"decode": 0.0, "detect": 0.0, "track_and_answer": 0.0}
    with VideoReader(path, name=label, max_duration=max_duration) as reader:
        tracks = TrackSet(answerer, policy)
        examined = detected = near = 0
        last_thumb: np.ndarray | None = None
        last_detect = -np.inf
        frames = _with_bar(reader.frames(sample_fps), reader, progress)
        mark = time.perf_counter()
        for index, t, rgb in frames:
            now = time.perf_counter()
            timing["decode"] += now - mark
            examined += 1
            thumb = thumbnail(rgb)
            cut = last_thumb is not None and is_cut(last_thumb, thumb, policy)
            if cut:
                tracks.close_all()
            how = _how_to_detect(policy, thumb, last_thumb, cut, t - last_detect,
                                 tracks.active, rgb.shape)
            if how:
                if how == "near":
                    faces = answerer.detect_near(rgb, [tr.face.box for tr in tracks.active])
                    near += 1
                else:
                    faces = answerer.detect(rgb)
                    last_detect = t
                t1 = time.perf_counter()
                timing["detect"] += t1 - now
                tracks.step(rgb, faces, t, index)
                timing["track_and_answer"] += time.perf_counter() - t1
                last_thumb, detected = thumb, detected + 1
            else:  # the picture did not change: the faces seen last time are still there
                tracks.still(t)
            mark = time.perf_counter()
        timing["decode"] += time.perf_counter() - mark
        tracks.close_all()
        info = reader.info
        stats = {"frames_decoded": reader.decoded, "frames_examined": examined,
                 "frames_detected": detected,
                 "frames_detected_near_faces": near, "embeddings": tracks.embeddings,
                 "truncated": reader.truncated, "analysed_seconds": round(reader.last_time, 3),
                 "sample_fps": sample_fps}
        duration = info.duration if info.duration and not reader.truncated else round(
            reader.last_time + (1.0 / info.fps if info.fps else 0.0), 3)
    results = _results(tracks.done, answerer.labels, keep_frames, examined)
    stats["tracks_dropped"] = len(tracks.done) - len(results)
    stats["seconds"] = {k: round(v, 3) for k, v in timing.items()}
    stats["seconds"]["wall"] = round(time.perf_counter() - t0, 3)
    stats["seconds"]["cpu"] = round(time.process_time() - cpu0, 3)
    return VideoResult(label, duration, info.fps, (info.width, info.height), info.rotation,
                       results, stats, None if results else "no face found")


def _how_to_detect(policy: TrackPolicy, thumb: np.ndarray, last_thumb: np.ndarray | None,
                   cut: bool, since_full: float, active: list[Track], shape: tuple
                   ) -> str | None:
    """"full" (the whole frame), "near" (around the tracked faces) or None (nothing
    changed: the tracks stay where they are)."""
    if last_thumb is None or cut or since_full >= policy.max_gap:
        return "full"
    if float(difference(thumb, last_thumb).mean()) <= policy.change:
        return None
    if policy.near and active and change_outside(
            thumb, last_thumb, [tr.face.box for tr in active], (shape[1], shape[0])) == 0:
        return "near"
    return "full"


def _results(done: list[Track], labels: list[str], keep_frames: bool, examined: int
             ) -> list[TrackResult]:
    """Fused answers of the tracks, in order of appearance; a track detected once (a false
    detection, or a face in view for a moment) is dropped unless the video had one frame."""
    keep = [tr for tr in done if tr.answers and (tr.seen >= 2 or examined <= 1)]
    keep.sort(key=lambda tr: (tr.start, tr.id))
    out = []
    for k, tr in enumerate(keep, 1):
        t, index, face = tr.best if tr.best else (tr.start, 0, tr.face)
        out.append(TrackResult(k, tr.start, tr.end, index, t, fuse(labels, tr.answers, face),
                               len(tr.answers), tr.best_rgb if keep_frames else None))
    return out


def _with_bar(frames, reader: VideoReader, progress: bool):
    """The frames with a progress bar in seconds of video (LOOKALIKE_PROGRESS=0: none)."""
    if not progress or os.environ.get("LOOKALIKE_PROGRESS", "1") == "0":
        yield from frames
        return
    from tqdm import tqdm

    total = reader.info.duration
    with tqdm(total=int(round(total)) if total else None, desc=Path(reader.name).name,
              unit="s", file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
        for item in frames:
            if int(item[1]) > bar.n:
                bar.update(int(item[1]) - bar.n)
            yield item
