"""The regression suite: about ten benchmarks of what a person waits for (predict, compare,
enrolment, grouping, training, serving) and of accuracy (lfw7, LFW), run for two versions of the
sources in turn and compared. ``python -m bench.suite --help``; ``make bench``."""
