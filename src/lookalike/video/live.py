"""Live frames (a camera): each session follows its faces from frame to frame as a video does,
and answers every frame with the tracks in view, each with its answer steadied over time (the
fusion of the views embedded so far, as for a video's track: a new view changes the answer
only as one more piece of evidence, so it does not flicker between people)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from lookalike.errors import LookalikeError
from lookalike.video.answer import answerer_for, fuse
from lookalike.video.follow import Follower
from lookalike.video.tracker import TrackPolicy

#: Live tracking: detect at least twice a second, a face unseen for 0.6 s is gone.
LIVE_POLICY = TrackPolicy(max_gap=0.5, max_lost=0.6)
#: A track missed by the detector is still shown this long (seconds): boxes do not blink.
SHOW_UNSEEN = 0.3
#: Sessions kept at once (the oldest idle one goes first), and idle seconds before one ends.
MAX_SESSIONS = 16
IDLE_SECONDS = 60.0
#: Live frames larger than this (pixels) are refused: send a smaller picture (640×480 is plenty).
MAX_LIVE_PIXELS = 1920 * 1080


@dataclass
class LiveSession:
    follower: Follower
    started: float = field(default_factory=time.monotonic)
    used: float = field(default_factory=time.monotonic)
    frames: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, rgb: np.ndarray, top: int | None = None) -> dict:
        """The tracks in view after this frame, each with its steadied answer."""
        t0 = time.perf_counter()
        with self.lock:
            now = time.monotonic()
            t = now - self.started
            how = self.follower.feed(rgb, t, self.frames)
            self.frames += 1
            self.used = now
            labels = self.follower.answerer.labels
            tracks = []
            for tr in self.follower.tracks.active:
                if not tr.answers or t - tr.end > SHOW_UNSEEN:
                    continue
                face = fuse(labels, tr.answers, tr.face)
                tracks.append({"id": tr.id, "start": round(tr.start, 3),
                               "face": face.to_dict(top), "answers": len(tr.answers)})
        from lookalike.schema import stamp

        return stamp("live", {
            "time": round(t, 3), "frame": self.frames - 1, "detected": how or "unchanged",
            "size": [int(rgb.shape[1]), int(rgb.shape[0])], "tracks": tracks,
            "seconds": round(time.perf_counter() - t0, 4)})


class LiveSessions:
    """The live sessions of one recognizer (thread-safe), sharing its networks."""

    def __init__(self, recognizer, policy: TrackPolicy = LIVE_POLICY,
                 max_sessions: int = MAX_SESSIONS, idle: float = IDLE_SECONDS):
        self.answerer = answerer_for(recognizer)
        self.policy, self.max_sessions, self.idle = policy, max_sessions, idle
        self._sessions: OrderedDict[str, LiveSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: str) -> LiveSession:
        """The session named ``session`` (made when new). Raises LookalikeError when every
        place is taken by a session used within ``idle`` seconds."""
        now = time.monotonic()
        with self._lock:
            for key in [k for k, s in self._sessions.items() if now - s.used > self.idle]:
                del self._sessions[key]
            if session in self._sessions:
                self._sessions.move_to_end(session)
                return self._sessions[session]
            if len(self._sessions) >= self.max_sessions:
                raise LookalikeError(f"{self.max_sessions} live sessions are running",
                                     fix=f"try again in {self.idle:.0f} seconds")
            s = LiveSession(Follower(self.answerer, self.policy))
            self._sessions[session] = s
            return s

    def end(self, session: str) -> bool:
        with self._lock:
            return self._sessions.pop(session, None) is not None

    def __len__(self) -> int:
        return len(self._sessions)
