"""The video study: see NOTE.md beside this file."""
