"""The fuzz study: see NOTE.md beside this file."""
