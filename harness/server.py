"""A real gunicorn serving a model directory on a free loopback port: the one server launcher of
the service, browser and reliability tests and of the benchmarks.

It runs `gunicorn -c service/gunicorn.conf.py "service.app:create_app()"` as `make serve` does,
and exposes what fault tests and benchmarks need: the master's and workers' pids, their memory
and CPU time, signals, the log and the exit code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).parent / "gunicorn"
START_TIMEOUT_SECONDS = 60  # a busy 2-core machine; normally 1-2 s
SECURITY_VARIABLES = ("API_TOKEN", "API_TOKEN_FILE", "HEALTH_PUBLIC", "METRICS_PUBLIC", "CORS_ALLOW_ORIGINS")


@dataclass(frozen=True)
class Launch:
    """How gunicorn is started: bound to `host` and `port` (None: a free one), under `prefix`
    (e.g. `setpriv` to drop capabilities), with `gunicorn_args`, serving the factory `app` (a
    benchmark's variant of the service)."""

    host: str = "127.0.0.1"
    port: int | None = None
    app: str = "service.app:create_app()"
    prefix: Sequence[str] = ()
    gunicorn_args: Sequence[str] = ()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Server:
    """`gunicorn -c service/gunicorn.conf.py "service.app:create_app()"`, stopped by its pid.

    `launch` says how gunicorn starts (see Launch); `env` adds variables to its environment.
    """

    def __init__(self, model_dir: Path, log_path: Path, *, workers: int = 2, launch: Launch = Launch(),
                 **env: str) -> None:
        host = launch.host
        self.port = launch.port or free_port(host)
        self.url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        self.log_path = Path(log_path)
        # The caller's shell may set the security knobs: a test sets the ones it means.
        inherited = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES
                     and k != "PROMETHEUS_MULTIPROC_DIR"}  # each server gets its own
        environment = {**inherited, "HOST": host, "PORT": str(self.port),
                       "MODEL_DIR": str(model_dir), "MODEL_NAME": "mnist",
                       "WEB_CONCURRENCY": str(workers), "MODEL_POLL_SECONDS": "0.2", **env}
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(
            [*launch.prefix, str(GUNICORN), "-c", "service/gunicorn.conf.py", *launch.gunicorn_args,
             launch.app],
            cwd=ROOT, env=environment, stdout=self._log, stderr=subprocess.STDOUT)
        self.expected_workers = workers
        try:
            self.wait_for_workers()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def workers(self) -> list[int]:
        """The master's children (its workers), in no particular order."""
        try:
            return [int(p) for p in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        except OSError:
            return []

    def wait_for_workers(self, timeout: float = START_TIMEOUT_SECONDS,
                         exclude: Sequence[int] = ()) -> list[int]:
        """Wait until the master has all its workers (none of `exclude`) and the server answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            workers = self.workers()
            if len(workers) == self.expected_workers and not set(workers) & set(exclude):
                try:
                    if requests.get(self.url + "/v2/health/live", timeout=2).ok:
                        return workers
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn workers not up after {timeout}s:\n{self.log()[-4000:]}")

    def worker_rss_mib(self) -> list[float]:
        return [rss_mib(pid) for pid in self.workers()]

    def reset_peaks(self) -> dict[int, float]:
        """Restart every worker's peak memory; what each holds now (MiB), by pid."""
        return {pid: reset_peak(pid) for pid in self.workers()}

    def peak_growth_mib(self, since: dict[int, float]) -> float:
        """The most any worker's peak memory grew over what it held at `reset_peaks`, MiB."""
        return max(peak_mib(pid) - held for pid, held in since.items())

    def cpu_seconds(self) -> float:
        """User + system CPU time of the workers so far."""
        return sum(process_cpu_seconds(pid) for pid in self.workers())

    def wait_until_idle(self, timeout: float = 10) -> None:
        """Until the workers stop using CPU: what the last client left queued is done."""
        wait_until_idle(self.cpu_seconds, timeout)

    def signal(self, sig: signal.Signals, pid: int | None = None) -> None:
        os.kill(pid or self.pid, sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def requests_logged(self, method: str, path: str) -> list[dict]:
        """The app's log lines of the requests answered for `method path`, oldest first."""
        lines = [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("message") == "request"
                and line.get("method") == method and line.get("path") == path]

    def wait_for_log(self, *fragments: str, timeout: float = START_TIMEOUT_SECONDS) -> str:
        """The first log line holding every fragment, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if all(f in line for f in fragments):
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no log line with {fragments} within {timeout}s:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (gunicorn's graceful shutdown) and wait; SIGKILL if it hangs. The exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        return self.process.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until_idle(cpu_seconds: Callable[[], float], timeout: float = 10) -> None:
    """Until `cpu_seconds` (a server's CPU time so far) stops growing, or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = cpu_seconds()
        if now - last < 0.02:
            return
        last = now


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (fields 14 and 15 of /proc/<pid>/stat); 0 for
    a process that has gone."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def process_minor_faults(pid: int) -> int:
    """Minor page faults of one process so far (field 10 of /proc/<pid>/stat): pages it touched
    for the first time, each handed over and zeroed by the kernel; 0 for a process that has gone."""
    fields = _stat_fields(pid)
    return int(fields[7]) if fields else 0


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command's name (field 3 on); [] once it has gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def rss_mib(pid: int) -> float:
    """Resident memory of one process, MiB."""
    return _status_mib(pid, "VmRSS")


def peak_mib(pid: int) -> float:
    """The most resident memory the process has had (since the last `reset_peak`), MiB."""
    return _status_mib(pid, "VmHWM")


def reset_peak(pid: int) -> float:
    """Restart the process's peak memory from what it holds now (Linux's clear_refs "5");
    returns that, MiB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return rss_mib(pid)


def _status_mib(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024
