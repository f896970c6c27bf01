"""Calibration constants of ``lookalike.compare`` (written by ``bench/bench_compare.py``).

Per embedder: ``a``, ``b`` of the Platt logistic ``P(same) = 1 / (1 + exp(-(a·s + b)))`` of the
cosine similarity ``s``, and ``threshold``, the verdict's similarity threshold. Not fitted yet.
"""

PLATT: dict[str, dict] = {}
