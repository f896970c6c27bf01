"""Reading video files: telling a video from a photo by its content, probing it, refusing what
cannot be analysed (one-line errors), and yielding sampled frames with their times.

Frames come from OpenCV's FFmpeg backend (``opencv-python-headless`` includes it): mp4, mov,
m4v, webm, mkv, avi. Times come from each frame's own timestamp, so a variable frame rate is
followed as recorded; rotation metadata is applied by OpenCV (``CAP_PROP_ORIENTATION_AUTO``)
and reported. Knows nothing about faces.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.errors import ImageError

#: File name suffixes treated as videos when listing folders.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"})
#: Longest clip analysed by default (seconds): longer ones are refused before any decoding.
MAX_DURATION = 3600.0
#: Refuse frames with more pixels than this (8K UHD is 33 MP).
MAX_FRAME_PIXELS = 36_000_000
#: Refuse frames whose shorter side is below this.
MIN_FRAME_SIDE = 16
#: Frames are examined at most this often (per second of video) by default.
SAMPLE_FPS = 10.0

# ISO-BMFF brands that are photos (HEIF / AVIF), not videos.
_PHOTO_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
                 b"avif", b"avis")


def sniff(head: bytes) -> str | None:
    """The container a file starts like ("mp4", "mkv", "avi") or None: an ISO-BMFF ``ftyp``
    box that is not a HEIF/AVIF photo, an EBML header (Matroska, WebM), RIFF AVI."""
    if head[4:8] == b"ftyp" and head[8:12] not in _PHOTO_BRANDS:
        return "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):  # old QuickTime files
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def is_video_name(path: str | Path) -> bool:
    p = Path(path)
    return p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".")


def is_video(source: str | Path | bytes) -> bool:
    """Whether ``source`` (a file or its bytes) is a video by its content, whatever its name:
    a video named .jpg is a video, a photo named .mp4 is a photo. A file that starts like
    neither a photo nor a video counts as a video when its name says so (it is then refused as
    a damaged video, not as a damaged photo)."""
    if isinstance(source, bytes):
        return sniff(source[:16]) is not None
    try:
        # only regular files are opened here: a named pipe would block, a device never end
        # (the photo path refuses them with its own line)
        if not stat.S_ISREG(os.stat(source).st_mode):
            return False
        with open(source, "rb") as fh:
            head = fh.read(16)
    except (OSError, ValueError):
        return False
    if sniff(head) is not None:
        return True
    return is_video_name(source) and not _photo_magic(head)


def _photo_magic(head: bytes) -> bool:
    return (head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n"
            or head[:4] in (b"GIF8", b"II*\x00", b"MM\x00*") or head[:2] == b"BM"
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or (head[4:8] == b"ftyp" and head[8:12] in _PHOTO_BRANDS))


@dataclass
class VideoInfo:
    """What the container says, before decoding (``frames`` and ``duration`` are estimates:
    None when the container does not say)."""

    width: int
    height: int
    fps: float | None
    frames: int | None
    duration: float | None
    rotation: int  # degrees OpenCV turns the frames by (from the rotation metadata)

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "fps": self.fps,
                "frames": self.frames, "duration": self.duration, "rotation": self.rotation}


def _quiet_ffmpeg() -> None:
    # FFmpeg's own log lines ("moov atom not found") would reach the terminal; our one-line
    # errors say it instead.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


# FFmpeg reads its log level once, when OpenCV first uses it (a clip written or read):
# set before that, on importing this package.
_quiet_ffmpeg()


def _damaged(name) -> ImageError:
    return ImageError("cannot be read as a video (damaged or truncated, audio only, or a codec "
                      "this OpenCV lacks)", name,
                      "re-export it as MP4 (H.264 or MPEG-4) or remove it")


class VideoReader:
    """An opened video file. ``frames()`` yields ``(index, seconds, rgb)`` for sampled frames;
    every frame is decoded (``grab``) but only sampled ones are converted to RGB."""

    def __init__(self, path: str | Path, *, name: str | None = None,
                 max_duration: float | None = MAX_DURATION):
        import cv2

        _quiet_ffmpeg()
        self.path = Path(path)
        self.name = name or str(path)
        if self.path.is_dir():
            raise ImageError("is a folder, not a video", self.name, "give a video file")
        if not self.path.exists():
            raise ImageError("does not exist", self.name, "check the path")
        if not self.path.is_file():
            raise ImageError("is not a regular file (a pipe or a device)", self.name,
                             "save the video to a file first")
        if self.path.stat().st_size == 0:
            raise ImageError("is an empty file (0 bytes)", self.name, "remove it")
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our line says it
        try:
            self.cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not self.cap.isOpened():
            self.cap.release()
            raise _damaged(self.name)
        self.info = self._probe()
        self.max_duration = max_duration
        self._check(max_duration)

    def _probe(self) -> VideoInfo:
        import cv2

        get = self.cap.get
        w, h = int(get(cv2.CAP_PROP_FRAME_WIDTH)), int(get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(get(cv2.CAP_PROP_FPS))
        fps = round(fps, 3) if 0 < fps < 1000 else None
        n = get(cv2.CAP_PROP_FRAME_COUNT)
        frames = int(n) if 0 < n < 1e9 else None
        duration = round(frames / fps, 3) if frames and fps else None
        # OpenCV turns the frames by the rotation metadata, and reports the turned size
        rotation = int(get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        return VideoInfo(w, h, fps, frames, duration, rotation)

    def _check(self, max_duration: float | None) -> None:
        i = self.info
        if i.width * i.height > MAX_FRAME_PIXELS:
            self.close()
            raise ImageError(f"has {i.width}×{i.height} frames, more than the "
                             f"{MAX_FRAME_PIXELS:,} pixels allowed", self.name,
                             "scale the video down (e.g. to 1920 pixels wide)")
        if min(i.width, i.height) < MIN_FRAME_SIDE:
            self.close()
            if i.width == 0 or i.height == 0:
                raise _damaged(self.name)
            raise ImageError(f"has {i.width}×{i.height} frames, too small to show a face",
                             self.name, "use a larger video")
        if max_duration and i.duration and i.duration > max_duration:
            self.close()
            raise ImageError(f"lasts {_clock(i.duration)}, longer than the {_clock(max_duration)}"
                             " analysed", self.name,
                             "cut the part to analyse (e.g. ffmpeg -ss START -t SECONDS), or "
                             "allow more with --max-duration")

    def frames(self, sample_fps: float | None = SAMPLE_FPS
               ) -> Iterator[tuple[int, float, np.ndarray]]:
        """Sampled frames as ``(index, seconds, rgb)``: the first frame at or after each
        ``1 / sample_fps`` step of the video's own clock (every frame when None). Stops at
        ``max_duration`` (``self.truncated`` is then True) whatever the container claimed.
        Raises ImageError when not a single frame can be decoded."""
        import cv2

        step = 1.0 / sample_fps if sample_fps else 0.0
        next_t, index, last_t = 0.0, -1, -1.0
        fps = self.info.fps or 30.0
        self.truncated = False
        self.decoded = 0
        while self.cap.grab():
            index += 1
            self.decoded += 1
            t = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if not np.isfinite(t) or t < 0 or (index > 0 and t <= last_t - 1.0):
                t = index / fps  # no usable timestamp: the nominal rate
            last_t = t
            if self.max_duration and t > self.max_duration:
                self.truncated = True
                break
            if t + 1e-6 < next_t:
                continue
            ok, bgr = self.cap.retrieve()
            if not ok or bgr is None or bgr.ndim != 3:
                continue
            next_t = max(next_t + step, t + step / 2) if step else 0.0
            yield index, t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self.last_time = max(last_t, 0.0)
        if self.decoded == 0:
            raise ImageError("has no video frames (audio only, empty or damaged)", self.name,
                             "give a video with pictures")

    def close(self) -> None:
        self.cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"
