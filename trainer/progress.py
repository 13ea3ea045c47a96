"""Console progress: a tqdm bar that fills during an epoch and one summary line per epoch."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


class EpochProgress:
    """A bar per epoch (`epoch 3/20 |#####   | 120/422 [00:01<00:02, 95 batch/s]`) on a
    terminal, and one summary line per epoch always. On a file or a pipe the bar is off (a log
    should hold the per-epoch lines, not thousands of redraws)."""

    def __init__(self, epochs: int, stream: TextIO = sys.stderr):
        self.epochs, self.stream = epochs, stream
        self.interactive = stream.isatty()
        self.epoch, self.bar = 1, None

    def on_batch(self, done: int, total: int) -> None:
        if not self.interactive:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, desc=f"epoch {self.epoch}/{self.epochs}", unit="batch",
                            file=self.stream, leave=False, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def on_epoch(self, epoch: int, row: dict) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        parts = [f"epoch {epoch:>3}/{self.epochs}", f"loss {row['loss']:.4f}",
                 f"train acc {row['accuracy']:.4f}"]
        if "val_accuracy" in row:
            parts.append(f"val acc {row['val_accuracy']:.4f}")
        if "test_accuracy" in row:
            parts.append(f"test acc {row['test_accuracy']:.4f}")
        parts.append(f"{row['seconds']:.1f} s")
        print("  ".join(parts), file=self.stream, flush=True)
        self.epoch = epoch + 1
