"""The face_choice study: see NOTE.md beside this file."""
