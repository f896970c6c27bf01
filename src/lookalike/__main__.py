"""``python -m lookalike`` runs the command-line tool."""

import sys

from lookalike.cli import main

sys.exit(main())
