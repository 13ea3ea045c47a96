"""A trainer process killed with SIGKILL in the middle of writing a bundle.

The child saves a model with `save_new_version`, the trainer's own call, but stalls at a chosen
point (after the first megabyte of the file, or with the file whole but not yet linked into
place) and says so through a marker file; the parent then kills it with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.server import ROOT

STAGES = ("mid-write", "before-link")
STALL_SECONDS = 120  # the parent kills the child long before this

CHILD = """
import os, sys, time
from pathlib import Path
import numpy as np
from shared.repository import save_new_version
from shared.model import Model

model_dir, stage, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
stall = float(sys.argv[4])

def stall_here():
    marker.touch()
    time.sleep(stall)

if stage == "mid-write":
    real_fdopen = os.fdopen
    class Stalling:
        def __init__(self, f): self.f, self.written = f, 0
        def write(self, data):
            n = self.f.write(data)
            self.written += n
            if self.written > 1 << 20:
                self.f.flush()
                stall_here()
            return n
        def __getattr__(self, name): return getattr(self.f, name)
        def __enter__(self): return self
        def __exit__(self, *exc): return self.f.__exit__(*exc)
    os.fdopen = lambda fd, mode: Stalling(real_fdopen(fd, mode))
else:
    real_link = os.link
    def link(src, dst):
        stall_here()
        real_link(src, dst)
    os.link = link

rng = np.random.default_rng(0)
sizes = [784, 2048, 10]  # about 6 MiB: the first megabyte is well inside the file
model = Model(weights=[rng.normal(0, 0.01, (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])],
              biases=[np.zeros(b, np.float32) for b in sizes[1:]], hidden_activations=["relu"],
              input_min=0.0, input_max=255.0, classes=list(range(10)))
save_new_version(model_dir, "mnist", model, {"metrics": {}})
"""


def export_killed(model_dir: Path, stage: str, scratch: Path, timeout: float = 60) -> None:
    """Run the exporting child until it reaches `stage`, then SIGKILL it."""
    assert stage in STAGES
    marker = scratch / f"reached-{stage}"
    marker.unlink(missing_ok=True)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(model_dir), stage, str(marker),
                              str(STALL_SECONDS)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if child.poll() is not None:
                raise RuntimeError(f"the exporting child exited with {child.returncode} before {stage}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the exporting child did not reach {stage} in {timeout}s")
            time.sleep(0.01)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
