"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--backend``, on every command that runs the face networks (sets LOOKALIKE_BACKEND,
    so worker processes follow; see :mod:`lookalike.runtime`)."""
    parser.add_argument("--backend", choices=("openvino", "opencv"),
                        help="runtime for the face networks (default: OpenVINO when installed, "
                        "else OpenCV's dnn; also LOOKALIKE_BACKEND)")


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cluster`` and ``--ship`` for the commands that make embeddings
    (lookalike.face.cluster)."""
    from lookalike.face.cluster import SHIP_MODES  # no Dask import

    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="make the embeddings on a Dask cluster: tcp://HOST:8786 (a running "
                        "scheduler), local (one worker process per core) or local:N; needs "
                        "lookalike[cluster]")
    parser.add_argument("--ship", choices=SHIP_MODES, default="auto",
                        help="with --cluster, how photos reach the workers: paths (every worker "
                        "sees these files), bytes (sent from here), auto (default: paths when "
                        "the workers can read them, else bytes)")
