"""``lookalike benchmark lfw``: LFW verification and few-shot identification per backend
(the benchmark module is imported only when the command runs)."""

from __future__ import annotations

import json

from lookalike.cli.options import add_backend_option
from lookalike.cli.output import info


def add_benchmark_parser(sub, embedders) -> None:
    b = sub.add_parser("benchmark", help="LFW: 10-fold verification on pairs.txt (accuracy, "
                       "ROC, TAR@FAR) and few-shot identification, per backend")
    b.add_argument("suite", choices=["lfw"])
    b.add_argument("--data-home", help="folder holding lfw_home/ (default: $LOOKALIKE_DATA, "
                   "../shared/data)")
    b.add_argument("--embedder", nargs="+", default=None, choices=embedders,
                   help="backends to measure (default: sface dlib sface+dlib)")
    b.add_argument("--out", metavar="DIR", help="write the ROC curve to DIR/lfw_roc.png")
    b.add_argument("--no-identification", action="store_true",
                   help="verification only (skip the few-shot identification protocol)")
    b.add_argument("--json", action="store_true")
    b.add_argument("-q", "--quiet", action="store_true")
    add_backend_option(b)
    b.set_defaults(func=cmd_benchmark)


def cmd_benchmark(args) -> int:
    from lookalike.measure.benchmark import DEFAULT_EMBEDDERS, public, run_lfw, summary_lines

    results = run_lfw(args.data_home, embedders=args.embedder or list(DEFAULT_EMBEDDERS),
                      out_dir=args.out, identify=not args.no_identification,
                      progress=not args.quiet, log=None if args.json else info)
    if args.json:
        print(json.dumps(public(results), indent=1))
    else:
        print("\n".join(summary_lines(results)))
    return 0
