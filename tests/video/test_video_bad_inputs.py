"""Videos that cannot be analysed get one clear line (CLI exit 2) and never hang: damaged,
truncated, no frames, audio only, too large, too long; photos and videos are told apart by
content whatever their names; rotation metadata is applied."""

from __future__ import annotations

import struct
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from lookalike.cli import main
from lookalike.errors import ImageError
from lookalike.video import analyse_video, is_video
from lookalike.video import reader as video_reader
from lookalike.video.synth import Appearance, render_clip
from tests.utils import astronaut, encode


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "small.mp4"
    return render_clip(path, [Appearance("astronaut", astronaut(), 0.0, 3.0)], duration=3.0,
                       fps=10, size=(480, 270))


def _fails(trained, path: Path, capfd, match: str) -> str:
    t0 = time.perf_counter()
    code = main(["predict", str(trained[2]), str(path)])
    err = capfd.readouterr().err.strip()
    assert code == 2, err
    assert time.perf_counter() - t0 < 60
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path.name) in lines[0] and match in lines[0], lines[0]
    return lines[0]


def test_damaged_and_truncated(trained, small_clip, tmp_path, capfd):
    data = small_clip.read_bytes()
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(data[: len(data) // 3])  # the index (moov) is at the end: unreadable
    _fails(trained, cut, capfd, "cannot be read as a video")
    noise = tmp_path / "noise.mkv"
    noise.write_bytes(b"\x1a\x45\xdf\xa3" + np.random.default_rng(0).bytes(20_000))
    _fails(trained, noise, capfd, "cannot be read as a video")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _fails(trained, empty, capfd, "empty")


def test_damaged_in_the_middle_answers_what_it_could_read(trained, small_clip, tmp_path):
    data = bytearray(small_clip.read_bytes())
    mdat = data.find(b"mdat")
    rng = np.random.default_rng(1)
    for k in range(mdat + 20_000, min(mdat + 60_000, len(data) - 4000), 997):
        data[k] = int(rng.integers(0, 256))
    path = tmp_path / "scratched.mp4"
    path.write_bytes(bytes(data))
    r = analyse_video(trained[0], path)  # answers or a clean error, never a crash
    assert r.error is None or "no face" in r.error


def test_no_frames_and_audio_only(trained, tmp_path, capfd):
    import cv2

    none = tmp_path / "noframes.mp4"
    w = cv2.VideoWriter(str(none), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    w.release()
    if none.exists() and none.stat().st_size:
        _fails(trained, none, capfd, "video")
    audio = tmp_path / "sound.mp4"  # a WAV named .mp4: no pictures
    with wave.open(str(tmp_path / "s.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(np.zeros(8000, np.int16).tobytes())
    audio.write_bytes((tmp_path / "s.wav").read_bytes())
    _fails(trained, audio, capfd, "cannot be read as a video")


def test_photo_named_mp4_and_video_named_jpg(trained, small_clip, tmp_path, capfd):
    photo = tmp_path / "holiday.mp4"
    photo.write_bytes(encode(astronaut(), quality=90))
    assert not is_video(photo)
    assert main(["predict", str(trained[2]), str(photo), "--json"]) == 0
    assert '"photos"' in capfd.readouterr().out
    clip = tmp_path / "clip.jpg"
    clip.write_bytes(small_clip.read_bytes())
    assert is_video(clip)
    assert main(["predict", str(trained[2]), str(clip), "--json"]) == 0
    out = capfd.readouterr().out
    assert '"videos"' in out and '"astronaut"' in out


def test_gigantic_frames_refused_before_decoding(trained, small_clip, monkeypatch, capfd):
    monkeypatch.setattr(video_reader, "MAX_FRAME_PIXELS", 100_000)  # 480×270 is 129,600
    line = _fails(trained, small_clip, capfd, "480×270 frames, more than the 100,000 pixels")
    assert "scale the video down" in line


def test_long_clip_refused_or_cut_at_the_bound(trained, small_clip, capfd):
    line = _fails_with(trained, small_clip, capfd, ["--max-duration", "2"])
    assert "lasts 0:03, longer than the 0:02 analysed" in line and "--max-duration" in line
    r = analyse_video(trained[0], small_clip, max_duration=None)
    assert not r.stats["truncated"]


def _fails_with(trained, path, capfd, extra) -> str:
    assert main(["predict", str(trained[2]), str(path), *extra]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1
    return err[0]


def test_a_clip_longer_than_it_says_stops_at_the_bound(trained, tmp_path):
    """MJPG in AVI: when the container's length is not trusted, reading stops at the bound."""
    path = render_clip(tmp_path / "long.avi", [Appearance("a", astronaut(), 0.0, 5.0)],
                       duration=5.0, fps=10, size=(320, 180), fourcc="MJPG")
    reader = video_reader.VideoReader(path, max_duration=None)
    reader.max_duration = 2.0  # as if the header had claimed less than the bound
    seen = [t for _, t, _ in reader.frames(sample_fps=None)]
    reader.close()
    assert reader.truncated and max(seen) <= 2.0


def test_rotation_metadata_is_applied(trained, tmp_path):
    """A phone clip stored sideways with a 'rotate' display matrix comes out upright."""
    turned = np.ascontiguousarray(np.rot90(astronaut(), -1))
    src = render_clip(tmp_path / "src.mp4", [Appearance("a", turned, 0.0, 2.0, size0=0.9,
                                                        size1=0.9)],
                      duration=2.0, fps=10, size=(360, 640))
    data = bytearray(src.read_bytes())
    i = data.find(b"tkhd")
    off = i + 4 + 4 + (36 if data[i + 4] == 1 else 20) + 16
    assert data[off:off + 36] == struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0,
                                             0x40000000)
    data[off:off + 36] = struct.pack(">9I", 0, 0xFFFF0000, 0, 0x10000, 0, 0, 0, 0, 0x40000000)
    path = tmp_path / "phone.mp4"
    path.write_bytes(bytes(data))
    r = analyse_video(trained[0], path)
    assert r.rotation in (90, 270) and r.size == (640, 360)
    assert len(r.tracks) == 1 and r.tracks[0].face.top.person == "astronaut"
    assert not r.tracks[0].face.unknown


def test_a_named_pipe_named_mp4_is_refused_without_waiting(trained, tmp_path, capfd):
    import os

    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    assert not is_video(fifo)  # not opened: nobody writes to it
    t0 = time.perf_counter()
    assert main(["predict", str(trained[2]), str(fifo)]) == 2
    assert time.perf_counter() - t0 < 30
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stream.mp4" in err[0]
    with pytest.raises(ImageError, match="not a regular file"):
        video_reader.VideoReader(fifo)


def test_reader_errors_are_image_errors(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        video_reader.VideoReader(tmp_path / "missing.mp4")
    with pytest.raises(ImageError, match="is a folder"):
        video_reader.VideoReader(tmp_path)


def _boxes(data: bytes, start: int, end: int):
    """(type, offset, size) of the ISO-BMFF boxes in data[start:end]."""
    k = start
    while k + 8 <= end:
        size = struct.unpack(">I", data[k:k + 4])[0]
        yield data[k + 4:k + 8], k, size
        if size < 8:
            return
        k += size


def _variable_rate(mp4: bytes) -> bytes:
    """The clip with its second half shown at half the rate: its time-to-sample table (stts)
    split in two entries, the second with twice the frame duration (a variable frame rate,
    as phones record). The index (moov) follows the pictures (mdat), so no offset moves."""
    data = bytearray(mp4)
    path: list[int] = []
    start, end = 0, len(data)
    for name in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts"):
        _, off, size = next(b for b in _boxes(data, start, end) if b[0] == name)
        path.append(off)
        start, end = off + 8, off + size
    stts = path[-1]
    count, delta = struct.unpack(">II", data[stts + 16:stts + 24])
    first = count // 2
    entries = struct.pack(">IIII", first, delta, count - first, 2 * delta)
    new = data[:stts + 12] + struct.pack(">I", 2) + entries + data[stts + 24:]
    for off in path:  # every box holding stts grows by 8 bytes
        size = struct.unpack(">I", new[off:off + 4])[0]
        new[off:off + 4] = struct.pack(">I", size + 8)
    # the edit list's segment (movie time shown) grows by half too, else the demuxer stops
    # showing frames after the old 4 s
    k = new.find(b"elst") - 4
    assert new[k + 8] == 0  # version 0: 32-bit durations
    d = struct.unpack(">I", new[k + 16:k + 20])[0]
    new[k + 16:k + 20] = struct.pack(">I", d * 3 // 2)
    return bytes(new)


def test_variable_frame_rate_follows_the_recorded_times(trained, tmp_path):
    """20 frames at 10 fps then 20 at 5 fps: 6 s, not the 4 s that frames / fps would say."""
    src = render_clip(tmp_path / "cfr.mp4", [Appearance("astronaut", astronaut(), 0.0, 4.0)],
                      duration=4.0, fps=10, size=(480, 270))
    data = src.read_bytes()
    assert data.find(b"mdat") < data.find(b"moov")
    path = tmp_path / "vfr.mp4"
    path.write_bytes(_variable_rate(data))
    reader = video_reader.VideoReader(path)
    times = [t for _, t, _ in reader.frames(sample_fps=None)]
    reader.close()
    assert len(times) == 40
    steps = np.diff(times)
    assert np.allclose(steps[:19], 0.1, atol=0.01) and np.allclose(steps[20:], 0.2, atol=0.01)
    r = analyse_video(trained[0], path)
    assert len(r.tracks) == 1 and r.tracks[0].end == pytest.approx(5.8, abs=0.25)
