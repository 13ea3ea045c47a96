"""Which environment variables the code reads: for the checks that a deployment sets no variable
the code ignores (a typo, or a setting that was renamed, is then caught).

The service's are recorded while its settings are read, as the server reads them: the two
`from_env` functions get a mapping that notes every key asked for, and gunicorn.conf.py runs in a
subprocess whose os.environ does the same. Code that reads os.environ at import (the trainer's)
is scanned for `environ.get("NAME")` and `environ["NAME"]`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from service.config import Settings
from service.security import SecuritySettings

ROOT = Path(__file__).resolve().parents[2]

RECORD_GUNICORN_CONF = """
import json, os, runpy, sys

class Recording(dict):
    def __init__(self, base):
        super().__init__(base)
        self.read = set()
    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)
    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)
    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)
    def setdefault(self, key, default=None):
        self.read.add(key)
        return super().setdefault(key, default)

os.environ = Recording(os.environ)
runpy.run_path("service/gunicorn.conf.py")
print(json.dumps(sorted(os.environ.read)))
"""


class RecordingMapping(Mapping[str, str]):
    """An empty environment that notes every variable asked for."""

    def __init__(self) -> None:
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        raise KeyError(key)

    def get(self, key, default=None):
        self.read.add(key)
        return default

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def service_env_reads(metrics_dir: Path) -> set[str]:
    """Every variable the service's settings and its gunicorn configuration read. The gunicorn
    configuration clears its metrics folder, so it gets one of its own under `metrics_dir`."""
    env = RecordingMapping()
    Settings.from_env(env)
    SecuritySettings.from_env(env)
    result = subprocess.run([sys.executable, "-c", RECORD_GUNICORN_CONF], cwd=ROOT, capture_output=True,
                            text=True, timeout=60,
                            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir / "metrics")})
    assert result.returncode == 0, result.stderr
    return env.read | set(json.loads(result.stdout))


def source_env_reads(folder: Path) -> set[str]:
    """Variable names read with `environ.get("NAME")` or `environ["NAME"]` in a folder's modules."""
    pattern = re.compile(r"""environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']""")
    return {name for path in folder.rglob("*.py") for name in pattern.findall(path.read_text())}
