"""Text lines of "why do they look alike?" (``--why``) for the terminal."""

from __future__ import annotations

import sys

from lookalike.names import display_name


def why_lines(why, indent: str = "  ") -> list[str]:
    """The sentence, then each part's share as a bar."""
    if why is None:
        return []
    if not why.available:
        return [f"{indent}why: {why.note}"]
    lines = [f"{indent}why: {why.sentence}"]
    width = max((len(p.part) for p in why.parts), default=0)
    for p in why.parts:
        bar = "█" * round(p.share * 20)
        if why.method == "contribution":
            said = f"{p.drop:+.3f} of the similarity (against the face's average)"
        else:
            said = f"similarity −{max(p.drop, 0.0):.3f} when hidden"
        lines.append(f"{indent}  {p.part:<{width}} {100 * p.share:5.1f} %  {bar:<20}  {said}")
    return lines


def print_result_whys(result, top: int | None, out=None) -> None:
    """For each face of a predict / search answer: why it looks like each explained match."""
    out = out or sys.stdout
    if not result.ok:
        return
    many = len(result.faces) > 1
    for k, fr in enumerate(result.faces, 1):
        for m in fr.ranking[:top]:
            if m.why is None:
                continue
            face = f"face {k}: " if many else ""
            print(f"  {face}{display_name(m.person)}", file=out)
            for line in why_lines(m.why, indent="    "):
                print(line, file=out)
    print(file=out)
