"""The compare study: see NOTE.md beside this file."""
