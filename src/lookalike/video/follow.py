"""Following faces through a stream of frames: per frame, whether to detect (the whole frame,
only near the tracked faces, or not at all), then the tracks' update, embeddings and identity
checks (:class:`TrackSet`). Used for video files (:mod:`.api`) and live frames (:mod:`.live`).
"""

from __future__ import annotations

import time

import numpy as np

from lookalike.video.answer import FrameAnswerer
from lookalike.video.tracker import (
    Track,
    TrackPolicy,
    associate,
    change_outside,
    difference,
    is_cut,
    mark_crowded,
    thumbnail,
)


class Follower:
    """Feed it frames in time order (:meth:`feed`); ``tracks`` holds the result."""

    def __init__(self, answerer: FrameAnswerer, policy: TrackPolicy):
        self.answerer, self.policy = answerer, policy
        self.tracks = TrackSet(answerer, policy)
        self.last_thumb: np.ndarray | None = None
        self.last_detect = -np.inf
        self.examined = self.detected = self.near = 0
        self.timing = {"detect": 0.0, "track_and_answer": 0.0}

    def feed(self, rgb: np.ndarray, t: float, index: int) -> str | None:
        """One frame at ``t`` seconds: how it was detected ("full", "near" or None)."""
        t0 = time.perf_counter()
        self.examined += 1
        thumb = thumbnail(rgb)
        cut = self.last_thumb is not None and is_cut(self.last_thumb, thumb, self.policy)
        if cut:
            self.tracks.close_all()
        how = _how_to_detect(self.policy, thumb, self.last_thumb, cut, t - self.last_detect,
                             self.tracks.active, rgb.shape)
        if not how:  # the picture did not change: the faces seen last time are still there
            self.tracks.still(t)
            return None
        if how == "near":
            faces = self.answerer.detect_near(rgb, [tr.face.box for tr in self.tracks.active])
            self.near += 1
        else:
            faces = self.answerer.detect(rgb)
            self.last_detect = t
        t1 = time.perf_counter()
        self.timing["detect"] += t1 - t0
        self.tracks.step(rgb, faces, t, index)
        self.timing["track_and_answer"] += time.perf_counter() - t1
        self.last_thumb, self.detected = thumb, self.detected + 1
        return how


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
        # begun over a face in view or one just lost (hidden): maybe a half-hidden face
        near = self.active + [o for o in self.done
                              if not o.closed and t - o.end <= self.policy.reid_window]
        tr.born_crowded = any(_touch(_grown(face.box), o.face.box) for o in near)
        # ... or cut by the frame's border (a face coming in): maybe a part of a face
        tr.born_crowded |= face.raw_box is not None
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
                    q = tr.offer_view(rgb, ans.face, t, index)
                elif own < self.answerer.same_person:
                    continue  # a doubtful view (half hidden): not part of the answer
            if vec is not None and t - tr.start <= self.policy.reid_window:
                tr = self._revive(tr, vec, t) or tr
            tr.embedded(q, t, ans, vec)
        mark_crowded(self.active)
        self.last_step = t
        lost = [tr for tr in self.active if tr.closed or t - tr.end > self.policy.max_lost]
        if lost:
            self.done += lost
            self.active = [tr for tr in self.active if tr not in lost]

    def _revive(self, young: Track, vec: np.ndarray, t: float) -> Track | None:
        """A track lost shortly (``policy.reid_window``) before ``young`` began — hidden behind
        someone, turned away; not ended by a cut — whose face ``young``'s is: it goes on,
        with ``young``'s views (a first view half hidden may not match: later ones may)."""
        best, best_sim = None, self.answerer.same_person
        for old in self.done:
            if (old.closed or not old.vectors or old.end > young.start
                    or young.start - old.end > self.policy.reid_window):
                continue
            sim = _similarity(old, vec)
            if sim >= best_sim:
                best, best_sim = old, sim
        if best is None:
            return None
        self.done.remove(best)
        self.active[self.active.index(young)] = best
        best.absorb(young)
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


def _grown(box, k: float = 0.25) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return (x - k * w, y - k * h, w * (1 + 2 * k), h * (1 + 2 * k))


def _touch(a, b) -> bool:
    return (min(a[0] + a[2], b[0] + b[2]) > max(a[0], b[0])
            and min(a[1] + a[3], b[1] + b[3]) > max(a[1], b[1]))


def _similarity(tr: Track, vec: np.ndarray) -> float:
    """Cosine of ``vec`` to the mean of the track's embeddings."""
    m = np.mean([v for v in tr.vectors if v is not None], axis=0)
    return float(m @ vec) / max(float(np.linalg.norm(m)), 1e-9)


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


