"""The wild study: see NOTE.md beside this file."""
