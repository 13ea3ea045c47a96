"""The deployment as `docker-compose.yml` runs it, for the compose tests: build the three images, run
the stack (train, then replicas of the service behind the proxy) with MNIST from $MNIST_DIR and a
short training configuration, wait until every replica is healthy and the proxy answers, and tear
it all down.

Uses its own project name and a free port, so it never touches a user's stack, and only this
compose file: a user's docker-compose.override.yml must not change what is tested.

Environment: MNIST_DIR (required), BASE_IMAGE (default python:3.12-slim), PROXY_BASE_IMAGE
(default nginx:1.30), COMPOSE (default: `docker compose` if present, else `docker-compose`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness.containers import containers, docker, inspect
from harness.server import ROOT, free_port

REPLICAS = 3
POLL_SECONDS = 1.0               # the service's MODEL_POLL_SECONDS in the stack
HEALTHY_SECONDS = 120            # for each replica to be healthy after `up`
# Three epochs of one hidden layer of 128: good enough to read digits, trained in seconds.
TRAIN_ARGS = "--epochs 3 --hidden 128"
# Behind Docker's userland proxy every client on this host has one address (the network's
# gateway), so the per-client limits would throttle the load tests: they are set out of the way
# here, and tested on a second proxy with low limits (tests/deploy/test_compose.py).
UNLIMITED_PROXY = {"PROXY_RATE": "1000000", "PROXY_BURST": "1000000",
                   "PROXY_CONNECTIONS": "60000"}  # nginx: < 65536


def compose_command() -> list[str]:
    """$COMPOSE, else `docker compose` where that works, else `docker-compose`."""
    if os.environ.get("COMPOSE"):
        return shlex.split(os.environ["COMPOSE"])
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return ["docker", "compose"] if plugin.returncode == 0 else ["docker-compose"]


def missing_tools() -> str | None:
    """Why the stack cannot run here (no docker, no daemon, no Compose, no MNIST), or None."""
    if not shutil.which("docker"):
        return "docker is not installed"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "no Docker daemon answers (docker info failed)"
    if subprocess.run([*compose_command(), "version"], capture_output=True).returncode != 0:
        return f"Compose ({' '.join(compose_command())}) is not installed"
    if not os.environ.get("MNIST_DIR"):
        return "MNIST_DIR is not set: point it at a folder with the MNIST files"
    return None


@dataclass
class Stack:
    """One compose project: the proxy published on 127.0.0.1 at a free port."""

    project: str = field(default_factory=lambda: f"digitnet-test-{os.getpid()}")
    port: int = field(default_factory=free_port)
    model: str = "mnist"
    replicas: int = REPLICAS
    poll_seconds: float = POLL_SECONDS

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What docker-compose.yml reads, for this stack."""
        return {**os.environ, **UNLIMITED_PROXY,
                # absolute: compose reads a bare name as a volume name
                "MNIST_DIR": str(Path(os.environ["MNIST_DIR"]).resolve()),
                "PORT": str(self.port), "PUBLISH_ADDRESS": "127.0.0.1", "MODEL_NAME": self.model,
                "TRAIN_ARGS": TRAIN_ARGS, "MODEL_POLL_SECONDS": f"{self.poll_seconds:g}",
                "BASE_IMAGE": os.environ.get("BASE_IMAGE", "python:3.12-slim"),
                "PROXY_BASE_IMAGE": os.environ.get("PROXY_BASE_IMAGE", "nginx:1.30")}

    def command(self, *args: str) -> list[str]:
        """The compose command line for this project and only this file."""
        return [*compose_command(), "--file", "docker-compose.yml", "--project-name", self.project, *args]

    def compose(self, *args: str, timeout: float = 1800, capture: bool = False) -> str:
        """Run `compose ARGS`; a failure raises. Its output when `capture`, else it streams."""
        result = subprocess.run(self.command(*args), cwd=ROOT, env=self.environment(), timeout=timeout,
                                text=True, capture_output=capture)
        if result.returncode != 0:
            raise RuntimeError(f"compose {' '.join(args)} failed (exit {result.returncode}): "
                               f"{result.stderr if capture else ''}")
        return result.stdout if capture else ""

    def up(self) -> None:
        """Build the images, train version 1, start the replicas and the proxy, wait until all
        answer."""
        self.compose("build")
        print(docker("image", "ls", "--filter", "reference=digitnet-*",
                     "--format", "image {{.Repository}}:{{.Tag}} {{.Size}}"))
        self.compose("up", "--detach", "--scale", f"service={self.replicas}")
        self.wait_until_healthy()
        trainer = self.compose("logs", "--no-color", "trainer", capture=True)
        print(*(line for line in trainer.splitlines() if "test accuracy" in line or "bundle:" in line),
              sep="\n")

    def wait_until_healthy(self) -> None:
        running = containers(self.project, "service")
        assert len(running) == self.replicas, f"{len(running)} service containers, not {self.replicas}"
        for container in running:
            deadline = time.monotonic() + HEALTHY_SECONDS
            while (health := inspect(container, "{{.State.Health.Status}}")) != "healthy":
                assert time.monotonic() < deadline, \
                    f"replica {container} is {health} after {HEALTHY_SECONDS} s"
                time.sleep(1)
        deadline = time.monotonic() + 30
        while not self.ready():
            assert time.monotonic() < deadline, f"the proxy does not answer {self.url}/v2/health/ready"
            time.sleep(1)

    def ready(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=2)
            return True
        except OSError:
            return False

    def train(self) -> None:
        """One more run of the trainer, as an operator retrains: `run --rm trainer`."""
        self.compose("run", "--rm", "-T", "trainer", timeout=600)

    def logs(self, tail: int = 100) -> str:
        """The last lines each container logged (what compose could tell, even of a failed start)."""
        result = subprocess.run(self.command("logs", "--no-color", "--tail", str(tail)), cwd=ROOT,
                                env=self.environment(), capture_output=True, text=True, timeout=120)
        return result.stdout + result.stderr

    def down(self) -> None:
        subprocess.run(self.command("down", "--volumes", "--remove-orphans"), cwd=ROOT,
                       env=self.environment(), capture_output=True, timeout=300)
