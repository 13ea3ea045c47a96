import sys

import trainer.blas  # noqa: F401  (before NumPy: one BLAS thread)
from trainer.cli import main

sys.exit(main())
