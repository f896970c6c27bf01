"""The web study: see NOTE.md beside this file."""
