"""The article study: see NOTE.md beside this file."""
