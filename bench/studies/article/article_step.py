"""Seconds per whole-network training step of the article recipe, by BatchNorm mode: why the
article's exact settings take longer than the `improved` preset for the same 150 updates.

    nice -n 10 python -m bench.studies.article.article_step [--steps 4] [--only frozen,train,fused]

Each configuration runs in its own process: EfficientNet-Lite0 at 197 px, 7 classes, batch
64 of random pixels, Adam 9e-5, the whole network trainable (the article's epochs; the
`improved` preset's after its warm-up). ``frozen``: BatchNorm in inference mode (`improved`);
``train``: Keras 3's BatchNormalization in training mode (the article); ``fused``: the same
training-mode arithmetic through TensorFlow's fused kernel (an experiment, not in the product:
Keras 3 computes batch moments with separate ops). Prints one JSON line per configuration,
with the losses of the first steps so that ``train`` and ``fused`` can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = ("frozen", "train", "fused")


def one(mode: str, steps: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from lookalike.models.article import ArticleConfig, _keras, build_network, set_trainable

    keras = _keras()
    if mode == "fused":
        import tensorflow as tf

        bn = keras.layers.BatchNormalization
        plain = bn.call

        def fused_call(self, inputs, training=None, mask=None):
            if not (training and self.trainable) or mask is not None or len(inputs.shape) != 4:
                return plain(self, inputs, training=training, mask=mask)
            y, mean, var = tf.compat.v1.nn.fused_batch_norm(
                inputs, tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.beta),
                epsilon=self.epsilon, is_training=True)
            s = tf.shape(inputs)
            n = tf.cast(s[0] * s[1] * s[2], var.dtype)
            var = var * (n - 1.0) / n  # the kernel's is Bessel-corrected; Keras keeps biased
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))
            return y

        bn.call = fused_call
    cfg = ArticleConfig.preset("improved" if mode == "frozen" else "article")
    keras.utils.set_random_seed(0)
    model = build_network(cfg, 7)
    set_trainable(model, cfg, backbone=True)
    model.compile(optimizer=keras.optimizers.Adam(9e-5), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, cfg.image_size, cfg.image_size, 3)).astype("float32")
    y = np.eye(7, dtype="float32")[rng.integers(0, 7, 64)]
    t0 = time.perf_counter()
    losses = [float(model.train_on_batch(x, y)[0])]
    first = time.perf_counter() - t0
    times, c1 = [], time.process_time()
    for _ in range(steps):
        t = time.perf_counter()
        losses.append(float(model.train_on_batch(x, y)[0]))
        times.append(time.perf_counter() - t)
    cpu = (time.process_time() - c1) / steps
    return {"batchnorm": mode, "first_step_s": round(first, 1),
            "step_s_median": round(float(np.median(times)), 2),
            "cpu_s_per_step": round(cpu, 2), "steps": [round(t, 2) for t in times],
            "losses": [round(v, 5) for v in losses],
            "load_average_at_end": round(os.getloadavg()[0], 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4, help="timed steps after the first")
    ap.add_argument("--only", default=",".join(CONFIGS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.steps)), flush=True)
        return 0
    for mode in args.only.split(","):
        if mode not in CONFIGS:
            sys.exit(f"unknown configuration {mode!r}: choose from {', '.join(CONFIGS)}")
        r = subprocess.run([sys.executable, __file__, "--one", mode, "--steps", str(args.steps)],
                           capture_output=True, text=True)
        print(r.stdout.strip() or r.stderr.strip()[-2000:], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
