"""Console progress: a bar that fills during an epoch and one summary line per epoch."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class EpochProgress:
    """Draws `epoch 3/20 [#######.....] 120/422` on a terminal; stays silent when the output is
    a file or a pipe (a log should hold the per-epoch lines, not thousands of redraws)."""

    WIDTH = 30

    def __init__(self, epochs: int, stream: TextIO = sys.stderr):
        self.epochs, self.stream = epochs, stream
        self.interactive = stream.isatty()
        self.epoch, self.last_draw = 1, 0.0

    def on_batch(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.interactive or (now - self.last_draw < 0.1 and done < total):
            return
        self.last_draw = now
        filled = self.WIDTH * done // total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\repoch {self.epoch}/{self.epochs} [{bar}] {done}/{total}")
        self.stream.flush()

    def on_epoch(self, epoch: int, row: dict) -> None:
        if self.interactive:
            self.stream.write("\r\033[K")  # clear the bar before the summary line
        parts = [f"epoch {epoch:>3}/{self.epochs}", f"loss {row['loss']:.4f}",
                 f"train acc {row['accuracy']:.4f}"]
        if "val_accuracy" in row:
            parts.append(f"val acc {row['val_accuracy']:.4f}")
        if "test_accuracy" in row:
            parts.append(f"test acc {row['test_accuracy']:.4f}")
        parts.append(f"{row['seconds']:.1f} s")
        print("  ".join(parts), file=self.stream, flush=True)
        self.epoch = epoch + 1
