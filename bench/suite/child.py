"""One benchmark (or a side's setup) in this process, under the sources on ``PYTHONPATH``:
prints ``SUITE-RESULT {json}`` as its last line. Started by :mod:`bench.suite.runner`."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.suite.child")
    ap.add_argument("bench", help="a benchmark's name, or 'setup' (train the side's model)")
    ap.add_argument("--inputs", type=Path, required=True)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)

    from bench.suite.benchmarks import BENCHMARKS, Context, setup_side

    if args.bench == "setup":
        setup_side(args.model, args.inputs)
        import lookalike

        out = {"lookalike": str(Path(lookalike.__file__).parent)}
    else:
        with tempfile.TemporaryDirectory(prefix="lookalike-suite-") as scratch:
            ctx = Context(inputs=args.inputs, model=args.model, scratch=Path(scratch),
                          quick=args.quick, data=args.data)
            out = BENCHMARKS[args.bench].fn(ctx)
    print("SUITE-RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
