"""Calibration constants of ``lookalike.compare`` (written by ``bench/bench_compare.py --write``).

Per embedder: ``a``, ``b`` of the Platt logistic ``P(same) = 1 / (1 + exp(-(a·s + b)))`` of the
cosine similarity ``s`` (fitted on LFW pairs.txt, even prior odds), and ``threshold``, the
verdict's similarity threshold. See BENCHMARKS.md ("Compare two faces").
"""

PLATT: dict[str, dict] = {
    'dlib': {
        'a': 146.7171,
        'b': -132.6529,
        'threshold': 0.92,
        'provenance': (
            'bench/bench_compare.py --embedder dlib on LFW pairs.txt (6,000 pairs, '
            'lfw_funneled 150 px), 2026-12-06 00:25 UTC, commit b966424 '
            '(platt_all_pairs of bench/results/compare_dlib.json); threshold: the '
            "embedder's own"
        ),
    },
    'sface': {
        'a': 31.6802,
        'b': -10.4876,
        'threshold': 0.34,
        'provenance': (
            'bench/bench_compare.py --write on LFW pairs.txt (6,000 pairs, '
            'lfw_funneled 150 px), 2026-12-05 19:27 UTC, commit b02586b'
        ),
    },
    'sface+dlib': {
        'a': 54.4969,
        'b': -33.2235,
        'threshold': 0.63,
        'provenance': (
            'bench/bench_compare.py --embedder sface+dlib --variants-per-fold 0 on '
            'LFW pairs.txt (6,000 pairs, lfw_funneled 150 px), 2026-12-06 01:55 '
            'UTC, commit 6bb14c0 (platt_all_pairs of '
            "bench/results/compare_sface_dlib.json); threshold: the embedder's own"
        ),
    },
}
