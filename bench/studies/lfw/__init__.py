"""The lfw study: see NOTE.md beside this file."""
