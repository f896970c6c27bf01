"""``lookalike compare PHOTO_A PHOTO_B``: how alike are two faces, and is it the same person?
(registered by :mod:`lookalike.cli.main`)."""

from __future__ import annotations

import json
import sys

from ..errors import printable
from .output import print_comparison


def cmd_compare(args) -> int:
    """Exit 0 whatever the verdict; a photo without a face raises NoFaceError (exit 3), a file
    that is not a photo ImageError (exit 2): both one line naming the photo."""
    from ..comparison import compare

    names = (printable(args.photo_a), printable(args.photo_b))
    result = compare(args.photo_a, args.photo_b, embedder=args.embedder, names=names)
    if args.card:
        from ..compare_card import render_compare_card

        card = render_compare_card(result, args.card, sources=(args.photo_a, args.photo_b))
        print(f"Card: {card.path}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        print_comparison(result)
    return 0


def add_compare_parser(sub, embedders) -> None:
    c = sub.add_parser("compare", help="how alike are the faces in two photos, and is it the "
                       "same person?")
    c.add_argument("photo_a", metavar="PHOTO_A")
    c.add_argument("photo_b", metavar="PHOTO_B")
    c.add_argument("--json", action="store_true")
    c.add_argument("--card", metavar="OUT.png",
                   help="also draw the two faces side by side with the similarity (PNG)")
    c.add_argument("--embedder", default="sface", choices=embedders)
    c.set_defaults(func=cmd_compare)
