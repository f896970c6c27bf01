"""Video and live camera: speed and right answers on clips made from photos.

    python -m bench.studies.video.bench_video [--people DIR] [--duration 60]
        [--live-seconds 20] [--no-live] [--accuracy-clips 4]

* **Speed**: a 60 s 1280×720 30 fps clip of two people (``lookalike.video.synth.scenario``:
  walks in and grows, leaves and comes back, one crosses in front of the other, a cut), made
  from photos the model was not trained on. Wall and CPU of ``predict_video`` per stage, against
  a reference measured in the same run on the same file: decoding it alone (every frame
  grabbed, the sampled ones converted), and the same analysis embedding every sampled frame
  (``TrackPolicy.reference()``).
* **Answers**: every track against the truth of the clip (one track per appearance, right
  person), on that clip and on ``--accuracy-clips`` shorter 640×360 clips of other pairs.
* **Live**: ``lookalike serve`` on loopback; 640×480 JPEG frames (a face moving, a second one
  coming in) POSTed to /api/live one at a time as the page does: answers per second, delay
  (request sent → answer read), and how often a track's top answer changed; then the page
  itself in headless Chromium with a fake camera (when /usr/bin/chromium is there): the
  answers per second and delay it shows.

``--people DIR``: DIR/train/<person>/* trains the model and DIR/validation/<person>/* makes the
clips (default: ../shared/data/lfw7). Writes bench/studies/video/results/video.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import data_home, machine, save  # noqa: E402

os.environ.setdefault("LOOKALIKE_PROGRESS", "0")


def load_rgb(path: Path) -> np.ndarray:
    """The photo cut to its subject (people in its background would be faces the clip's truth
    does not name)."""
    from PIL import Image

    from lookalike.video.synth import subject

    with Image.open(path) as im:
        return subject(np.asarray(im.convert("RGB")))


def people_photos(folder: Path) -> dict[str, list[Path]]:
    return {p.name: sorted(f for f in p.iterdir() if f.suffix.lower() in (".jpg", ".png"))
            for p in sorted(folder.iterdir()) if p.is_dir()}


def decode_only(path: Path, sample_fps: float) -> dict:
    """The reference: the same file decoded as predict_video decodes it, nothing else."""
    from lookalike.video.reader import VideoReader

    t0, c0 = time.perf_counter(), time.process_time()
    with VideoReader(path, max_duration=None) as r:
        n = sum(1 for _ in r.frames(sample_fps))
    return {"frames_converted": n, "wall_s": round(time.perf_counter() - t0, 3),
            "cpu_s": round(time.process_time() - c0, 3)}


def analyse(model, path: Path, policy=None) -> tuple[dict, object]:
    from lookalike.video import analyse_video

    t0, c0 = time.perf_counter(), time.process_time()
    r = analyse_video(model, path, policy=policy)
    return {"wall_s": round(time.perf_counter() - t0, 3),
            "cpu_s": round(time.process_time() - c0, 3), "stats": r.stats}, r


def speed_clip(model, faces: dict[str, np.ndarray], tmp: Path, duration: float,
               reference: bool = True) -> dict:
    from lookalike.video import TrackPolicy
    from lookalike.video.synth import render_clip, scenario, score_tracks

    apps, cuts = scenario(faces, duration)
    path = tmp / "speed.mp4"
    t0 = time.perf_counter()
    render_clip(path, apps, duration=duration, fps=30, size=(1280, 720), cuts=cuts)
    print(f"clip {duration:g} s 1280×720 30 fps written in {time.perf_counter() - t0:.1f} s "
          f"({path.stat().st_size / 2**20:.1f} MB, MPEG-4 part 2)")
    out = {"clip": {"seconds": duration, "size": [1280, 720], "fps": 30, "codec": "mp4v",
                    "people": list(faces), "appearances": len(apps),
                    "mb": round(path.stat().st_size / 2**20, 1)}}
    out["load_before"] = [round(v, 2) for v in os.getloadavg()]
    out["decode_only"] = decode_only(path, 10.0)
    out["lean"], lean = analyse(model, path)
    out["lean"]["score"] = score_tracks(lean.tracks, apps)
    if reference:
        out["every_frame"], full = analyse(model, path, TrackPolicy.reference())
        out["every_frame"]["score"] = score_tracks(full.tracks, apps)
    out["load_after"] = [round(v, 2) for v in os.getloadavg()]
    ref = out["decode_only"]["wall_s"]
    for k in ("lean", "every_frame")[: 2 if reference else 1]:
        s = out[k]
        s["x_decode_only_wall"] = round(s["wall_s"] / ref, 2)
        print(f"  {k:11s}: wall {s['wall_s']:.2f} s (×{s['x_decode_only_wall']} decode-only "
              f"{ref:.2f} s), CPU {s['cpu_s']:.2f} s, embeddings {s['stats']['embeddings']}, "
              f"detections {s['stats']['frames_detected']} (near faces "
              f"{s['stats']['frames_detected_near_faces']}) of {s['stats']['frames_examined']} "
              f"examined; per stage {s['stats']['seconds']}; tracks {summary(s['score'])}")
    return out


def summary(score: dict) -> str:
    return (f"{score['tracks']} for {score['appearances']} appearances: {score['found_once']} "
            f"found once, {score['duplicated']} duplicated, {score['missed']} missed, "
            f"{score['right']} right, {score['wrong']} wrong, {score['stray']} stray")


def accuracy_clips(model, val: dict[str, list[Path]], tmp: Path, n: int) -> list[dict]:
    from lookalike.video.synth import render_clip, scenario, score_tracks

    names = list(val)
    out = []
    for k in range(n):
        a, b = names[(2 * k) % len(names)], names[(2 * k + 1) % len(names)]
        faces = {a: load_rgb(val[a][k % len(val[a])]), b: load_rgb(val[b][(k + 1) % len(val[b])])}
        apps, cuts = scenario(faces, 30.0)
        path = render_clip(tmp / f"acc{k}.mp4", apps, duration=30.0, fps=25, size=(640, 360),
                           cuts=cuts, seed=10 + k)
        res, r = analyse(model, path)
        res["score"] = score_tracks(r.tracks, apps)
        res["people"] = [a, b]
        res["answers"] = [t.face.top.person for t in r.tracks]
        print(f"  clip {k} ({a} / {b}): {summary(res['score'])}")
        out.append(res)
    return out


def live_frames(faces: list[np.ndarray], n: int = 150) -> list[bytes]:
    """640×480 JPEG frames at 15 fps: the first face sways left and right, the second comes
    in after 4 s and stands still."""
    import cv2

    from lookalike.video.synth import _paste, background

    back = background((640, 480), 5)
    frames = []
    for i in range(n):
        t = i / 15
        f = back.copy()
        _paste(f, faces[0], 0.3 + 0.1 * np.sin(t), 0.5 + 0.03 * np.cos(2 * t), 0.5)
        if len(faces) > 1 and t >= 4:
            _paste(f, faces[1], 0.75, 0.5, 0.45)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 70])
        frames.append(buf.tobytes())
    return frames


def live(model_path: Path, faces: dict[str, np.ndarray], seconds: float, tmp: Path) -> dict:
    import httpx

    from bench.studies.web.bench_web import start_server, stop_server

    frames = live_frames(list(faces.values()))
    server, base, _ = start_server(model_path, tmp / "serve.log")
    delays, tops, ids = [], {}, set()
    try:
        with httpx.Client(timeout=30) as client:
            for f in frames[:5]:  # warm up (networks compiled for this frame size)
                client.post(f"{base}/api/live?session=warm", content=f,
                            headers={"content-type": "image/jpeg"})
            t_end = time.perf_counter() + seconds
            k = 0
            t_start = time.perf_counter()
            while time.perf_counter() < t_end:
                t0 = time.perf_counter()
                r = client.post(f"{base}/api/live?session=bench", content=frames[k % len(frames)],
                                headers={"content-type": "image/jpeg"})
                doc = r.json()
                delays.append(time.perf_counter() - t0)
                for tr in doc["tracks"]:
                    ids.add(tr["id"])
                    tops.setdefault(tr["id"], []).append(tr["face"]["ranking"][0]["person"])
                k += 1
            elapsed = time.perf_counter() - t_start
    finally:
        stop_server(server)
    ms = 1000 * np.array(delays)
    changes = {i: sum(a != b for a, b in zip(v[:-1], v[1:], strict=True))
               for i, v in tops.items()}
    truth = list(faces)
    right = [v[-1] == truth[min(n, len(truth) - 1)] for n, v in enumerate(tops.values())]
    out = {"frames": len(delays), "seconds": round(elapsed, 2),
           "answers_per_s": round(len(delays) / elapsed, 1),
           "delay_ms": {"p50": round(float(np.percentile(ms, 50)), 1),
                        "p95": round(float(np.percentile(ms, 95)), 1),
                        "max": round(float(ms.max()), 1)},
           "tracks": len(ids), "top_answer_changes": changes, "tracks_right": right,
           "frame": "640×480 JPEG q70, one request in flight, client on the same machine"}
    print(f"live: {out['answers_per_s']} answers/s, delay p50 {out['delay_ms']['p50']} ms "
          f"p95 {out['delay_ms']['p95']} ms; {len(ids)} tracks, top-answer changes {changes}")
    return out


def y4m_camera(path: Path, face: np.ndarray, seconds: float = 6.0, fps: int = 15) -> Path:
    """A Y4M file for Chromium's fake camera: ``face`` swaying at 640×480."""
    import cv2

    from lookalike.video.synth import _paste, background

    back = background((640, 480), 7)
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(int(seconds * fps)):
            frame = back.copy()
            _paste(frame, face, 0.45 + 0.1 * np.sin(i / fps), 0.5, 0.6)
            fh.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def page_live(model_path: Path, face: np.ndarray, seconds: float, tmp: Path) -> dict:
    """The page's live mode in headless Chromium (its fake camera playing ``face``): the
    answers per second and delay the page itself shows, and what it names."""
    from playwright.sync_api import sync_playwright

    from bench.studies.web.bench_web import start_server, stop_server

    chromium = os.environ.get("LOOKALIKE_CHROMIUM", "/usr/bin/chromium")
    cam = y4m_camera(tmp / "cam.y4m", face)
    server, base, _ = start_server(model_path, tmp / "serve-page.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={cam}"])
            page = browser.new_page()
            page.goto(base + "/")
            page.click("#cam-start")
            page.wait_for_selector("#live-start", state="visible", timeout=20_000)
            page.click("#live-start")
            page.wait_for_function("() => /answers\\/s/.test("
                                   "document.querySelector('#live-stats').textContent)",
                                   timeout=30_000)
            page.wait_for_timeout(int(seconds * 1000))
            stats = page.locator("#live-stats").inner_text()
            named = page.locator("#live-boxes").get_attribute("aria-label")
            browser.close()
    finally:
        stop_server(server)
    rate = float(stats.split("Live: ")[1].split(" answers/s")[0])
    delay = float(stats.split("delay ")[1].split(" ms")[0])
    out = {"answers_per_s": rate, "delay_ms_median_last_30": delay, "named": named,
           "how": "headless Chromium, fake camera 640×480, page's own figures"}
    print(f"page live: {rate} answers/s, delay {delay} ms (median of the last 30); {named}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=Path, default=None)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--live-seconds", type=float, default=20.0)
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the analysis that embeds every sampled frame")
    ap.add_argument("--name", default="video", help="bench/studies/video/results/NAME.json")
    ap.add_argument("--accuracy-clips", type=int, default=8)
    args = ap.parse_args()
    root = args.people or data_home() / "lfw7"
    if not (root / "train").is_dir() or not (root / "validation").is_dir():
        sys.exit(f"bench: {root} needs train/<person>/ and validation/<person>/ photo folders")
    from lookalike.models.train import train

    result: dict = {"machine": machine(), "people_dir": str(root)}
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp_:
        tmp = Path(tmp_)
        t0 = time.perf_counter()
        model, _ = train(root / "train", progress=False)
        model_path = model.save(tmp / "people.lookalike")
        print(f"model: {len(model.labels)} people from {root / 'train'} "
              f"({time.perf_counter() - t0:.1f} s)")
        val = people_photos(root / "validation")
        names = list(val)[:2]
        faces = {n: load_rgb(val[n][0]) for n in names}
        result["speed"] = speed_clip(model, faces, tmp, args.duration, not args.no_reference)
        result["accuracy"] = accuracy_clips(model, val, tmp, args.accuracy_clips)
        if not args.no_live:
            result["live"] = live(model_path, faces, args.live_seconds, tmp)
            if Path(os.environ.get("LOOKALIKE_CHROMIUM", "/usr/bin/chromium")).exists():
                result["page_live"] = page_live(model_path, faces[names[0]], 10.0, tmp)
    save(args.name, result)


if __name__ == "__main__":
    main()
