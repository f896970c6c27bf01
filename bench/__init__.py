"""The benchmarks: ``bench.suite`` (the regression suite, ``make bench``) and ``bench.studies``
(one-off investigations, each with its NOTE.md). Run from the repository root as modules:
``python -m bench.suite``, ``python -m bench.studies.<topic>.<script>``."""
