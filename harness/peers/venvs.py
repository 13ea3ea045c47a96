"""The peers' virtual environments: one per peer, outside git, made on first use.

Each peer installs its pinned list (requirements/peers/<peer>.txt) into
$PEERS_DIR/<peer> (default ~/.cache/digitnet-peers/<peer>), never into the project's .venv: the
peers are heavy (web frameworks, gRPC) and pin their own versions of shared packages. An
environment is made again when its list changes. Runs the peer code of this folder with the
project's root on PYTHONPATH, so the peers use digitnet's forward pass (shared/model.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements" / "peers"
INSTALLED = ".installed"  # holds the list the environment was made from
INSTALL_TIMEOUT_SECONDS = 1800
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def peers_dir() -> Path:
    return Path(os.environ.get("PEERS_DIR") or Path.home() / ".cache" / "digitnet-peers")


def environment(peer: str) -> Path:
    """The folder of `peer`'s environment (made or not: see `ensure`)."""
    return peers_dir() / peer


def is_ready(peer: str) -> bool:
    """Whether `peer`'s environment exists and was made from its current pinned list."""
    stamp = environment(peer) / INSTALLED
    return stamp.is_file() and stamp.read_text() == (REQUIREMENTS / f"{peer}.txt").read_text()


def ensure(peer: str) -> Path:
    """`peer`'s environment, made (minutes, once) when missing or out of date."""
    venv = environment(peer)
    if is_ready(peer):
        return venv
    print(f"making {peer}'s environment in {venv} (once; a few minutes)", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    requirements = REQUIREMENTS / f"{peer}.txt"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "-r", str(requirements)],
                   check=True, timeout=INSTALL_TIMEOUT_SECONDS)
    (venv / INSTALLED).write_text(requirements.read_text())
    return venv


def peer_env(blas_threads: int = 1, **extra: str) -> dict[str, str]:
    """The environment a peer process runs in: this project's root importable, NumPy's matrix
    library at `blas_threads` threads per process (digitnet's workers run one each), and `extra`."""
    threads = {name: str(blas_threads) for name in BLAS_THREADS}
    return {**os.environ, "PYTHONPATH": str(ROOT), **threads, **extra}
