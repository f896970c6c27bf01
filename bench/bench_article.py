"""The article's recipe on ../shared/data/lfw7 and the LFW 5-shot split, against the
face-embedding model.

    nice -n 10 .venv/bin/python bench/bench_article.py [--data lfw7|fewshot]
        [--only article,article_aug,improved,...,embedding] [--epochs N] [--budget S]
        [--val-per-person K] [--seed N] [--keep DIR] [--markdown]

Each CNN configuration runs ``lookalike train DATA --recipe article --json`` in its own process
(15 epochs × 10 steps of batch 64 at 197 px unless --epochs says otherwise) and records the
final and best validation accuracy (42 photos), the training accuracy re-scored in inference
mode, the wall time and the CPU time of that process (the machine is shared: CPU seconds / 2
is the wall time on 2 idle cores). The face-embedding model is trained in-process with
``lookalike.models.train.train`` (SFace + centroid head, embedding cache off). Results go to
``bench/results/article.json``; ``--markdown`` rewrites the article section of BENCHMARKS.md
(the tables; the text between the notes markers is kept).

``--data fewshot`` builds the LFW few-shot split of ``lookalike.measure.lfw.split_shots``
(people
with ≥ 10 photos in lfw_funneled, the first 5 sorted photos of each to train, the rest to test)
as a DATA/{train,validation}/<person>/ folder of symbolic links in a temporary folder, keeping
the first ``--val-per-person`` (default 3: photos 6–8, as bench_foundation's face_recognition
section) of each person's test photos so that per-epoch validation does not dominate the time.
Results go to ``bench/results/article_fewshot.json``.

``--seed N`` trains with that seed (rows ``NAME@seedN``); configurations run with several seeds
get a table of their spread.

``--budget S`` stops a CNN run after S seconds of wall time with SIGINT (the recipe's Ctrl-C
path) and records the epochs it finished, marked as stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REPO,
    RESULTS,
    lfw7,
    lfw_funneled,
    lookalike_cli,
    machine,
    save,
    write_benchmarks_section,
)

CONFIGS = {
    "article": ("the article exactly: BatchNorm training, no warm-up, no augmentation",
                ["--preset", "article", "--no-augment"]),
    "article_aug": ("the article + augmentation", ["--preset", "article"]),
    "improved_noaug": ("improved preset before issue 16 without augmentation",
                       ["--no-augment", "--lr-schedule", "constant", "--no-tta-flip"]),
    "improved": ("improved preset before issue 16 (BatchNorm frozen, 2 head warm-up epochs, "
                 "augmentation; constant rate, no test-time flip)",
                 ["--lr-schedule", "constant", "--no-tta-flip"]),
    "default": ("the default since issue 16: improved + cosine decay + test-time flip", []),
    # Ablations (no augmentation, to pair with `article` and `improved_noaug`): each of the two
    # BatchNorm / warm-up changes alone.
    "bn_frozen_only": ("ablation: BatchNorm frozen only (no warm-up), no augmentation",
                       ["--warmup-epochs", "0", "--no-augment", "--lr-schedule", "constant",
                        "--no-tta-flip"]),
    "warmup_only": ("ablation: 2 head warm-up epochs only (BatchNorm training), no augmentation",
                    ["--preset", "article", "--warmup-epochs", "2", "--no-augment"]),
    # The one that decides the `improved` preset's warm-up: its other two choices, no warm-up.
    "bn_frozen_aug": ("ablation: BatchNorm frozen + augmentation, no warm-up",
                      ["--warmup-epochs", "0", "--lr-schedule", "constant", "--no-tta-flip"]),
}
START, END = "<!-- bench_article:start -->", "<!-- bench_article:end -->"
NOTES = ("<!-- bench_article:notes:start -->", "<!-- bench_article:notes:end -->")
#: Where and when the rows measured before rows carried their own date and commit were run.
EARLIER = {"article": ("2026-11-29 11:08", "15b3ccb"), "improved": ("2026-11-29 11:08", "15b3ccb"),
           "embedding": ("2026-11-29 11:08", "15b3ccb"),
           "improved_noaug": ("2026-11-29 11:59", "10f5f94")}
DATASETS = {"lfw7": "article", "fewshot": "article_fewshot"}  # → bench/results/<name>.json


def fewshot_dir(work: Path, val_per_person: int) -> Path:
    """The LFW 5-shot split as DATA/{train,validation}/<person>/ symbolic links."""
    from lookalike.measure.lfw import lfw_people, split_shots

    names, train, test = split_shots(lfw_people(lfw_funneled()), shots=5, min_photos=10)
    root = work / "lfw_5shot"
    taken: dict[int, int] = {}
    for subset, rows in (("train", train), ("validation", test)):
        for f, k in rows:
            if subset == "validation":
                if val_per_person and taken.get(k, 0) >= val_per_person:
                    continue
                taken[k] = taken.get(k, 0) + 1
            d = root / subset / names[k]
            d.mkdir(parents=True, exist_ok=True)
            if not (d / f.name).exists():
                (d / f.name).symlink_to(f)
    return root


def row_name(name: str, seed: int | None) -> str:
    """Results key: the configuration, with ``@seedN`` for a seed other than the default."""
    return name if not seed else f"{name}@seed{seed}"


def run_cnn(name: str, data: Path, work: Path, epochs: int | None,
            budget: float | None = None, seed: int | None = None) -> dict:
    what, flags = CONFIGS[name]
    if seed:
        what, flags = f"{what} — seed {seed}", [*flags, "--seed", str(seed)]
        name = row_name(name, seed)
    out = work / f"{name}.lookalike"
    cmd = [*lookalike_cli(), "train", str(data), "--recipe", "article", "-o", str(out),
           "--json", "-q", *flags]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "LOOKALIKE_PROGRESS": "0"}
    load = os.getloadavg()[0]
    stamp = machine()
    t0 = time.perf_counter()
    with open(work / f"{name}.out", "w+") as out_fh, open(work / f"{name}.err", "w+") as err_fh:
        # SIGINT at the default (a shell's background job starts with it ignored, and then
        # Python installs no KeyboardInterrupt handler and the budget's SIGINT does nothing).
        proc = subprocess.Popen(cmd, stdout=out_fh, stderr=err_fh, env=env,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        timer = threading.Timer(budget, proc.send_signal, (signal.SIGINT,)) if budget else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall, cpu = time.perf_counter() - t0, usage.ru_utime + usage.ru_stime
        out_fh.seek(0)
        err_fh.seek(0)
        stdout, stderr = out_fh.read(), err_fh.read()
    when = {"date_utc": stamp["date_utc"], "commit": stamp["commit"],
            "load_average_at_start": round(load, 2),
            "command": f"nice -n {os.nice(0)} " + " ".join(cmd)}  # this runner's own niceness
    if proc.returncode:
        row = from_log(name, work / f"{name}.err", epochs or 15, what, flags)
        if budget and wall >= budget and "error" not in row:
            row["what"] += f" (time budget {budget:.0f} s)"
            row.update(when, wall_s=round(wall, 1), cpu_s=round(cpu, 1))
            print(f"{name:>15}: stopped at the budget after {row['epochs_done']} epochs, best "
                  f"{row['best_val_accuracy']:.1%}", flush=True)
            return row
        return {"what": what, "flags": flags, "error": stderr.strip()[-2000:], **when}
    doc = json.loads(stdout.strip().splitlines()[-1])
    m = doc["metrics"]
    row = {**when, "what": what, "flags": flags, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "train_s": m["train_seconds"], "validation_photos": m.get("validation_photos"),
           "train_photos": m.get("train_photos"),
           "final_val_accuracy": m.get("final_val_accuracy"),
           "best_val_accuracy": m.get("best_val_accuracy"), "best_epoch": m.get("best_epoch"),
           "accuracy": m.get("accuracy"), "top3_accuracy": m.get("top3_accuracy"),
           "ece": m.get("ece"), "train_accuracy_inference_mode": m.get("train_accuracy"),
           "updates": m["updates"], "history": doc["history"]}
    print(f"{name:>15}: final {row['final_val_accuracy']:.1%} best {row['best_val_accuracy']:.1%}"
          f" (epoch {row['best_epoch']}) train(inference) "
          f"{row['train_accuracy_inference_mode']:.1%} wall {wall:.0f} s cpu {cpu:.0f} s",
          flush=True)
    return row


def from_log(name: str, log: Path, epochs: int, what: str | None = None,
             flags: list[str] | None = None) -> dict:
    """A row from the per-epoch table a run printed (NAME.err), for a run that was stopped
    before the end: figures up to the last epoch it reached."""
    if what is None or flags is None:
        what, flags = CONFIGS[name.split("@")[0]]
    hist = []
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 7 and "/" in parts[0] and parts[0].split("/")[0].isdigit():
            hist.append({"epoch": int(parts[0].split("/")[0]), "phase": parts[1],
                         "loss": float(parts[2]), "acc": float(parts[3].rstrip("%")) / 100,
                         "val_loss": float(parts[4]),
                         "val_acc": float(parts[5].rstrip("%")) / 100,
                         "seconds": float(parts[6])})
    if not hist:
        return {"what": what, "flags": flags, "error": "no epoch finished"}
    vals = [h["val_acc"] for h in hist]
    best = max(range(len(vals)), key=vals.__getitem__)
    return {"what": what + f" — STOPPED after {len(hist)} of {epochs} epochs",
            "flags": flags, "partial": True, "epochs_done": len(hist),
            "final_val_accuracy": vals[-1], "best_val_accuracy": vals[best],
            "best_epoch": best + 1, "train_accuracy_inference_mode": None,
            "wall_s": None, "cpu_s": None, "history": hist}


def run_embedding(data: Path) -> dict:
    os.environ["LOOKALIKE_NO_CACHE"] = "1"
    from lookalike.models.train import train

    stamp = machine()
    t0, c0 = time.perf_counter(), time.process_time()
    _, report = train(data, progress=False, cache=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = report.metrics
    row = {"what": "face embedding (SFace + centroid head), cache off", "wall_s": round(wall, 1),
           "cpu_s": round(cpu, 1), "final_val_accuracy": m["accuracy"],
           "best_val_accuracy": m["accuracy"], "accuracy": m["accuracy"],
           "top3_accuracy": m["top3_accuracy"], "ece": m["ece"],
           "train_accuracy_inference_mode": m["train_accuracy"],
           "date_utc": stamp["date_utc"], "commit": stamp["commit"],
           "load_average_at_start": stamp["load_average_at_start"][0],
           "command": "nice -n 10 .venv/bin/python " + " ".join(sys.argv)}
    print(f"{'embedding':>15}: {m['accuracy']:.1%} wall {wall:.0f} s cpu {cpu:.0f} s", flush=True)
    return row


def table(result: dict) -> list[str]:
    lines = ["| model | final val acc | best val acc (epoch) | train acc, training mode (last "
             "epoch) | train acc, inference mode | wall s | CPU s | load | date UTC, commit |",
             "|---|---|---|---|---|---|---|---|---|"]

    def num(v, fmt: str = ".0f") -> str:
        return "—" if v is None else format(v, fmt)

    for name, r in result["runs"].items():
        date, commit = (r.get("date_utc"), r.get("commit")) if r.get("commit") else EARLIER.get(
            name, (result["machine"]["date_utc"], result["machine"]["commit"]))
        when = f"{date}, {commit}"
        if "error" in r:
            lines.append(f"| {name}: {r['what']} | failed: {r['error'][-80:]} | | | | | | | "
                         f"{when} |")
            continue
        be = f" ({r['best_epoch']})" if r.get("best_epoch") else ""
        fit_acc = r["history"][-1]["acc"] if r.get("history") else None
        lines.append(f"| {r['what']} | {r['final_val_accuracy']:.1%} | "
                     f"{r['best_val_accuracy']:.1%}{be} | {num(fit_acc, '.1%')} | "
                     f"{num(r.get('train_accuracy_inference_mode'), '.1%')} | "
                     f"{num(r.get('wall_s'))} | {num(r.get('cpu_s'))} | "
                     f"{r.get('load_average_at_start', '')} | {when} |")
    return lines


def seed_table(result: dict) -> list[str]:
    """Configurations run with more than one seed: each seed's final validation accuracy,
    their mean and range."""
    by: dict[str, dict[int, float]] = {}
    for key, r in result["runs"].items():
        if "error" in r or r.get("partial") or r.get("final_val_accuracy") is None:
            continue
        name, _, seed = key.partition("@seed")
        by.setdefault(name, {})[int(seed or 0)] = r["final_val_accuracy"]
    lines = []
    for name, accs in by.items():
        if len(accs) < 2 or name not in CONFIGS:
            continue
        vals = list(accs.values())
        each = ", ".join(f"seed {k}: {v:.1%}" for k, v in sorted(accs.items()))
        lines.append(f"| {CONFIGS[name][0]} | {len(vals)} | {sum(vals) / len(vals):.1%} | "
                     f"{min(vals):.1%}–{max(vals):.1%} | {each} |")
    if not lines:
        return []
    return ["| model | seeds | mean final val acc | range | each |", "|---|---|---|---|---|",
            *lines]


def markdown(results: dict[str, dict], notes: str) -> str:
    lfw, few = results.get("lfw7"), results.get("fewshot")
    lines = [START, "## The article's recipe (CNN fine-tuning) vs the face-embedding model", ""]
    if lfw:
        mc = lfw["machine"]
        lines += [
            "`nice -n 10 .venv/bin/python bench/bench_article.py --only NAME --markdown` on "
            f"lfw7 (168 train / 42 validation photos, 7 people), {mc['cores']} cores "
            f"({mc['cpu']}), shared with other work (load average at the start in the table); "
            "CPU s / 2 ≈ wall time on 2 idle cores. CNN: EfficientNet-Lite0 (ImageNet), 197 px "
            f"face crops, batch 64, {lfw['epochs']} epochs × 10 steps, Adam 9e-5. Per-run "
            "commands and per-epoch rows in bench/results/article.json.", "", *table(lfw), ""]
    if few:
        v = next((r.get("validation_photos") for r in few["runs"].values()
                  if r.get("validation_photos")), None)
        t = next((r.get("train_photos") for r in few["runs"].values()
                  if r.get("train_photos")), None)
        lines += [
            "**LFW 5-shot** (`... bench_article.py --data fewshot --budget S --only NAME "
            "--markdown`): people with ≥ 10 photos in lfw_funneled, the first 5 (sorted) of "
            f"each to train{f' ({t} photos with a face)' if t else ''}, validation capped at "
            f"{few.get('val_per_person', 3)} per person (photos 6–8, as bench_foundation's "
            "face_recognition section; the full rest would make per-epoch validation dominate "
            f"the time){f': {v} photos' if v else ''}. Same CNN settings as above; per-epoch "
            "rows in bench/results/article_fewshot.json.", "", *table(few), ""]
    if lfw and (spread := seed_table(lfw)):
        lines += ["**Seeds** (lfw7; `... bench_article.py --only NAME --seed N --markdown`): "
                  "the same configuration with other seeds (`--seed`: the 80/20 split is "
                  "fixed by lfw7's folders; the seed moves the head's initial weights, the "
                  "batch order and the augmentation), final validation accuracy at epoch 15.",
                  "", *spread, ""]
    lines += [NOTES[0], notes.strip("\n"), NOTES[1], END]
    return "\n".join(lines)


def current_notes() -> str:
    path = REPO / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else ""
    if NOTES[0] in old and NOTES[1] in old:
        return old[old.index(NOTES[0]) + len(NOTES[0]):old.index(NOTES[1])]
    return ""


def write_markdown(text: str) -> None:
    write_benchmarks_section(START, END, text)


def load_results() -> dict[str, dict]:
    out = {}
    for key, name in DATASETS.items():
        path = RESULTS / f"{name}.json"
        if path.exists():
            out[key] = json.loads(path.read_text())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=sorted(DATASETS), default="lfw7")
    ap.add_argument("--only", default=",".join([*CONFIGS, "embedding"]))
    ap.add_argument("--epochs", type=int, default=None, help="override 15 (quick looks)")
    ap.add_argument("--budget", type=float, default=None, metavar="S",
                    help="stop each CNN run after S seconds (SIGINT) and keep its epochs")
    ap.add_argument("--val-per-person", type=int, default=3,
                    help="fewshot: validation photos kept per person (0: all)")
    ap.add_argument("--markdown", action="store_true", help="update BENCHMARKS.md")
    ap.add_argument("--from-logs", metavar="DIR",
                    help="record runs that were stopped from DIR/NAME.err (the --keep folder)")
    ap.add_argument("--keep", help="keep models and per-epoch logs (NAME.err) in this folder")
    ap.add_argument("--seed", type=int, default=0,
                    help="train with this seed (rows NAME@seedN; 0: the default, rows NAME)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="CNN runs at once (CPU s stays per run; wall s grows with sharing)")
    args = ap.parse_args()
    stem = DATASETS[args.data]
    path = RESULTS / f"{stem}.json"
    result = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    if args.from_logs:
        for name in [n for n in args.only.split(",") if n in CONFIGS]:
            log = Path(args.from_logs) / f"{name}.err"
            done = result["runs"].get(name, {})
            if log.exists() and ("error" in done or not done or done.get("partial")):
                result["runs"][name] = from_log(name, log, args.epochs or 15)
        save(stem, result)
        if args.markdown:
            write_markdown(markdown(load_results(), current_notes()))
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n != "embedding" and n not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configuration {unknown[0]!r}: choose from "
                 f"{', '.join([*CONFIGS, 'embedding'])}")
    for name, r in result["runs"].items():  # rows measured before rows carried their own
        if "commit" not in r and name in EARLIER:
            r["date_utc"], r["commit"] = EARLIER[name]
    result.update(machine=machine(), epochs=args.epochs or 15, jobs=args.jobs)
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        work = Path(keep or tmp)
        if args.data == "fewshot":
            data = fewshot_dir(Path(tmp), args.val_per_person)
            result["val_per_person"] = args.val_per_person
        else:
            data = lfw7()
        result["data"] = str(data) if args.data == "lfw7" else "LFW 5-shot split (symlinks)"
        cnn = [n for n in names if n in CONFIGS]
        futures = {row_name(n, args.seed): pool.submit(run_cnn, n, data, work, args.epochs,
                                                       args.budget, args.seed) for n in cnn}
        if "embedding" in names:
            result["runs"]["embedding"] = run_embedding(data)
            save(stem, result)
        for n, fut in futures.items():
            result["runs"][n] = fut.result()
            save(stem, result)
            if args.markdown:
                write_markdown(markdown(load_results(), current_notes()))
    if args.markdown:
        write_markdown(markdown(load_results(), current_notes()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
