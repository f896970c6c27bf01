"""The report study: see NOTE.md beside this file."""
