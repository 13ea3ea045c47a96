"""The model repository's place, for the programs run beside the service: the trainer, the
evaluations and the benchmarks read MODEL_DIR and MODEL_NAME here, and nowhere else.

The service reads the same two variables, with every other of its settings, through
service/config.py's `Settings`, whose defaults are these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_MODEL_DIR = Path("models")
DEFAULT_MODEL_NAME = "mnist"


def model_dir(env: Mapping[str, str] = os.environ) -> Path:
    """$MODEL_DIR, the model repository (./models when unset)."""
    return Path(env.get("MODEL_DIR") or DEFAULT_MODEL_DIR)


def model_name(env: Mapping[str, str] = os.environ) -> str:
    """$MODEL_NAME, the model a program works on when told none (mnist when unset)."""
    return env.get("MODEL_NAME") or DEFAULT_MODEL_NAME
