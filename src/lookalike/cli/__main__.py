"""``python -m lookalike.cli`` (the same as ``lookalike``)."""

import sys

from .main import main

sys.exit(main())
