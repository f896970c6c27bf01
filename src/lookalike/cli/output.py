"""Everything the ``lookalike`` command prints: rankings as tables, verdicts, training and
evaluation summaries, skipped photos, and the one-line errors of photos without an answer.
The only module of the package that formats for a terminal."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

from lookalike.errors import LookalikeError, NoFaceError, printable
from lookalike.names import display_name

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
    name_w = max((_width(display_name(m.person)) for m in rows), default=0)
    lines = []
    for m in rows:
        bar = "█" * round(m.probability * BAR_WIDTH)
        sim = f"  similarity {m.similarity:.2f}" if m.similarity is not None else ""
        lines.append(f"  {_rjust(display_name(m.person), name_w)} "
                     f"{_rjust(_pct(m.probability), 9)}  "
                     f"{bar:<{BAR_WIDTH}}{sim}")
    if top and len(ranking) > top:
        rest = sum(m.probability for m in ranking[top:])
        lines.append(f"  {_rjust(f'({len(ranking) - top} more)', name_w)} "
                     f"{_rjust(_pct(rest), 9)}")
    return lines


def _unknown_line(face, threshold: float | None) -> str:
    t = f" < threshold {threshold:.2f}" if threshold is not None else ""
    return (f"  → none of these: the closest photo ({display_name(face.top.person)}) has "
            "similarity "
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
    if result.error or not result.faces:
        return  # said once, on stderr, by report_failed
    n = max(result.n_faces or 0, len(result.faces))
    for k, fr in enumerate(result.faces, 1):
        x, y, w, h = (round(v) for v in fr.face.box)
        index = k if fr.index is None else fr.index + 1
        where = f" — face {index} of {n} at ({x}, {y}), {w}×{h}" if n > 1 else ""
        if n > 1 and fr.chosen_by:
            where += f"; the answer, by {fr.chosen_by}"
        print(f"{photo}{where}", file=out)
        for line in ranking_table(fr.ranking, top):
            print(line, file=out)
        if fr.unknown:
            print(_unknown_line(fr, threshold), file=out)
    print(file=out)


def info(msg: str) -> None:
    """A progress or status line, on stderr (stdout holds the answer)."""
    print(msg, file=sys.stderr)


def print_train_summary(model, report, out: Path, seconds: float) -> None:
    m = report.metrics
    print(f"Learned {len(report.people)} people from {m['train_photos']} photos "
          f"in {seconds:.1f} s ({model.manifest['embedder']['name']} + "
          f"{model.manifest['head']['type']} head).")
    if len(report.people) <= 15:
        name_w = max((_width(display_name(p)) for p in report.people), default=6)
        print(f"  {'person':<{name_w}}  train  validation")
        for p in report.people:
            s = report.split[p]
            print(f"  {_rjust(display_name(p), name_w)}  {s['train']:5d}  "
                  f"{s['validation']:10d}")
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
    print_problems(report.skipped, report.ambiguous, report.warnings, "see `lookalike info`",
                   distrusted=getattr(report, "distrusted", ()))
    print(f"Saved {out}")


def print_problems(skipped, ambiguous=(), warnings_=(), more: str = "--json lists all",
                   limit: int = 50, distrusted=()) -> None:
    """The photos that were skipped (and why), ambiguous face choices, the training photos
    the model distrusts, and warnings."""
    for title, rows in ((f"Skipped {len(skipped)} file(s):", skipped),
                        (f"Ambiguous face choice in {len(ambiguous)} photo(s):", ambiguous),
                        (f"Distrusted {len(distrusted)} training photo(s):", distrusted)):
        if rows:
            print(title)
            for path, why in rows[:limit]:
                print(f"  {printable(path)}: {' '.join(str(why).splitlines())}")
            if len(rows) > limit:
                print(f"  … and {len(rows) - limit} more ({more})")
    for w in warnings_:
        print(f"warning: {w}")


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
    votes = ", ".join(f"{n} of {verdict.n_used} say {display_name(p)}"
                      for p, n in verdict.votes.items())
    print(f"Together ({verdict.n_used} of {verdict.n_photos} photos with a face): "
          f"{display_name(verdict.person)} — {votes}")
    for line in ranking_table(verdict.ranking, top):
        print(line)
    if verdict.unknown:
        print("  → most photos are 'none of these': the ranking says whom they resemble most")




def print_evaluation(res: dict, data: str | Path) -> int:
    """The evaluation's summary: accuracy, per-person precision and recall, the wrong answers;
    the exit code (1 when nothing could be scored)."""
    if res["n"] == 0:
        print(f"No photo of a known person with a face in {data}.")
        return 1
    print(f"Accuracy {res['accuracy']:.1%}  top-3 {res['top3_accuracy']:.1%}  on {res['n']} "
          f"photos (ECE {res['ece']:.3f}, 'none of these' {res['unknown_rate']:.1%})")
    if res["no_face"] or res["unreadable"]:
        print(f"Not scored: {res['no_face']} without a face, {res['unreadable']} unreadable")
    if res["unknown_people"]:
        print("People the model does not know (not scored): "
              + ", ".join(f"{display_name(p)} ({n})" for p, n in res["unknown_people"].items()))
    name_w = max(_width(display_name(p)) for p in res["per_person"])
    print(f"  {'person':<{name_w}}  precision  recall     F1    n")
    for p, s in res["per_person"].items():
        print(f"  {_rjust(display_name(p), name_w)}  {s['precision']:9.1%} {s['recall']:7.1%} "
              f"{s['f1']:6.1%} {s['n']:4d}")
    for r in res["misclassified"][:15]:
        other = r.get("other_face")
        why = (f"; {display_name(r['person'])} is face {other['rank']} of {other['of']} in "
               "this photo: a face-choice error" if other else "")
        print(f"  wrong: {r['photo']}: {display_name(r['predicted'])} {r['probability']:.0%} "
              f"(true {display_name(r['person'])} {r['true_probability']:.0%}{why})")
    if "report" in res:
        print(f"Report: {res['report']}")
    return 0


def print_article_summary(report, cfg, preset: str, seconds: float, curves: Path | None,
                          out: Path) -> None:
    """The article recipe's training summary."""
    m = report.metrics
    print(f"Learned {len(report.people)} people from {m['train_photos']} photos in "
          f"{seconds:.1f} s ({cfg.backbone}, {m['updates']} updates, preset {preset}, "
          f"augmentation {'on' if cfg.augment else 'off'}).")
    if m.get("validation_photos"):
        print(f"Validation: accuracy {m['accuracy']:.1%} (best epoch {m['best_epoch']}: "
              f"{m['best_val_accuracy']:.1%}), top-3 {m['top3_accuracy']:.1%} on "
              f"{m['validation_photos']} photos; calibration error (ECE) {m['ece']:.3f}")
    print(f"Training accuracy re-scored in inference mode: {m['train_accuracy']:.1%}")
    print_problems(report.skipped, (), report.warnings)
    if curves:
        print(f"Curves: {curves}")
    print(f"Saved {out}")


def print_comparison(result) -> None:
    """``lookalike compare``'s answer: the similarity, the verdict, the probability."""
    a, b = result.photos
    print(f"{a}  ↔  {b}")
    verdict = "yes" if result.same_person else "no"
    print(f"  similarity {result.similarity:.2f}   same person: {verdict} "
          f"(threshold {result.threshold:.2f})")
    if result.probability is not None:
        p = result.probability
        shown = ">99.99 %" if p > 0.9999 else _pct(p)  # never a false certainty
        source = "LFW and web-photo pairs" if result.embedder == "sface" else "LFW pairs"
        print(f"  probability of the same person: {shown} (calibrated on {source})")
    for name, n in zip(result.photos, result.n_faces, strict=True):
        if n > 1:
            print(f"  {name}: {n} faces; compared the most prominent (`lookalike predict "
                  "--all-faces --card` shows them)")
