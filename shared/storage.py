"""Atomic file writes: a file appears whole at its path or not at all.

A writer writes a temp file in the target's directory, fsyncs it, then links it into place (or
renames, to replace). The temp file's name (`.<stem>.<random>.partial`) is never a version's, so
a watcher never picks up a half-written file; a writer killed midway leaves only such a file,
which the next writer removes once it is old.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

PARTIAL_SUFFIX = ".partial"
STALE_PARTIAL_SECONDS = 3600  # a temp file this old was left by a writer that died


def write_atomically(path: Path, write: Callable[[BinaryIO], None], *, overwrite: bool = False) -> None:
    """Call `write(f)` on a temp file beside `path`, fsync it, and put it at `path`. A crash at
    any point leaves either no file at `path` or the whole file, never a part. With
    `overwrite=False` an existing file is never replaced (raises FileExistsError), so two
    writers cannot both claim one path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if `path` exists, unlike rename
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a link or rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_partials(directory: Path, older_than_seconds: float = STALE_PARTIAL_SECONDS) -> None:
    """Delete temp files that a killed writer left behind. Only old ones: a young one may belong
    to a writer still at work."""
    cutoff = time.time() - older_than_seconds
    for partial in Path(directory).glob(f".*{PARTIAL_SUFFIX}"):
        try:
            if partial.stat().st_mtime < cutoff:
                partial.unlink()
        except FileNotFoundError:
            pass  # another writer cleaned it first
