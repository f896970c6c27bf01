"""The walk of one photo through ``lookalike predict`` (issue 22): which of the project's
modules a warm ``predict MODEL PHOTO --json`` enters, in order, and how often.

A profile hook records every call whose code lies in ``lookalike`` and whose caller's module
is another one (an *entry*): the walk is the sequence of modules entered, consecutive repeats
merged. The photo is answered once first (models loaded, networks compiled, imports done), so
the walk is the per-photo path, not start-up. The sources measured are those imported
(``PYTHONPATH=<a checkout>/src``).

Usage:
``python -m bench.studies.speed.walk_predict MODEL PHOTO [--card OUT.png] [--cli] [--calls]
[--overhead N]``; prints the walk and the count of entries per module (``--cli``: the whole
command, start-up included; ``--calls``: also each entry, caller → callee function, in order;
``--overhead N``: also the Python calls per photo, and the CPU time of N warm answers against
the bare face networks on the same photo, measured in the same run).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("LOOKALIKE_PROGRESS", "0")
os.environ.setdefault("LOOKALIKE_NO_CACHE", "1")


def module_of(frame) -> str | None:
    name = frame.f_globals.get("__name__", "")
    return name if name.startswith("lookalike") else None


def walk(argv: list[str], photo: str | None = None, card: str | None = None,
         calls: list[str] | None = None) -> tuple[list[str], Counter]:
    """The walk of the CLI run ``argv`` (start-up included: parser, model file), or with
    ``photo``, of one photo's answer as the CLI makes it (``predict_many`` → card →
    ``to_dict``), the model loaded before. ``calls`` receives each entry as
    "caller.function → module.function"."""
    from lookalike.cli.main import main

    entries: list[str] = []
    counts: Counter = Counter()
    if photo is not None:
        import lookalike
        from lookalike.pictures.cards import render_card

        model = lookalike.load(argv[1])

        def main(_argv):  # noqa: F811 - one photo, as cmd_predict answers it
            try:
                results, _ = model.predict_many([photo], keep_images=bool(card))
            except TypeError:  # sources before issue 22: no keep_images
                results, _ = model.predict_many([photo])
            if card:
                render_card(model, results, card)
            return [r.to_dict() for r in results]

    def hook(frame, event, arg):
        if event != "call":
            return
        mod = module_of(frame)
        if mod is None:
            return
        back = frame.f_back
        caller = module_of(back) if back is not None else None
        if caller != mod:
            counts[mod] += 1
            if calls is not None:
                where = f"{caller}.{back.f_code.co_name}" if caller else "(outside)"
                calls.append(f"{where} → {mod}.{frame.f_code.co_name}")
            if not entries or entries[-1] != mod:
                entries.append(mod)

    with contextlib.redirect_stdout(io.StringIO()):
        main(argv)  # warm: imports, model, compiled shapes
        sys.setprofile(hook)
        try:
            main(argv)
        finally:
            sys.setprofile(None)
    return entries, counts


def overhead(model_path: str, photo: str, n: int) -> dict:
    """Per warm photo: Python function calls (all, and in ``lookalike``), and CPU ms
    (``time.process_time``) of the answer as :func:`walk` makes it against the reference, the
    face networks alone on the same decoded photo (``detector.find`` + ``embedder.embed`` of
    the first face), interleaved in the same run."""
    import time

    import lookalike
    from lookalike.photos.images import decode_photo

    model = lookalike.load(model_path)
    pipe = model.pipeline

    def answer():
        results, _ = model.predict_many([photo])
        return [r.to_dict() for r in results]

    rgb, _ = decode_photo(Path(photo).read_bytes())

    def reference():
        faces = pipe.detector.find(rgb)
        return pipe.embedder.embed(rgb, faces[:1])

    answer(), reference()  # warm
    calls = Counter()

    def hook(frame, event, arg):
        if event == "call":
            calls["all"] += 1
            if module_of(frame):
                calls["lookalike"] += 1

    sys.setprofile(hook)
    try:
        answer()
    finally:
        sys.setprofile(None)
    cpu = {"answer": 0.0, "reference": 0.0}
    for _ in range(n):
        for name, fn in (("answer", answer), ("reference", reference)):
            t = time.process_time()
            fn()
            cpu[name] += time.process_time() - t
    a, r = cpu["answer"] / n * 1e3, cpu["reference"] / n * 1e3
    return {"python_calls": calls["all"], "lookalike_calls": calls["lookalike"],
            "answer_cpu_ms": round(a, 2), "networks_cpu_ms": round(r, 2),
            "ratio": round(a / r, 3), "rest_cpu_ms": round(a - r, 2), "photos": n,
            "load": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("photo")
    ap.add_argument("--card")
    ap.add_argument("--cli", action="store_true",
                    help="the whole CLI run (parser, model file) instead of one photo's answer")
    ap.add_argument("--calls", action="store_true", help="also list every entry, in order")
    ap.add_argument("--overhead", type=int, metavar="N",
                    help="also time N warm answers against the bare networks (CPU time)")
    args = ap.parse_args()
    argv = ["predict", args.model, args.photo, "--json"]
    if args.card:
        argv += ["--card", args.card]
    calls: list[str] | None = [] if args.calls else None
    entries, counts = walk(argv, None if args.cli else args.photo, args.card, calls)
    import lookalike

    print(f"sources: {lookalike.__file__}")
    print(f"walk ({len(entries)} module entries, {len(counts)} modules):")
    print("  " + " → ".join(m.removeprefix("lookalike.") for m in entries))
    print("entries per module (calls from another module):")
    for m, n in counts.most_common():
        print(f"  {n:4d}  {m}")
    if args.overhead:
        print(f"overhead: {overhead(args.model, args.photo, args.overhead)}")
    if calls is not None:
        print("entries, in order (caller → callee):")
        for c in calls:
            print("  " + c.replace("lookalike.", ""))


if __name__ == "__main__":
    main()
