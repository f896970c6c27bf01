"""``lookalike train --recipe article``: the article recipe's options and its train command.
The recipe itself (TensorFlow / Keras) is imported only when this command runs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lookalike.cli.output import info, print_article_summary
from lookalike.errors import LookalikeError, stop_reason
from lookalike.models.article.config import (
    BACKBONES,
    LR_SCHEDULES,
    PRESETS,
    ArticleConfig,
    config_fields,
)
from lookalike.schema import stamp


def add_train_arguments(t) -> None:
    """The article recipe's options of ``lookalike train`` (used with ``--recipe article``)."""
    g = t.add_argument_group("article recipe (--recipe article)")
    g.add_argument("--preset", choices=sorted(PRESETS), default="improved",
                   help="improved (default): BatchNorm frozen, head warm-up, cosine decay, "
                   "test-time flip; article: the article exactly (use with --no-augment)")
    g.add_argument("--backbone", choices=BACKBONES, default=None,
                   help="efficientnet-lite0 (offline, default) or mobilenetv2 (the article's)")
    g.add_argument("--weights", default=None,
                   help="imagenet (default), none, or a local weights file")
    g.add_argument("--image-size", type=int, default=None, help="pixels (default 197)")
    g.add_argument("--batch-size", type=int, default=None, help="default 64")
    g.add_argument("--epochs", type=int, default=None, help="default 15")
    g.add_argument("--steps-per-epoch", type=int, default=None, help="default 10")
    g.add_argument("--learning-rate", type=float, default=None, help="default 9e-5")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                   help="fine-tuning learning rate: cosine (default: falls to zero by the "
                   "last update) or constant (the article)")
    g.add_argument("--ema", type=float, default=None, metavar="MOMENTUM",
                   help="keep a moving average of the fine-tuned weights (e.g. 0.98; the "
                   "article: 0, the last update's)")
    g.add_argument("--label-smoothing", type=float, default=None, metavar="EPS",
                   help="smooth the one-hot targets by EPS (the article: 0)")
    g.add_argument("--tta-flip", dest="tta_flip", action="store_true", default=None,
                   help="answer with the mean of the face crop and its mirror image "
                   "(default; the article preset: off)")
    g.add_argument("--no-tta-flip", dest="tta_flip", action="store_false",
                   help="answer with the face crop alone")
    g.add_argument("--freeze-backbone", action="store_true", default=None,
                   help="train the new head only")
    g.add_argument("--batchnorm", choices=("frozen", "train"), default=None,
                   help="BatchNorm while fine-tuning: frozen = inference mode (improved), "
                   "train = Keras' default (article)")
    g.add_argument("--warmup-epochs", type=int, default=None,
                   help="epochs training the head only before unfreezing (improved: 2)")
    g.add_argument("--augment", dest="augment", action="store_true", default=None,
                   help="data augmentation on the training set (default)")
    g.add_argument("--no-augment", dest="augment", action="store_false")
    g.add_argument("--margin", type=float, default=None,
                   help="context around the face crop, fraction of the face (default 0.25)")
    g.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without better validation; keep the best")
    g.add_argument("--logdir", help="write TensorBoard logs here")
    g.add_argument("--checkpoint", help="keep the best epoch so far in this model file")


def config_from_args(args) -> ArticleConfig:
    overrides = {k: getattr(args, k) for k in config_fields() if k not in ("crops", "seed")
                 and getattr(args, k, None) is not None}
    return ArticleConfig.preset(args.preset, crops=bool(args.crops), seed=args.seed,
                                **overrides)


def _check_paths(args) -> Path:
    from lookalike.models.article import check_output

    out = Path(args.output)
    if out.is_dir():
        raise LookalikeError("is a folder", out, "give a file name, e.g. -o people.lookalike")
    check_output(out, "-o")
    if args.checkpoint and Path(args.checkpoint).resolve() == out.resolve():
        raise LookalikeError("--checkpoint is the -o file", out,
                             "give the checkpoint its own file name (Ctrl-C must leave the "
                             "previous model at -o untouched)")
    return out


def _interrupted(stop, args, out: Path) -> int:
    val = stop.checkpoint_val_acc
    kept = (f"the best epoch so far ({stop.checkpoint_epoch}, validation {val:.1%}) is in "
            f"{stop.checkpoint}" if stop.checkpoint and val == val
            else f"the last finished epoch ({stop.checkpoint_epoch}; no validation photos) "
            f"is in {stop.checkpoint}" if stop.checkpoint
            else "no checkpoint was written (no epoch finished)" if args.checkpoint
            else "pass --checkpoint FILE to keep the best epoch so far")
    what, code = stop_reason(stop.terminated)
    print(f"lookalike: {what} during epoch {stop.epochs_done + 1} of {stop.epochs}; "
          f"{out} was not changed; {kept}", file=sys.stderr)
    return code


def cmd_train_article(args) -> int:
    from lookalike.models.article import (
        TrainingInterrupted,
        curves_path,
        train_article,
    )
    from lookalike.pictures.train_report import curves_png

    out = _check_paths(args)
    cfg = config_from_args(args)
    t0 = time.perf_counter()
    try:
        model, report = train_article(args.data, cfg, validation_fraction=args.val_fraction,
                                      progress=not args.quiet, log=info,
                                      logdir=args.logdir, checkpoint=args.checkpoint)
    except TrainingInterrupted as stop:
        return _interrupted(stop, args, out)
    model.save(out)
    curves = curves_png(report.history, curves_path(out),
                        f"{cfg.backbone}, {args.preset} preset, augment={cfg.augment}")
    seconds = time.perf_counter() - t0
    if getattr(args, "report", None):
        from lookalike.pictures.train_report import write_train_report

        page = write_train_report(report, model, args.report, seconds=seconds, model_path=out)
        info(f"Training report: {page}")
    if args.json:
        print(json.dumps(stamp("train", {
            "model": str(out), "seconds": round(seconds, 2),
            "curves": str(curves) if curves else None, "people": report.people,
            "split": report.split, "skipped": report.skipped, "warnings": report.warnings,
            "metrics": report.metrics, "history": report.history}), ensure_ascii=False))
        return 0
    print_article_summary(report, cfg, args.preset, seconds, curves, out)
    return 0
