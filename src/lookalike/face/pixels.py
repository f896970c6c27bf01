"""A photo's pixels at the resolution each stage needs (issue 26, big photos).

The detector looks at the photo at most ``FaceDetector.max_side`` (640) pixels wide, so a big
JPEG is decoded at the cheapest DCT scale (1/2, 1/4, 1/8: libjpeg's scaled decoding, which
skips most of the inverse transform) that still has that many pixels: a 12-megapixel photo at
1/4, 1000×750. The faces are found there; a face whose eyes are closer than
:data:`EYES_NEED` pixels in it (a small face in a group shot: SFace's 112 px crop puts the
eyes 35 px apart) is read from a finer decode (at least :data:`DECODE_SIDE` pixels), made only
then. Photos up to twice the detector's side decode at full size as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lookalike.face.record import Face, scaled
from lookalike.photos.images import decode_photo

#: The finer decode: at least DECODE_SIDE pixels on the longer side (when the photo has them;
#: enough for faces down to ~30 px in a group shot), at the cheapest JPEG draft scale, and at
#: most DECODE_MAX_SIDE (other formats above it are scaled down to it).
DECODE_SIDE = 1200
DECODE_MAX_SIDE = 2400
#: A face whose eyes are closer than this in the detector's decode is read from the finer one
#: (SFace's 112 px template puts them 35.2 px apart: below it its crop would be upscaled).
EYES_NEED = 35.0


def decode_for_faces(data: bytes, name: str | Path | None = None
                     ) -> tuple[np.ndarray, tuple[int, int]]:
    """A photo decoded finely enough for small faces, and its full ``(width, height)``."""
    return decode_photo(data, max_side=DECODE_MAX_SIDE, draft_side=DECODE_SIDE, name=name)


def decode_for_detector(data: bytes, side: int, name: str | Path | None = None
                        ) -> tuple[np.ndarray, tuple[int, int], Callable[[], np.ndarray] | None]:
    """A photo decoded at the cheapest scale that keeps ``side`` pixels (the detector's), its
    full ``(width, height)``, and what decodes it finer (None when this decode is as fine as
    :func:`decode_for_faces` would be)."""
    rgb, full = decode_photo(data, max_side=DECODE_MAX_SIDE, draft_side=side, name=name)
    if max(rgb.shape[:2]) >= min(max(full), DECODE_SIDE):
        return rgb, full, None
    return rgb, full, lambda: decode_for_faces(data, name)[0]


def eye_distance(face: Face) -> float:
    re, le = np.asarray(face.landmarks, np.float64)[:2]
    return float(np.hypot(*(le - re)))


class Pixels:
    """A decoded photo (``rgb``, the pixels faces are given in) and, decoded on first need, a
    finer copy for the faces too small in it (:meth:`for_faces`)."""

    def __init__(self, rgb: np.ndarray, finer: Callable[[], np.ndarray] | None = None,
                 full: tuple[int, int] | None = None):
        self.rgb = rgb
        #: The photo's own (width, height), after EXIF orientation.
        self.full = full or (rgb.shape[1], rgb.shape[0])
        self._finer = finer
        self._fine: np.ndarray | None = None
        #: A finer decode can be made (a plain attribute: the face path reads it per photo).
        self.refinable = finer is not None

    @classmethod
    def decode(cls, data: bytes, side: int, name: str | Path | None = None) -> Pixels:
        """A photo decoded for a detector that looks at ``side`` pixels
        (:func:`decode_for_detector`), finer on demand."""
        rgb, full, finer = decode_for_detector(data, side, name)
        return cls(rgb, finer, full)

    def refined(self) -> Pixels:
        """The finer decode as the pixels faces are given in (nothing finer beyond it)."""
        return Pixels(self.fine(), None, self.full)

    def fine(self) -> np.ndarray:
        """The finer decode (``rgb`` itself when there is none)."""
        if self._finer is None:
            return self.rgb
        if self._fine is None:
            self._fine = self._finer()
        return self._fine

    def _needs_finer(self, face: Face) -> bool:
        return self._finer is not None and eye_distance(face) < EYES_NEED

    def one(self, face: Face) -> tuple[np.ndarray, Face]:
        """The pixels to read ``face`` from (its crop, its thumbnail) and the face in them:
        the finer decode when its eyes are closer than :data:`EYES_NEED` pixels in ``rgb``."""
        if not self._needs_finer(face):
            return self.rgb, face
        fine = self.fine()
        k = fine.shape[1] / self.rgb.shape[1]
        return (fine, face.scaled(k)) if k > 1.0 else (self.rgb, face)

    def read(self, faces: Sequence[Face],
             fn: Callable[[np.ndarray, list[Face]], Sequence | np.ndarray]) -> np.ndarray:
        """``fn(pixels, faces)`` (rows, one per face: crops' vectors, norms) with each face
        read from the pixels :meth:`one` gives it: one call for the faces big enough in
        ``rgb``, one for the others in the finer decode; rows in the order of ``faces``."""
        groups = self.groups(faces)
        if len(groups) == 1:  # every face from one image, in order
            img, _, some = groups[0]
            return np.asarray(fn(img, some))
        return np.asarray(self._rows(groups, fn))

    def read_rows(self, faces: Sequence[Face],
                  fn: Callable[[np.ndarray, list[Face]], Sequence | np.ndarray]) -> list:
        """:meth:`read`'s rows as a list (rows that are not numbers: JPEGs, pairs)."""
        return self._rows(self.groups(faces), fn)

    @staticmethod
    def _rows(groups: list[tuple[np.ndarray, list[int], list[Face]]],
              fn: Callable[[np.ndarray, list[Face]], Sequence | np.ndarray]) -> list:
        rows: list = [None] * sum(len(idx) for _, idx, _ in groups)
        for img, idx, some in groups:
            for i, r in zip(idx, fn(img, some), strict=True):
                rows[i] = r
        return rows

    def groups(self, faces: Sequence[Face]) -> list[tuple[np.ndarray, list[int], list[Face]]]:
        """Where each face is read from, in one call for a photo's faces: (pixels, indices
        into ``faces``, those faces in these pixels) for the faces big enough in ``rgb``, and
        for the others in the finer decode (made then), as :meth:`one` gives each."""
        faces = list(faces)
        small = [i for i, f in enumerate(faces) if self._needs_finer(f)]
        if not small:
            return [(self.rgb, list(range(len(faces))), faces)]
        taken = set(small)
        big = [i for i in range(len(faces)) if i not in taken]
        out = [(self.rgb, big, [faces[i] for i in big])] if big else []
        fine = self.fine()
        k = fine.shape[1] / self.rgb.shape[1]
        tiny = [faces[i] for i in small]
        # (nothing finer than rgb: the small faces are read from it, as they are)
        out.append((fine, small, scaled(tiny, k)) if k > 1.0 else (self.rgb, small, tiny))
        return out
