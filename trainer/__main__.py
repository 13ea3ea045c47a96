import os

# One BLAS thread, set before NumPy loads: the trainer's other core distorts the next batch in a
# thread of its own (trainer/network.py, mini_batches). OpenBLAS threads would compete with it,
# and they spin-wait: on a busy 2-core machine epochs were measured 5-10 times slower with them.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402

from trainer.cli import main  # noqa: E402

sys.exit(main())
