"""The article recipe across the fixed LFW sets of article_sets.json (issue 16): mean,
standard deviation and worst set over sets × seeds, beside the face-embedding model.

    nice -n 19 python -m bench.studies.article.bench_article_sets [--configs embedding,improved]
        [--sets set1,...] [--seeds 0,1,2] [--no-start-after HH:MM] [--kill-at HH:MM]
        [--results PATH] [--retry-errors] [--table] [--markdown]

Every row is one ``lookalike train SET --json -q`` process, the path a user takes (the
console script of this interpreter, with this checkout's ``src`` first on PYTHONPATH):
``--recipe article`` plus the configuration's flags for the recipe's configurations, the
default (SFace + centroid head, embedding cache off) for ``embedding``. Each row records the
final model's top-1 validation accuracy (re-scored in inference mode, what ``predict``
answers), the wall and CPU seconds and peak RSS of that process, the load average before and
after, the process's nice value, the commit and the date.

Order: the embedding rows for every set first (seconds each), then for each seed, each
configuration over the sets in order. Rows already in the results file are skipped, so a run
resumes where the last one stopped (``--retry-errors`` reruns failed rows). The results file
is rewritten atomically after every row: a killed run loses only the row in progress, which is
never recorded (nor is a run stopped by ``--kill-at``).

Wall time under load is not the 10-minute target's figure, and neither is CPU time / 2 here:
a recipe run on a crowded machine spent about half the CPU seconds of the same run on an idle
one (NOTE.md); the target needs a run on 2 idle cores.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import (  # noqa: E402
    REPO,
    RESULTS,
    lookalike_cli,
    machine,
    save,
    write_benchmarks_section,
)
from bench.studies.article import article_sets  # noqa: E402

#: name → (what, flags of ``lookalike train``). ``embedding`` is the face-embedding model;
#: the others add ``--recipe article``. Candidates for the default come from issue 16's list
#: of what the recipe allows; only those the CLI can express today are here.
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "embedding": ("face embedding (SFace + centroid head), cache off", ["--no-cache"]),
    "improved": ("the improved preset before issue 16 (BatchNorm frozen, 2 warm-up epochs, "
                 "augmentation, 15 epochs x 10 steps; constant rate, no test-time flip)",
                 ["--lr-schedule", "constant", "--no-tta-flip"]),
    "default": ("the default since issue 16: improved + cosine decay + test-time flip "
                "(a cosine run's flip column answers the same: the flip changes no training)",
                []),
    "article": ("the article exactly (--preset article --no-augment)",
                ["--preset", "article", "--no-augment"]),
    # candidates (issue 16): the number of updates, the margin, input size vs epochs, LR
    "steps20": ("default, 20 steps per epoch (300 updates)", ["--steps-per-epoch", "20"]),
    "epochs25": ("default, 25 epochs (250 updates)", ["--epochs", "25"]),
    "lr2e-4": ("default, learning rate 2e-4", ["--learning-rate", "2e-4"]),
    "margin0.4": ("default, face margin 0.4", ["--margin", "0.4"]),
    "margin0.1": ("default, face margin 0.1", ["--margin", "0.1"]),
    "size160e23": ("default, 160 px for 23 epochs (about the same compute as 197 px x 15)",
                   ["--image-size", "160", "--epochs", "23"]),
    "cosine": ("improved, cosine learning-rate decay over the fine-tuning updates",
               ["--lr-schedule", "cosine", "--no-tta-flip"]),
    "cosine_ls": ("improved, cosine decay and label smoothing 0.1",
                  ["--lr-schedule", "cosine", "--label-smoothing", "0.1", "--no-tta-flip"]),
    "ema": ("improved, weights averaged over the fine-tuning updates (EMA 0.98)",
            ["--ema", "0.98", "--lr-schedule", "constant", "--no-tta-flip"]),
    "warmup4": ("default, 4 head warm-up epochs", ["--warmup-epochs", "4"]),
    "size128e35": ("default, 128 px for 35 epochs (about the same compute as 197 px x 15)",
                   ["--image-size", "128", "--epochs", "35"]),
    # a seconds-long check that the runner works (use --results elsewhere)
    "smoke": ("smoke test: 1 epoch x 1 step at 96 px, no warm-up",
              ["--epochs", "1", "--steps-per-epoch", "1", "--image-size", "96",
               "--warmup-epochs", "0", "--batch-size", "16"]),
}
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results" / "article_sets.json"
START, END = "<!-- bench_article_sets:start -->", "<!-- bench_article_sets:end -->"


def utc_today_at(hhmm: str) -> float:
    """Epoch seconds of today's HH:MM UTC."""
    h, m = (int(x) for x in hhmm.split(":"))
    t = time.gmtime()
    return float(calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, h, m, 0)))


def row_key(set_name: str, config: str, seed: int) -> str:
    return f"{set_name}/{config}/seed{seed}"


def command(config: str, data: Path, out: Path, seed: int) -> list[str]:
    flags = CONFIGS[config][1]
    recipe = [] if config == "embedding" else ["--recipe", "article"]
    return [*lookalike_cli(), "train", str(data), *recipe, "-o", str(out), "--json", "-q",
            "--seed", str(seed), *flags]


def yield_cpu(pid: int) -> None:
    """Give the run's session this runner's niceness. With ``sched_autogroup`` (Linux's
    default on desktops and this machine) the CPU is shared between sessions first, so a
    nice-19 run in a session of its own still took a whole core from every other session's
    work; its autogroup's nice makes it take only what is left."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(os.nice(0)))


class Killed(Exception):
    """The run in progress was stopped (``--kill-at`` or a signal): not a result."""


def run_one(config: str, set_name: str, seed: int, data: Path, work: Path,
            kill_at: float | None) -> dict:
    out = work / f"{set_name}-{config}-seed{seed}.lookalike"
    cmd = command(config, data, out, seed)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "LOOKALIKE_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"),
                                                       os.environ.get("PYTHONPATH")]))}
    if config == "embedding":
        env["LOOKALIKE_NO_CACHE"] = "1"
    stamp = machine()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    err_path = work / f"{set_name}-{config}-seed{seed}.err"
    killed = threading.Event()
    with open(err_path, "w+") as err_fh:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_fh, env=env, text=True,
                                start_new_session=True)

        yield_cpu(proc.pid)

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = None
        if kill_at is not None:
            timer = threading.Timer(max(0.0, kill_at - time.time()), kill)
            timer.daemon = True
            timer.start()
        RUNNING[0] = kill
        try:
            stdout = proc.stdout.read() if proc.stdout else ""
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            RUNNING[0] = None
            if timer:
                timer.cancel()
        wall, cpu = time.perf_counter() - t0, usage.ru_utime + usage.ru_stime
        err_fh.seek(0)
        stderr = err_fh.read()
    out.unlink(missing_ok=True)
    if killed.is_set():
        raise Killed(f"{row_key(set_name, config, seed)}: stopped after {wall:.0f} s, "
                     "not recorded")
    code = os.waitstatus_to_exitcode(status)
    row = {"set": set_name, "config": config, "seed": seed, "what": CONFIGS[config][0],
           "flags": CONFIGS[config][1], "command": "nice -n 19 " + " ".join(cmd),
           "date_utc": stamp["date_utc"], "commit": stamp["commit"], "nice": os.nice(0),
           "load_average_at_start": [round(v, 2) for v in load0],
           "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
           "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    if code:
        row["error"] = (stderr.strip() or f"exit {code}")[-2000:]
        return row
    doc = json.loads(stdout.strip().splitlines()[-1])
    m = doc["metrics"]
    row.update(accuracy=m.get("accuracy"), top3_accuracy=m.get("top3_accuracy"),
               ece=m.get("ece"), validation_photos=m.get("validation_photos"),
               train_photos=m.get("train_photos"), train_accuracy=m.get("train_accuracy"),
               final_val_accuracy=m.get("final_val_accuracy"),
               best_val_accuracy=m.get("best_val_accuracy"), best_epoch=m.get("best_epoch"),
               updates=m.get("updates"), train_s=m.get("train_seconds"),
               accuracy_without_flip=m.get("accuracy_without_flip"),
               accuracy_with_flip=m.get("accuracy_with_flip"),
               skipped=len(doc.get("skipped") or []))
    if doc.get("history"):
        row["history"] = [{k: (round(v, 4) if isinstance(v, float) else v)
                           for k, v in h.items()} for h in doc["history"]]
    return row


RUNNING: list = [None]  # the kill function of the run in progress (for SIGTERM/SIGINT)


def plan(sets: list[str], configs: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    """Embedding rows for every set (seed 0, it is deterministic) first, then for each seed
    each recipe configuration over the sets in order."""
    rows = [(s, "embedding", 0) for s in sets if "embedding" in configs]
    for seed in seeds:
        for c in configs:
            if c != "embedding":
                rows += [(s, c, seed) for s in sets]
    return rows


def mean_std(vals: list[float]) -> tuple[float, float]:
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return m, sd


def summary(result: dict) -> list[dict]:
    """Per configuration: runs, sets, mean and std over runs, worst set (lowest mean over its
    seeds), mean wall / CPU seconds."""
    by: dict[str, list[dict]] = {}
    for r in result["runs"].values():
        if "error" not in r and r.get("accuracy") is not None:
            by.setdefault(r["config"], []).append(r)
    out = []
    for config, rows in by.items():
        m, sd = mean_std([r["accuracy"] for r in rows])
        worst, worst_mean = worst_set(rows, "accuracy")
        out.append({"config": config, "runs": len(rows), "sets": len({r["set"] for r in rows}),
                    "seeds": sorted({r["seed"] for r in rows}), "mean": m, "std": sd,
                    "worst_set": worst, "worst": worst_mean,
                    "wall_s": sum(r["wall_s"] for r in rows) / len(rows),
                    "cpu_s": sum(r["cpu_s"] for r in rows) / len(rows),
                    "peak_rss_mb": max(r.get("peak_rss_mb") or 0 for r in rows)}
                   | _flip(rows) | _paired(result, config, rows))
    return out


def worst_set(rows: list[dict], key: str) -> tuple[str, float]:
    """The set whose mean of ``key`` over its seeds is lowest, and that mean."""
    per_set: dict[str, list[float]] = {}
    for r in rows:
        per_set.setdefault(r["set"], []).append(r[key])
    means = {k: sum(v) / len(v) for k, v in per_set.items()}
    worst = min(means, key=means.__getitem__)
    return worst, means[worst]


def _flip(rows: list[dict]) -> dict:
    """Mean and worst set with test-time flip, over the runs that measured it."""
    flips = [r for r in rows if r.get("accuracy_with_flip") is not None]
    if not flips:
        return {}
    worst, worst_mean = worst_set(flips, "accuracy_with_flip")
    return {"flip_runs": len(flips),
            "flip_mean": mean_std([r["accuracy_with_flip"] for r in flips])[0],
            "flip_worst_set": worst, "flip_worst": worst_mean}


def _paired(result: dict, config: str, rows: list[dict], base: str = "improved") -> dict:
    """The mean difference to ``base`` over the (set, seed) runs both have: candidates are
    compared on the same draws, which removes most of the sets' spread."""
    if config in (base, "embedding"):
        return {}
    runs = result["runs"]
    diffs = [r["accuracy"] - runs[row_key(r["set"], base, r["seed"])]["accuracy"]
             for r in rows if runs.get(row_key(r["set"], base, r["seed"]), {}).get("accuracy")
             is not None]
    if not diffs:
        return {}
    m, sd = mean_std(diffs)
    return {"paired_runs": len(diffs), "paired_delta": m,
            "paired_se": sd / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")}


def table(result: dict) -> list[str]:
    lines = ["| configuration | runs (sets × seeds) | mean top-1 | std (runs) | worst set "
             "(its mean) | with test-time flip: mean, worst set | vs improved, same runs: "
             "Δ ± s.e. (runs) | mean wall s | mean CPU s | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary(result):
        flip = (f"{s['flip_mean']:.1%}, {s['flip_worst_set']} ({s['flip_worst']:.1%})"
                if "flip_mean" in s else "—")
        paired = (f"{s['paired_delta']:+.1%} ± {s['paired_se']:.1%} ({s['paired_runs']})"
                  if "paired_delta" in s else "—")
        lines.append(f"| {s['config']} | {s['runs']} ({s['sets']} × seeds "
                     f"{','.join(map(str, s['seeds']))}) | {s['mean']:.1%} | {s['std']:.1%} | "
                     f"{s['worst_set']} ({s['worst']:.1%}) | {flip} | {paired} | "
                     f"{s['wall_s']:.0f} | {s['cpu_s']:.0f} | {s['peak_rss_mb']:.0f} |")
    return lines


def rows_table(result: dict) -> list[str]:
    lines = ["| set | configuration | seed | top-1 (val photos) | best epoch's val acc | wall s "
             "| CPU s | peak RSS MB | load 1-min start→end | nice | date UTC, commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(result["runs"].values(), key=lambda r: (r["config"] != "embedding",
                                                          r["config"], r["seed"], r["set"])):
        la = f"{r['load_average_at_start'][0]}→{r['load_average_at_end'][0]}"
        when = f"{r['date_utc']}, {r['commit']}"
        if "error" in r:
            lines.append(f"| {r['set']} | {r['config']} | {r['seed']} | failed: "
                         f"{r['error'][-60:]} | | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | | {la} "
                         f"| {r['nice']} | {when} |")
            continue
        best = r.get("best_val_accuracy")
        lines.append(f"| {r['set']} | {r['config']} | {r['seed']} | {r['accuracy']:.1%} "
                     f"({r['validation_photos']}) | {'—' if best is None else f'{best:.1%}'} | "
                     f"{r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_rss_mb']:.0f} | {la} | "
                     f"{r['nice']} | {when} |")
    return lines


def write_markdown(result: dict) -> None:
    """Replace the generated tables between the markers in NOTE.md (the prose around them
    is kept)."""
    text = "\n".join([START, *table(result), "", "Every row:", "", *rows_table(result), END])
    write_benchmarks_section(START, END, text)


def save_to(path: Path, result: dict) -> None:
    if path.parent == RESULTS and path.suffix == ".json":
        save(path.stem, result)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(result, fh, indent=1, ensure_ascii=False, default=float)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defn = article_sets.load()
    ap.add_argument("--configs", default="embedding,improved",
                    help=f"comma-separated, of: {', '.join(CONFIGS)}")
    ap.add_argument("--sets", default=",".join(defn["sets"]))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--work", type=Path, default=None,
                    help="where the sets are laid out (symbolic links; default a temp folder)")
    ap.add_argument("--no-start-after", metavar="HH:MM", help="UTC: start no run after this")
    ap.add_argument("--kill-at", metavar="HH:MM",
                    help="UTC: stop the run in progress then (it is not recorded)")
    ap.add_argument("--retry-errors", action="store_true")
    ap.add_argument("--table", action="store_true",
                    help="print the tables and exit (with --markdown: and update NOTE.md)")
    ap.add_argument("--markdown", action="store_true",
                    help="update NOTE.md's generated tables after each row")
    args = ap.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    for c in configs:
        if c not in CONFIGS:
            sys.exit(f"unknown configuration {c!r}: choose from {', '.join(CONFIGS)}")
    for s in sets:
        if s not in defn["sets"]:
            sys.exit(f"unknown set {s!r}: article_sets.json has {', '.join(defn['sets'])}")
    path: Path = args.results
    result = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    result.setdefault("runs", {})
    result["sets"] = defn["sets"]
    result["machine"] = machine()
    if args.table:
        print("\n".join(table(result)))
        print("\n".join(rows_table(result)))
        if args.markdown:
            write_markdown(result)
        return 0
    no_start = utc_today_at(args.no_start_after) if args.no_start_after else None
    kill_at = utc_today_at(args.kill_at) if args.kill_at else None

    def on_signal(signum, _frame) -> None:
        if RUNNING[0]:
            RUNNING[0]()
        raise SystemExit(f"stopped by signal {signum}; the run in progress is not recorded")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    todo = plan(sets, configs, seeds)
    with tempfile.TemporaryDirectory(prefix="article_sets.") as tmp:
        work = args.work or Path(tmp)
        for set_name, config, seed in todo:
            key = row_key(set_name, config, seed)
            done = result["runs"].get(key)
            if done and ("error" not in done or not args.retry_errors):
                continue
            if no_start is not None and time.time() >= no_start:
                print(f"{args.no_start_after} UTC passed: no new run started", flush=True)
                break
            data = article_sets.layout(set_name, defn["sets"][set_name], work)
            print(f"{time.strftime('%H:%M:%S', time.gmtime())} {key} ...", flush=True)
            try:
                row = run_one(config, set_name, seed, data, work, kill_at)
            except Killed as stop:
                print(stop, flush=True)
                break
            result["runs"][key] = row
            result["machine"] = machine()
            save_to(path, result)
            if args.markdown:
                write_markdown(result)
            if "error" in row:
                print(f"{key}: FAILED {row['error'][-200:]}", flush=True)
            else:
                print(f"{key}: top-1 {row['accuracy']:.1%} of {row['validation_photos']} "
                      f"wall {row['wall_s']:.0f} s CPU {row['cpu_s']:.0f} s "
                      f"RSS {row['peak_rss_mb']:.0f} MB load {row['load_average_at_start'][0]}",
                      flush=True)
    print("\n".join(table(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
