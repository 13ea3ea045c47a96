"""For the tests that change a model directory under a registry or a running server: writing a
policy file, a loop of requests that records every answer's version, waiting for a condition,
and which version each worker serves."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

DEADLINE_SECONDS = 30


def write_policy(models: Path, policy: dict | str, name: str = "mnist") -> None:
    """`policy.json` of model `name` (a dict, or any text), written whole and then renamed into
    place, as the README says to."""
    tmp = models / name / ".policy.json.tmp"
    tmp.write_text(policy if isinstance(policy, str) else json.dumps(policy))
    os.replace(tmp, models / name / "policy.json")


def wait_for(condition: Callable[[], object], what: str, seconds: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds}s: {what}")


class ClientLoop(threading.Thread):
    """Keeps sending `calls` in turn (path, JSON body) on several keep-alive connections (so both
    workers serve) until stopped; records each answer's model_version, and every failure."""

    def __init__(self, url: str, calls: list[tuple[str, dict]], connections: int = 4) -> None:
        super().__init__(daemon=True)
        self.url, self.calls, self.connections = url, calls, connections
        self.stop = threading.Event()
        self.versions: list[str] = []   # model_version of every answer, in order
        self.failures: list[str] = []

    def run(self) -> None:
        sessions = [requests.Session() for _ in range(self.connections)]
        deadline = time.monotonic() + 4 * DEADLINE_SECONDS
        while not self.stop.is_set() and time.monotonic() < deadline:
            for session in sessions:
                for path, body in self.calls:
                    try:
                        response = session.post(self.url + path, json=body, timeout=10)
                        if response.status_code == 200:
                            self.versions.append(response.json()["model_version"])
                        else:
                            self.failures.append(f"{path}: {response.status_code} {response.text}")
                    except requests.RequestException as e:
                        self.failures.append(f"{path}: {e!r}")

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=DEADLINE_SECONDS)

    def answered_lately(self, version: str, count: int = 50) -> bool:
        """Whether the last `count` answers (and at least that many) all came from `version`."""
        last = self.versions[-count:]
        return len(last) == count and set(last) == {version}


def workers_serving(url: str, model: str = "mnist") -> list[str]:
    """The version each live worker answers `model`'s default requests with, from its
    `digitnet_model_version` series: each worker polls the directory on its own, so one can
    switch before the other."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    pattern = rf'^digitnet_model_version\{{(?=[^}}]*model="{re.escape(model)}")[^}}]*\}} (\S+)$'
    return sorted(str(int(float(v))) for v in re.findall(pattern, text, re.M))
