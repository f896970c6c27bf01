"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--backend``, on every command that runs the face networks (sets LOOKALIKE_BACKEND,
    so worker processes follow; see :mod:`lookalike.runtime`)."""
    parser.add_argument("--backend", choices=("openvino", "opencv"),
                        help="runtime for the face networks (default: OpenVINO when installed, "
                        "else OpenCV's dnn; also LOOKALIKE_BACKEND)")
