"""``lookalike compare PHOTO_A PHOTO_B [PHOTO_C ...]``: how alike are two faces, and is it the
same person? With more photos: which of B, C, ... the face in A resembles most (registered by
:mod:`lookalike.cli.main`)."""

from __future__ import annotations

import json
import sys

from lookalike.cli.output import print_comparison
from lookalike.cli.why_text import why_lines
from lookalike.errors import printable


def cmd_compare(args) -> int:
    """Exit 0 whatever the verdict; a photo without a face raises NoFaceError (exit 3), a file
    that is not a photo ImageError (exit 2): both one line naming the photo."""
    if args.more:
        return _compare_many(args)
    from lookalike.answer.comparison import compare

    names = (printable(args.photo_a), printable(args.photo_b))
    result = compare(args.photo_a, args.photo_b, embedder=args.embedder, names=names,
                     why=args.why)
    if args.card:
        from lookalike.pictures.compare_card import render_compare_card

        card = render_compare_card(result, args.card, sources=(args.photo_a, args.photo_b))
        print(f"Card: {card.path}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        print_comparison(result)
        for line in why_lines(result.why):
            print(line)
    return 0


def _compare_many(args) -> int:
    from lookalike.answer.explain import compare_many

    photos = [args.photo_a, args.photo_b, *args.more]
    names = [printable(p) for p in photos]
    result = compare_many(photos[0], photos[1:], embedder=args.embedder, names=names,
                          why=args.why)
    if args.card:
        from lookalike.answer.comparison import compare
        from lookalike.pictures.compare_card import render_compare_card

        best = photos[1 + names[1:].index(result.best.photo)]
        pair = compare(photos[0], best, embedder=args.embedder,
                       names=(names[0], result.best.photo), why=args.why)
        card = render_compare_card(pair, args.card, sources=(photos[0], best))
        print(f"Card: {card.path} ({names[0]} and the most alike, {result.best.photo})",
              file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return 0
    print(f"{result.photo} looks most like {result.best.photo}")
    width = max(len(c.photo) for c in result.candidates)
    for c in result.candidates:
        bar = "█" * round(c.share * 20)
        same = "" if c.same_person_probability is None else (
            f"  same person: {_pct(c.same_person_probability)}")
        print(f"  {c.photo:<{width}} {_pct(c.share):>8}  {bar:<20}  similarity "
              f"{c.similarity:.2f}{same}")
        for line in why_lines(c.why, indent="    "):
            print(line)
    print("  (percentages: how the resemblance divides among these photos; same person: "
          "each pair's calibrated probability)")
    return 0


def _pct(p: float) -> str:
    """A percentage that never claims a certainty the numbers do not give."""
    if p > 0.999:
        return ">99.9 %"
    return f"{100 * p:.1f} %" if p >= 0.001 else "<0.1 %"


def add_compare_parser(sub, embedders) -> None:
    c = sub.add_parser("compare", help="how alike are the faces in two photos, and is it the "
                       "same person? With more photos: which of B, C, ... A resembles most")
    c.add_argument("photo_a", metavar="PHOTO_A")
    c.add_argument("photo_b", metavar="PHOTO_B")
    c.add_argument("more", nargs="*", metavar="PHOTO_C",
                   help="more photos: which of B, C, ... the face in A resembles most")
    c.add_argument("--json", action="store_true")
    c.add_argument("--card", metavar="OUT.png",
                   help="also draw the two faces side by side with the similarity (PNG; with "
                   "more photos: A and the most alike)")
    c.add_argument("--why", action="store_true",
                   help="also say which parts of the faces make the likeness")
    c.add_argument("--embedder", default="sface", choices=embedders)
    c.set_defaults(func=cmd_compare)
