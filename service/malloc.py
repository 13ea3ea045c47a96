"""glibc's malloc told to keep the memory a request frees for the next request.

By default glibc hands every block over 128 KiB to the kernel with mmap and gives it back on
free (the threshold rises only as such blocks are freed), and it trims the top of its heap once
that holds twice the threshold unused. A request that parses a megabyte of JSON into arrays of a
megabyte or more then gets fresh pages from the kernel every time, zeroed and faulted in one by
one: system time that grows with the requests a worker serves at once (a gevent worker serves
many), and docs/serving-performance.md has it measured. With the thresholds set, a worker keeps
blocks of up to MMAP_THRESHOLD in its heap and trims it only beyond TRIM_THRESHOLD: its memory
stays at the high-water mark of what it served at once, which the body and batch limits bound.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024   # the largest glibc takes on 64-bit systems
TRIM_THRESHOLD = 128 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set this process's thresholds; False where the C library has no glibc mallopt (macOS,
    or musl's, which ignores it)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
