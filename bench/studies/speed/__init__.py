"""The speed study: see NOTE.md beside this file."""
