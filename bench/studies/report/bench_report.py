"""Time the pictures: the lfw7 evaluation report (target ≤ 10 s) and a look-alike card.

    .venv/bin/python -m bench.studies.report.bench_report

Trains a model on lfw7 (train + validation split folders), then runs
``lookalike evaluate MODEL lfw7/validation --report OUT`` twice as a user would: first with an
empty embedding cache (every photo detected and embedded), then with the cache filled; and
times ``write_report`` alone and ``render_card`` alone in-process. Writes
bench/studies/report/results/report.json. Needs ../shared/data/lfw7 (or $LOOKALIKE_DATA).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import lfw7, lookalike_cli, machine, save


def run(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    data = lfw7()
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    env = dict(os.environ, LOOKALIKE_CACHE_DIR=str(tmp / "cache"), LOOKALIKE_PROGRESS="0")
    os.environ.update(LOOKALIKE_CACHE_DIR=env["LOOKALIKE_CACHE_DIR"], LOOKALIKE_PROGRESS="0")
    info = machine()
    model = tmp / "lfw7.lookalike"
    cli = lookalike_cli()
    train_s = run([*cli, "train", str(data), "-o", str(model), "-q"], env)
    cold_env = dict(env, LOOKALIKE_NO_CACHE="1")
    evaluate = [*cli, "evaluate", str(model), str(data / "validation"), "-q", "--report"]
    cold = run([*evaluate, str(tmp / "cold")], cold_env)
    warm = [run([*evaluate, str(tmp / f"warm{i}")], env) for i in range(3)]

    from lookalike.measure.evaluate import evaluate as evaluate_fn
    from lookalike.models.model import load
    from lookalike.pictures.cards import render_card
    from lookalike.pictures.report import write_report

    m = load(model)
    res = evaluate_fn(m, data / "validation", progress=False)
    t0 = time.perf_counter()
    write_report(res, m, tmp / "inproc", data_dir=data / "validation")
    report_only = time.perf_counter() - t0
    photo = sorted((data / "validation").glob("*/*.jpg"))[0]
    results, _ = m.predict_many([photo])
    t0 = time.perf_counter()
    render_card(m, results, tmp / "card.png")
    card_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    render_card(m, results, tmp / "card2.png")
    card_again = time.perf_counter() - t0
    card_cli = run([*cli, "predict", str(model), str(photo), "--card", str(tmp / "c.png")], env)

    out = {
        "machine": info,
        "photos_evaluated": res["n"],
        "train_s": round(train_s, 2),
        "evaluate_with_report_cold_cache_s": round(cold, 2),
        "evaluate_with_report_warm_cache_s": [round(v, 2) for v in warm],
        "write_report_only_s": round(report_only, 2),
        "render_card_first_s": round(card_first, 2),
        "render_card_again_s": round(card_again, 2),
        "predict_with_card_cli_s": round(card_cli, 2),
        "commands": {
            "report": "lookalike evaluate MODEL ../shared/data/lfw7/validation --report OUT/",
            "card": "lookalike predict MODEL PHOTO --card OUT.png",
        },
    }
    for k, v in out.items():
        if k not in ("machine", "commands"):
            print(f"{k:38s} {v}")
    save("report", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
