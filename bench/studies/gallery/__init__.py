"""The gallery study: see NOTE.md beside this file."""
