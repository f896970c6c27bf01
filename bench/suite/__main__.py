import sys

from bench.suite.runner import main

sys.exit(main())
