"""The why study: see NOTE.md beside this file."""
