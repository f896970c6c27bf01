"""``python -m lookalike.cli`` (the same as ``lookalike``)."""

import sys

from lookalike.cli.main import main

sys.exit(main())
