"""``lookalike gallery create|add|remove|list|search|check``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from lookalike.cli.output import print_photo, print_problems, report_failed
from lookalike.cli.why_text import print_result_whys
from lookalike.names import display_name
from lookalike.schema import stamp


def gallery_spec(args) -> str:
    """The gallery's folder, or with ``--db URI`` the database URI plus ``#name``."""
    db = args.db or os.environ.get("LOOKALIKE_DB")
    if db:
        base = db.split("#", 1)[0]
        return f"{base}#{args.gallery}"
    return args.gallery


def cmd_create(args) -> int:
    from lookalike.models.gallery import Gallery

    if args.source:
        return cmd_create_from(args)
    g = Gallery.create(gallery_spec(args), embedder=args.embedder, crops=args.crops)
    print(f"Created gallery {g.spec} (embedder {g.manifest['embedder']['name']}, "
          f"same-person threshold {g.threshold:.2f}).")
    g.close()
    return 0


def cmd_add(args) -> int:
    from lookalike.models.gallery import Gallery

    g = Gallery.open(gallery_spec(args))
    try:
        rep = g.add_folder(args.folder, person=args.person, workers=args.workers,
                           progress=not args.quiet, cluster=args.cluster, ship=args.ship)
        people = g.people()
    finally:
        g.close()
    return _print_enrolment(args, g.spec, rep, people)


def _print_enrolment(args, spec: str, rep, people, source: str | None = None) -> int:
    """What `gallery add` and `gallery create --from` print: JSON, or the summary lines."""
    if args.json:
        print(json.dumps(stamp("enrolment", rep.to_dict() | {"gallery": spec}),
                         ensure_ascii=False))
        return 0
    rate = rep.added / rep.seconds if rep.seconds > 0 else 0.0
    print(f"Enrolled {rep.added} photo(s) of {len(rep.people)} people"
          + (f" from {source}" if source else "")
          + f" in {rep.seconds:.1f} s ({rate:.1f} photos/s); {rep.already} already in the "
          "gallery.")
    print(f"Gallery {spec}: {len(people)} people, {sum(n for _, n in people)} photos."
          + (f" Search it: lookalike gallery search {spec} PHOTO (or lookalike serve {spec})."
             if source else ""))
    print_problems(rep.skipped, rep.ambiguous)
    return 0


def cmd_create_from(args) -> int:
    """``gallery create G --from lfw``: a public-figure gallery in one command."""
    from lookalike.models.gallery.public import create_from

    g, rep = create_from(gallery_spec(args), args.source, data_home=args.data_home,
                         download=args.download, people=args.people, embedder=args.embedder,
                         crops=args.crops, progress=not args.quiet, cluster=args.cluster,
                         ship=args.ship)
    try:
        people = g.people()
    finally:
        g.close()
    return _print_enrolment(args, g.spec, rep, people, source=args.source)


def cmd_remove(args) -> int:
    from lookalike.models.gallery import Gallery

    g = Gallery.open(gallery_spec(args))
    try:
        n = g.remove(args.person, purge_cache=not args.keep_cache)
    finally:
        g.close()
    print(f"Removed {args.person}: {n} photo(s), their embeddings, thumbnails and index "
          "entries.")
    return 0


def cmd_list(args) -> int:
    from lookalike.models.gallery import Gallery

    g = Gallery.open(gallery_spec(args))
    try:
        people = g.people()
        desc = g.describe()
    finally:
        g.close()
    if args.json:
        print(json.dumps(stamp("gallery-list", desc | {
            "list": [{"person": p, "photos": n} for p, n in people]}), ensure_ascii=False,
            indent=1))
        return 0
    print(f"{desc['gallery']}: {desc['people']} people, {desc['photos']} photos "
          f"(embedder {desc['embedder']['name']}, index {desc['index']})")
    for p, n in people:
        print(f"  {p}  {n}")
    return 0


def cmd_search(args) -> int:
    from lookalike.answer.ranking import PhotoResult
    from lookalike.errors import ImageError, printable
    from lookalike.models.gallery import Gallery

    g = Gallery.open(gallery_spec(args))
    results = []
    try:
        for p in args.photos:
            try:
                results.append(g.predict(p, top=args.top, all_faces=args.all_faces,
                                        name=printable(p)))
                if args.why:
                    from lookalike.answer.explain import explain_result

                    explain_result(g, p, results[-1], top=args.top)
            except ImageError as err:
                results.append(PhotoResult(printable(p), [], None, str(err)))
    finally:
        g.close()
    if args.json:
        print(json.dumps(stamp("gallery-search", {
            "model": g.spec, "gallery": g.spec,
            "photos": [r.to_dict(args.top) for r in results]}), ensure_ascii=False, indent=1))
    else:
        for r in results:
            print_photo(r, args.top, g.threshold, out=sys.stdout)
            for fr in r.faces:
                best = [f"{display_name(m.person)}: {m.photo} ({m.similarity:.2f})"
                        for m in fr.ranking[:args.top] if m.photo]
                if best:
                    print("  closest photos: " + "; ".join(best))
            if args.why:
                print_result_whys(r, args.top)
    return report_failed([r for r in results if not r.ok])


def cmd_check(args) -> int:
    from lookalike.models.gallery import Gallery

    g = Gallery.open(gallery_spec(args))
    try:
        problems = g.check(repair=args.repair)
    finally:
        g.close()
    if not problems:
        print(f"{g.spec}: ok" + (" (index rebuilt)" if args.repair else ""))
        return 0
    for p in problems:
        print(f"{g.spec}: {p}")
    if args.repair:
        print("index rebuilt from the database" if not any(p.startswith("database")
                                                          for p in problems)
              else "the database itself is damaged: re-create the gallery")
    return 1


def _enrolment_options(p) -> None:
    """What `gallery create` and `gallery add` both take: output, progress, runtime, cluster."""
    from lookalike.cli.options import add_backend_option, add_cluster_arguments

    p.add_argument("--json", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_backend_option(p)
    add_cluster_arguments(p)


def add_gallery_parser(sub) -> None:
    from lookalike.cli.options import add_backend_option
    from lookalike.face.embedders import EMBEDDERS

    g = sub.add_parser("gallery", help="a searchable gallery of people: add and remove people "
                       "without retraining")
    gs = g.add_subparsers(dest="gallery_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("gallery", help="gallery folder (or its name with --db)")
        p.add_argument("--db", metavar="URI", help="keep the gallery in PostgreSQL with pgvector "
                       "(postgresql://…; default $LOOKALIKE_DB)")

    c = gs.add_parser("create", help="create an empty gallery")
    common(c)
    c.add_argument("--embedder", default="sface", choices=EMBEDDERS)
    c.add_argument("--crops", action="store_true",
                   help="photos are face crops: use the whole image when no face is detected")
    c.add_argument("--from", dest="source", choices=("lfw",),
                   help="enrol a public set of faces: lfw = Labeled Faces in the Wild, 13,233 "
                   "photos of 5,749 public figures (scikit-learn's copy; ~6 min on 2 cores)")
    c.add_argument("--data-home", metavar="DIR", help="with --from: the folder holding "
                   "lfw_home/ (default: where `lookalike demo` looks, e.g. scikit-learn's)")
    c.add_argument("--download", action="store_true",
                   help="with --from: fetch it with scikit-learn's loader when missing (online)")
    c.add_argument("--people", type=int, default=0, metavar="N",
                   help="with --from: only the first N people by name (a quick try)")
    _enrolment_options(c)
    c.set_defaults(func=cmd_create)

    a = gs.add_parser("add", help="enrol DIR/<person>/* (or DIR's photos with --person)")
    common(a)
    a.add_argument("folder")
    a.add_argument("--person", help="all photos below FOLDER are of this person")
    a.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    _enrolment_options(a)
    a.set_defaults(func=cmd_add)

    r = gs.add_parser("remove", help="delete every trace of a person")
    common(r)
    r.add_argument("person")
    r.add_argument("--keep-cache", action="store_true",
                   help="do not purge their photos from the local embedding cache")
    r.set_defaults(func=cmd_remove)

    s = gs.add_parser("list", help="people and photo counts")
    common(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    q = gs.add_parser("search", help="rank whom the face in each photo looks like")
    common(q)
    q.add_argument("photos", nargs="+")
    q.add_argument("--top", type=int, default=5)
    q.add_argument("--all-faces", action="store_true")
    q.add_argument("--json", action="store_true")
    q.add_argument("--why", action="store_true", help="also say which parts of the face "
                   "make the likeness to each match shown")
    add_backend_option(q)
    q.set_defaults(func=cmd_search)

    k = gs.add_parser("check", help="verify checksums and consistency (--repair rebuilds the "
                      "index)")
    common(k)
    k.add_argument("--repair", action="store_true")
    k.set_defaults(func=cmd_check)
