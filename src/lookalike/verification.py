"""Calibration constants of ``lookalike.compare`` (written by ``bench/bench_compare.py --write``).

Per embedder: ``a``, ``b`` of the Platt logistic ``P(same) = 1 / (1 + exp(-(a·s + b)))`` of the
cosine similarity ``s`` (fitted on LFW pairs.txt, even prior odds), and ``threshold``, the
verdict's similarity threshold. See BENCHMARKS.md ("Compare two faces").
"""

PLATT: dict[str, dict] = {
    'sface': {
        'a': 28.7046,
        'b': -9.5582,
        'threshold': 0.34,
        'provenance': (
            'bench/bench_compare.py --write on LFW pairs.txt (6,000 pairs, '
            'lfw_funneled 150 px), 2026-12-05 19:12 UTC, commit dd2efa3'
        ),
    },
}
