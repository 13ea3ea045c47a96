"""A real gunicorn process serving the fixture model on a free loopback port.

Tests talk HTTP to it exactly as users do. The session server serves the shared `model_dir`
(never modified); tests that change a model directory start their own `GunicornServer` on a copy.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GunicornServer:
    """`gunicorn -c service/gunicorn.conf.py "service.app:create_app()"` as a subprocess."""

    def __init__(self, model_dir: Path, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port),
                       "MODEL_DIR": str(model_dir), "MODEL_NAME": "mnist",
                       "WEB_CONCURRENCY": "2", "MODEL_POLL_SECONDS": "0.2", **env}
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each server gets its own
        self._log = open(log_path, "wb")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(
            [str(GUNICORN), "-c", "service/gunicorn.conf.py", "service.app:create_app()"],
            cwd=ROOT, env=environment, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_until_live()

    def _wait_until_live(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/v2/health/live", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn not live after {START_TIMEOUT_SECONDS}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: gunicorn's graceful shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def server(model_dir: Path, tmp_path_factory) -> GunicornServer:
    gunicorn = GunicornServer(model_dir, tmp_path_factory.mktemp("gunicorn") / "server.log",
                              MAX_IMAGE_PIXELS="4000000")
    yield gunicorn
    gunicorn.stop()


@pytest.fixture(scope="session")
def url(server: GunicornServer) -> str:
    return server.url
