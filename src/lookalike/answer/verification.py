"""Calibration constants of ``lookalike.compare`` (written by
``bench/studies/compare/bench_compare.py
--write`` and ``bench/studies/compare/bench_compare_wild.py --write``).

Per embedder: ``a``, ``b`` of the logistic ``P(same) = 1 / (1 + exp(-(a·s + b + (c + d·s)·z)))``
of the cosine similarity ``s`` and the size term ``z`` of the smaller face (``c``, ``d``: 0
where the fit has none; :func:`lookalike.answer.comparison.size_term`), at even prior odds;
``threshold``, the verdict's similarity threshold, and where given ``threshold_large`` from
``size_px[1]`` pixels on (interpolated from ``size_px[0]``). See BENCHMARKS.md ("Compare two
faces", "Compare on real photos").
"""

PLATT: dict[str, dict] = {
    'dlib': {
        'a': 146.7171,
        'b': -132.6529,
        'threshold': 0.92,
        'provenance': (
            'bench/studies/compare/bench_compare.py --embedder dlib on LFW pairs.txt (6,000 pairs, '
            'lfw_funneled 150 px), 2026-12-06 00:25 UTC, commit b966424 '
            '(platt_all_pairs of bench/results/compare_dlib.json); threshold: the '
            "embedder's own"
        ),
    },
    'sface': {
        'a': 35.1731,
        'b': -12.2594,
        'c': -1.0707,
        'd': 1.3761,
        'threshold': 0.34,
        'threshold_large': 0.4,
        'size_px': [80.0, 160.0],
        'provenance': (
            'bench/studies/compare/bench_compare_wild.py --write on LFW pairs.txt (6000 pairs) and '
            "the wild set's pairs (424581), 2026-12-07 02:07 UTC, commit b22f987; "
            "size term z = log2(clip(w, 40, 300) / 100) of the smaller face's width"
        ),
    },
    'sface+dlib': {
        'a': 54.4969,
        'b': -33.2235,
        'threshold': 0.63,
        'provenance': (
            'bench/studies/compare/bench_compare.py --embedder sface+dlib --variants-per-fold 0 on '
            'LFW pairs.txt (6,000 pairs, lfw_funneled 150 px), 2026-12-06 01:55 '
            'UTC, commit 6bb14c0 (platt_all_pairs of '
            "bench/results/compare_sface_dlib.json); threshold: the embedder's own"
        ),
    },
}
