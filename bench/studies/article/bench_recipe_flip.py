"""Test-time flip's cost at prediction in the article recipe: one face through the CNN, flip
off and on, alternated.

    .venv/bin/python -m bench.studies.article.bench_recipe_flip [DATA] [--calls 60]

Trains a one-update model on DATA (default ../shared/data/lfw7; the weights do not matter for
the time, the network's shape does: the default backbone and input size), then times
``network._predict`` on one face crop: wall p50 and process CPU per face, and their ratio;
then, for reference, one eager ``net(x, training=False)`` call per face (what ``_predict``
did before it used ``predict_on_batch``).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.common import data_home  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", default=str(data_home() / "lfw7"))
    ap.add_argument("--calls", type=int, default=60)
    args = ap.parse_args()
    from lookalike.models.article.config import ArticleConfig
    from lookalike.models.article.network import _predict
    from lookalike.models.article.training import train_article

    cfg = ArticleConfig(epochs=1, steps_per_epoch=1, warmup_epochs=0)
    model, _ = train_article(args.data, cfg, progress=False)
    net = model.network
    crop = np.random.default_rng(0).integers(0, 255, (1, cfg.image_size, cfg.image_size, 3))
    crop = crop.astype(np.float32)
    walls: dict[bool, list[float]] = {False: [], True: []}
    cpu = {False: 0.0, True: 0.0}
    for flip in (False, True):  # warm-up
        _predict(net, crop, flip=flip)
    for i in range(args.calls):
        for flip in ((False, True) if i % 2 else (True, False)):
            c0, t0 = time.process_time(), time.perf_counter()
            _predict(net, crop, flip=flip)
            walls[flip].append(time.perf_counter() - t0)
            cpu[flip] += time.process_time() - c0
    for flip in (False, True):
        print(f"flip {'on ' if flip else 'off'}: p50 {1000 * np.median(walls[flip]):.1f} ms "
              f"wall, {1000 * cpu[flip] / args.calls:.1f} ms CPU per face")
    print(f"on / off: wall p50 ×{np.median(walls[True]) / np.median(walls[False]):.2f}, "
          f"CPU ×{cpu[True] / cpu[False]:.2f}")
    eager = []
    for _ in range(max(args.calls // 3, 5)):
        t0 = time.perf_counter()
        net(crop, training=False)
        eager.append(time.perf_counter() - t0)
    print(f"eager net(x) call, flip off: p50 {1000 * np.median(eager):.1f} ms wall per face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
