"""The foundation study: see NOTE.md beside this file."""
