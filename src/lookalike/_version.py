"""The package version, in a leaf module: the package ``__init__`` re-exports it, and modules
that write it into files take it from here (never from the package, which imports them)."""

__version__ = "0.1.0"
