"""Video files and live frames: who appears in a clip (tracks, each answered once), and the
state a live camera's frames are answered with. No model is loaded at import time."""

from __future__ import annotations

from lookalike.video.api import TrackResult, VideoResult, analyse_video
from lookalike.video.reader import VIDEO_SUFFIXES, VideoReader, is_video, is_video_name
from lookalike.video.tracker import TrackPolicy

__all__ = ["VIDEO_SUFFIXES", "TrackPolicy", "TrackResult", "VideoReader", "VideoResult",
           "analyse_video", "is_video", "is_video_name"]
