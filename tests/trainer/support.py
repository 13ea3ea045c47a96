"""A helper of the trainer's tests: a count of the Python calls a piece of work makes."""

import gc
import sys
from collections.abc import Callable


def python_calls(work: Callable[[], object]) -> int:
    """How many Python and C functions `work()` calls: equal counts for a batch of 1 and of 512
    mean no loop over the batch's items anywhere in it."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    # A garbage collection inside the window would count the finalisers of earlier tests' objects.
    gc.collect()
    gc.disable()
    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
        gc.enable()
    return calls
