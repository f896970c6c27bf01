"""``lookalike predict MODEL clip.mp4``: the video part of predict — telling videos from photos
among its inputs, answering each video (tracks), printing, ``--json`` and ``--card``."""

from __future__ import annotations

import sys
from pathlib import Path

from lookalike.cli.output import _unknown_line, ranking_table
from lookalike.errors import ImageError, printable
from lookalike.names import display_name


def split_videos(paths: list[str]) -> tuple[list[str], list[str]]:
    """(photos, videos) among ``paths``, by content (a video named .jpg is a video, a photo
    named .mp4 a photo)."""
    from lookalike.video.reader import is_video

    photos, videos = [], []
    for p in paths:
        (videos if is_video(p) else photos).append(p)
    return photos, videos


def cmd_predict_mixed(model, photos: list[str], videos: list[str], empty: list[str], args
                      ) -> int:
    """predict with videos among the inputs (photos too, answered as without videos)."""
    import json

    from lookalike.answer.ranking import PhotoResult
    from lookalike.cli.output import print_photo, print_verdict, report_failed

    results, verdict = [], None
    if photos:
        results, verdict = model.predict_many(photos, all_faces=args.all_faces,
                                              together=args.together,
                                              names=[printable(p) for p in photos],
                                              progress=not args.quiet)
    results += [PhotoResult(printable(f), [], None, f"{printable(f)}: no photos or videos in "
                            "this folder") for f in empty]
    clips = predict_videos(model, videos, args)
    if args.card:
        card = video_card(model, clips, args.card, args.top, results,
                          [*photos, *[None] * len(empty)])
        if card is not None:
            print(f"Card: {card.path}", file=sys.stderr)
    if args.json:
        doc: dict = {"model": str(args.model)}
        if results:
            doc["photos"] = [r.to_dict(args.top) for r in results]
        doc["videos"] = [c.to_dict(args.top) for c in clips]
        if args.together and photos:
            doc["verdict"] = verdict.to_dict(args.top) if verdict else None
        from lookalike.schema import stamp

        print(json.dumps(stamp("predict", doc), ensure_ascii=False, indent=1))
    else:
        for r in results:
            print_photo(r, args.top, model.threshold)
        if args.together and photos:
            print_verdict(verdict, args.top)
        for c in clips:
            print_video(c, args.top, model.threshold)
    failed = [r for r in results if not r.ok]
    failed += [PhotoResult(c.video, [], None, c.error) for c in clips if not c.ok]
    return report_failed(failed)


def predict_videos(model, videos: list[str], args) -> list:
    """Each video's :class:`VideoResult` (an unreadable one: a result with ``error``)."""
    from lookalike.video import VideoResult, analyse_video

    out = []
    for v in videos:
        try:
            out.append(analyse_video(model, v, name=printable(v), sample_fps=args.sample_fps,
                                     max_duration=args.max_duration or None,
                                     progress=not args.json, keep_frames=bool(args.card)))
        except ImageError as err:
            out.append(VideoResult(printable(v), None, None, (0, 0), 0, [], {}, str(err)))
    return out


def _clock(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def print_video(result, top, threshold, out=None) -> None:
    out = out or sys.stdout
    if result.error:
        return  # said once, on stderr, by report_failed
    w, h = result.size
    fps = f", {result.fps:g} fps" if result.fps else ""
    dur = f"{_clock(result.duration)}" if result.duration else "?"
    people = {t.face.top.person for t in result.tracks if not t.face.unknown}
    print(f"{result.video} — {dur}{fps}, {w}×{h}: {len(result.tracks)} appearance(s) of "
          f"{len(people)} known people", file=out)
    if result.stats.get("truncated"):
        print(f"  (analysed the first {_clock(result.stats['analysed_seconds'])} only: "
              "--max-duration)", file=out)
    for t in result.tracks:
        print(f"  track {t.id}: {_clock(t.start)}–{_clock(t.end)}, best view at "
              f"{_clock(t.best_time)} (frame {t.best_index}), {t.n_answers} view(s) answered: "
              f"{display_name(t.face.top.person)}", file=out)
        for line in ranking_table(t.face.ranking, top):
            print("  " + line, file=out)
        if t.face.unknown:
            print("  " + _unknown_line(t.face, threshold), file=out)
    print(file=out)


def video_card(model, clips: list, out: str | Path, top: int | None,
               results: list | None = None, sources: list | None = None):
    """One look-alike card: the photos' rows (``results`` from ``sources``), then a row per
    track: its best frame, the face, the fused answer. None when there is nothing to draw."""
    import cv2

    from lookalike.answer.ranking import PhotoResult
    from lookalike.pictures.cards import render_card

    rows, srcs = list(results or []), list(sources or [])
    for c in clips:
        for t in c.tracks:
            if t.best_rgb is None:
                continue
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(t.best_rgb, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, 90])
            name = (f"{Path(c.video).name} · track {t.id}, {_clock(t.start)}–{_clock(t.end)}"
                    f" (best view {_clock(t.best_time)})")
            rows.append(PhotoResult(name, [t.face], (t.best_rgb.shape[1], t.best_rgb.shape[0])))
            srcs.append(buf.tobytes())
    if not rows:
        return None
    return render_card(model, rows, out, sources=srcs, top=top)


def add_video_arguments(parser) -> None:
    from lookalike.video.reader import MAX_DURATION, SAMPLE_FPS

    parser.add_argument("--sample-fps", type=float, default=SAMPLE_FPS, metavar="N",
                        help=f"videos: look at N frames per second at most (default "
                        f"{SAMPLE_FPS:g}; 0: every frame)")
    parser.add_argument("--max-duration", type=float, default=MAX_DURATION, metavar="S",
                        help=f"videos: refuse clips longer than S seconds (default "
                        f"{MAX_DURATION:g}; 0: no limit)")
