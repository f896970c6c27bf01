"""``lookalike group PHOTOS... -o OUT/`` and ``lookalike group name|merge|split OUT ...``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lookalike.cli.options import add_backend_option, add_cluster_arguments
from lookalike.errors import LookalikeError, printable

ACTIONS = {"name": "OUT ID NAME", "merge": "OUT ID ID [ID ...]", "split": "OUT ID"}


def cmd_group(args) -> int:
    first = args.photos[0]
    if first in ACTIONS and not Path(first).exists():
        return cmd_edit(first, args.photos[1:], args)
    if not args.output:
        raise LookalikeError("say where the groups go", fix="add -o OUT/ (a new or empty "
                             "folder, or one lookalike group wrote)")
    from lookalike.grouping.api import group

    t0 = time.perf_counter()
    result = group(args.photos, args.output, embedder=args.embedder, threshold=args.threshold,
                   algorithm=args.algorithm, cluster=args.cluster, ship=args.ship,
                   copy=args.copy, progress=not args.quiet, crops=args.crops)
    seconds = time.perf_counter() - t0
    page = None
    if args.report:
        from lookalike.grouping.report import write_group_report

        page = write_group_report(result, args.report)
        print(f"Grouping report: {page}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict() | {"out": str(args.output)}, ensure_ascii=False,
                         indent=1))
        return 0
    return print_grouping(result, args.output, seconds)


def print_grouping(result, out: str | Path, seconds: float) -> int:
    faces = sum(len(g.faces) for g in result.groups) + len(result.unsorted)
    named = [g for g in result.groups if g.name]
    print(f"{faces} faces in {len(result.groups)} groups ({len(named)} named) and "
          f"{len(result.unsorted)} unsorted, in {seconds:.1f} s; threshold "
          f"{result.threshold:.3f} ({result.algorithm}). Written to {printable(out)}/groups.json.")
    for g in sorted(result.groups, key=lambda g: -len(g.faces))[:20]:
        unsure = sum(f.unsure for f in g.faces)
        print(f"  {g.id:>4}  {printable(g.folder):<28} {len(g.faces):>5} faces  tightness "
              f"{g.tightness:.2f}" + (f"  ({unsure} unsure)" if unsure else ""))
    if len(result.groups) > 20:
        print(f"  … and {len(result.groups) - 20} smaller groups")
    for p, why in result.skipped[:10]:
        print(f"  skipped {printable(p)}: {why}", file=sys.stderr)
    if len(result.skipped) > 10:
        print(f"  … and {len(result.skipped) - 10} more skipped", file=sys.stderr)
    for w in result.warnings:
        print(f"lookalike: warning: {w}", file=sys.stderr)
    if result.groups and not named:
        g = max(result.groups, key=lambda g: len(g.faces))
        print(f'Name a group: lookalike group name {printable(out)} {g.id} "Jane Doe"; then '
              f"lookalike train {printable(out)} -o people.lookalike uses the named groups.")
    return 0


def _int(text: str, out: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise LookalikeError(f"{text!r} is not a group id", out,
                             "group ids are the numbers in groups.json / the summary") from None


def cmd_edit(action: str, rest: list[str], args) -> int:
    """``name OUT ID NAME``, ``merge OUT ID ID...``, ``split OUT ID``."""
    from lookalike.grouping import edit

    usage = f"lookalike group {action} {ACTIONS[action]}"
    want = {"name": 3, "split": 2}.get(action)
    if (want is not None and len(rest) != want) or (action == "merge" and len(rest) < 3):
        raise LookalikeError(f"{action} takes {ACTIONS[action]}", fix=f"e.g. {usage}")
    out = rest[0]
    if action == "name":
        g = edit.name_group(out, _int(rest[1], out), rest[2], copy=args.copy)
        print(f"Group {g.id} is {printable(g.name)} ({len(g.faces)} faces): "
              f"{printable(out)}/{printable(g.folder)}/")
    elif action == "merge":
        g = edit.merge_groups(out, [_int(t, out) for t in rest[1:]], copy=args.copy)
        print(f"Merged into group {g.id} ({len(g.faces)} faces, tightness {g.tightness:.2f}).")
    else:
        a, b = edit.split_group(out, _int(rest[1], out), copy=args.copy)
        print(f"Group {a.id} split: {len(a.faces)} faces stay in group {a.id}, "
              f"{len(b.faces)} went to the new group {b.id}.")
    return 0


def add_group_parser(sub) -> None:
    from lookalike.face.embedders import EMBEDDERS
    from lookalike.grouping.model import ALGORITHM_NAMES, DEFAULT_ALGORITHM

    g = sub.add_parser(
        "group", help="who is in these photos? group the faces of unlabelled photos into "
        "people (then: group name|merge|split OUT ...)",
        description="lookalike group PHOTOS_OR_FOLDERS... -o OUT/ groups every face into "
        "people; lookalike group name OUT ID NAME, group merge OUT ID ID..., group split OUT "
        "ID edit the groups. Named groups are people for `lookalike train OUT/` and "
        "`lookalike gallery add G OUT/`.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("photos", nargs="+", metavar="PHOTO_OR_FOLDER")
    g.add_argument("-o", "--output", metavar="OUT", help="folder for groups.json and one "
                   "folder per group (new, empty, or one this command wrote: new photos are "
                   "then added to its groups)")
    g.add_argument("--copy", action="store_true", help="copy photos into the group folders "
                   "(default: symbolic links)")
    g.add_argument("--report", metavar="OUT_DIR", help="also write an HTML report: each "
                   "group as a strip of faces")
    g.add_argument("--threshold", type=float, default=None, help="cosine similarity that "
                   "counts as the same person (default: the embedder's)")
    g.add_argument("--algorithm", choices=ALGORITHM_NAMES, default=DEFAULT_ALGORITHM)
    g.add_argument("--embedder", default="sface", choices=EMBEDDERS)
    g.add_argument("--crops", action="store_true",
                   help="photos are face crops: use the whole image when no face is detected")
    g.add_argument("--json", action="store_true", help="print groups.json's content")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_backend_option(g)
    add_cluster_arguments(g)
    g.set_defaults(func=cmd_group)
