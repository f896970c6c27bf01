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
import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lookalike.video.answer import Answering, answerer_for, fuse
from lookalike.video.follow import Follower
from lookalike.video.reader import MAX_DURATION, SAMPLE_FPS, VideoReader
from lookalike.video.tracker import Track, TrackPolicy

if TYPE_CHECKING:
    from lookalike.answer.ranking import FaceResult


#: Tracks begun over another face (or cut by the border) and shorter than this (seconds)
#: are not reported.
FRAGMENT = 1.0


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
        from lookalike.schema import stamp

        return stamp("video", {
            "video": self.video, "duration": self.duration, "fps": self.fps,
            "size": list(self.size), "rotation": self.rotation,
            "tracks": [t.to_dict(top) for t in self.tracks], "stats": self.stats,
            "error": self.error})


def analyse_video(recognizer: Answering, path: str | Path, *, name: str | None = None,
                  sample_fps: float | None = SAMPLE_FPS,
                  max_duration: float | None = MAX_DURATION,
                  policy: TrackPolicy | None = None, progress: bool = False,
                  keep_frames: bool = False) -> VideoResult:
    """Who appears in the video at ``path`` (see the module doc). Raises ImageError for a file
    that cannot be analysed (damaged, no frames, too long, too large), LookalikeError for a
    model that cannot answer video frames. ``keep_frames``: each track keeps its best frame
    (``best_rgb``, for cards)."""
    policy = policy or TrackPolicy()
    answerer = answerer_for(recognizer)
    label = name or str(path)
    t0, cpu0 = time.perf_counter(), time.process_time()
    with VideoReader(path, name=label, max_duration=max_duration) as reader:
        follow = Follower(answerer, policy)
        frames = _with_bar(prefetched(reader.frames(sample_fps)), reader, progress)
        mark = time.perf_counter()
        decode = 0.0
        for index, t, rgb in frames:
            decode += time.perf_counter() - mark
            follow.feed(rgb, t, index)
            mark = time.perf_counter()
        decode += time.perf_counter() - mark
        tracks = follow.tracks
        tracks.close_all()
        info = reader.info
        stats = {"frames_decoded": reader.decoded, "frames_examined": follow.examined,
                 "frames_detected": follow.detected,
                 "frames_detected_near_faces": follow.near, "embeddings": tracks.embeddings,
                 "truncated": reader.truncated, "analysed_seconds": round(reader.last_time, 3),
                 "sample_fps": sample_fps}
        duration = info.duration if info.duration and not reader.truncated else round(
            reader.last_time + (1.0 / info.fps if info.fps else 0.0), 3)
        timing = {"waiting_for_frames": decode, **follow.timing}
    results = _results(tracks.done, answerer.labels, keep_frames, follow.examined)
    stats["tracks_dropped"] = len(tracks.done) - len(results)
    stats["seconds"] = {k: round(v, 3) for k, v in timing.items()}
    stats["seconds"]["wall"] = round(time.perf_counter() - t0, 3)
    stats["seconds"]["cpu"] = round(time.process_time() - cpu0, 3)
    return VideoResult(label, duration, info.fps, (info.width, info.height), info.rotation,
                       results, stats, None if results else "no face found")


def _results(done: list[Track], labels: list[str], keep_frames: bool, examined: int
             ) -> list[TrackResult]:
    """Fused answers of the tracks, in order of appearance. Dropped: a track detected once (a
    false detection, or a face in view for a moment) unless the video had one frame, and a
    fragment: shorter than ``FRAGMENT`` seconds and begun over another face or cut by the
    frame's border (a face half hidden while someone passes in front of it, or coming in)."""
    keep = [tr for tr in done if tr.answers and (tr.seen >= 2 or examined <= 1)
            and not (tr.born_crowded and tr.end - tr.start < FRAGMENT)]
    keep.sort(key=lambda tr: (tr.start, tr.id))
    out = []
    for k, tr in enumerate(keep, 1):
        t, index, face = tr.best if tr.best else (tr.start, 0, tr.face)
        out.append(TrackResult(k, tr.start, tr.end, index, t, fuse(labels, tr.answers, face),
                               len(tr.answers), tr.best_rgb if keep_frames else None))
    return out


_END = object()


def prefetched(frames: Iterator, depth: int = 4) -> Iterator:
    """``frames`` decoded on a thread of their own, ``depth`` ahead: FFmpeg decodes the next
    frames (without the GIL) while this thread detects and embeds. Errors are raised here."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in frames:
                if not offer(item):
                    return
            offer(_END)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            offer(err)

    thread = threading.Thread(target=run, name="lookalike-video-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


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
