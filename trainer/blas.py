"""One BLAS thread for training: import this before NumPy (the variables are read when it loads).

The trainer's other core distorts the next batch in a thread of its own (trainer/batches.py,
`mini_batches`). OpenBLAS threads would compete with it, and they spin-wait: on a busy 2-core
machine they make epochs several times slower. A value already set is kept.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
