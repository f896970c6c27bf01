"""The group study: see NOTE.md beside this file."""
