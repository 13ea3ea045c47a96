"""`python -m client ...`: the `digitnet` command without its installed script."""

import sys

from client.cli import main

sys.exit(main())
