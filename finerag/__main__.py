"""`python -m finerag` runs the command line."""

import sys

from finerag.cli import main

sys.exit(main())
