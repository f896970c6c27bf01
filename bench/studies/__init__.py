"""One-off investigations, one folder per topic, each with its NOTE.md (what it measured,
the commands, where its figures are). Run a script from the repository root as
``python -m bench.studies.<topic>.<script>``."""
