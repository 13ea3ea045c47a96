"""Starting and stopping the peer model servers, each tuned for this machine's cores.

    kserve     harness/peers/kserve_server.py under kserve.ModelServer, `workers` uvicorn processes
    mlserver   `mlserver start` of a folder with settings.json and the model's
               model-settings.json: its scikit-learn runtime reading sklearn_transfer.py's pickle,
               inference in its HTTP process unless told otherwise

Every process runs NumPy's matrix library on one thread, as digitnet's gunicorn workers do.

Each runs in its own process group, started here and stopped by that group's id (SIGTERM, then
SIGKILL), so every worker it forked goes with it. `PeerServer` waits until the model is ready.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from harness.peers import venvs
from harness.peers.v2 import V2Endpoint
from harness.server import free_port, process_cpu_seconds, wait_until_idle

START_TIMEOUT_SECONDS = 120  # a peer imports a web framework and gRPC: slow on a busy machine
STOP_TIMEOUT_SECONDS = 30
# MLServer runs inference in this many processes beside its HTTP process (0: in the HTTP process).
# 0 measured fastest on 2 cores for 1 and 256 images alike: a parallel worker costs a queue round
# trip per request and the HTTP process then competes with it for a core. Every peer process runs
# one matrix library thread, as digitnet's workers do: two threads per process measured slower
# for batches (the threads spin while waiting for a core).
MLSERVER_PARALLEL_WORKERS = 0


class PeerServer:
    """A peer server's process group, answering on loopback once its model is ready."""

    def __init__(self, name: str, command: list[str], log_path: Path, endpoint: V2Endpoint,
                 blas_threads: int) -> None:
        self.name, self.endpoint, self.log_path = name, endpoint, log_path
        self._log = open(log_path, "wb")  # closed in stop()
        # In the log's folder: MLServer leaves folders (.envs, .metrics) where it starts.
        self.process = subprocess.Popen(command, cwd=log_path.parent, env=venvs.peer_env(blas_threads),
                                        stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return self.endpoint.url

    def wait_until_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        ready = f"{self.url}/v2/models/{self.endpoint.model}/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log()[-4000:]}")
            try:
                if requests.get(ready, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of every process in the server's group (its workers)."""
        return sum(process_cpu_seconds(pid) for pid in self.processes())

    def processes(self) -> list[int]:
        """The pids of the server's process group: the one started here and all it forked."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                group = int(stat.read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue  # a process that ended meanwhile
            if group == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def wait_until_idle(self) -> None:
        """Until the server stops using CPU: what the last client left queued is done."""
        wait_until_idle(self.cpu_seconds)

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL if it lingers."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                continue
        self._log.close()

    def __enter__(self) -> PeerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_kserve(exported: Path, scratch: Path, workers: int) -> PeerServer:
    """KServe's ModelServer with `workers` uvicorn processes serving export.py's `exported`."""
    python = venvs.ensure("kserve") / "bin" / "python"
    port = free_port()
    command = [str(python), "-m", "harness.peers.kserve_server", "--model_name", "mnist",
               "--exported", str(exported), "--http_port", str(port),
               "--grpc_port", str(free_port()), "--workers", str(workers)]
    return PeerServer("KServe", command, scratch / "kserve.log",
                      V2Endpoint("KServe", f"http://127.0.0.1:{port}", binary=True), blas_threads=1)


def start_mlserver(exported: Path, scratch: Path, parallel_workers: int = MLSERVER_PARALLEL_WORKERS,
                   blas_threads: int = 1) -> PeerServer:
    """MLServer's scikit-learn runtime on the MLPClassifier made from export.py's `exported`,
    inference in `parallel_workers` processes beside the HTTP one (0: in it), each running
    `blas_threads` matrix library threads."""
    venv = venvs.ensure("mlserver")
    folder = scratch / f"mlserver-{parallel_workers}-{blas_threads}"
    (folder / "mnist").mkdir(parents=True, exist_ok=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "harness.peers.sklearn_transfer",
                    str(exported), str(folder / "mnist" / "model.joblib")],
                   cwd=venvs.ROOT, env=venvs.peer_env(), check=True)
    port = free_port()
    write_mlserver_settings(folder, port, parallel_workers)
    return PeerServer("MLServer", [str(venv / "bin" / "mlserver"), "start", str(folder)],
                      folder / "mlserver.log",
                      V2Endpoint("MLServer", f"http://127.0.0.1:{port}", probabilities="predict_proba",
                                 label="predict"), blas_threads)


def write_mlserver_settings(folder: Path, port: int, parallel_workers: int) -> None:
    """The server's settings.json (loopback ports, inference workers) and the model's."""
    settings = {"host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
                "metrics_port": free_port(), "parallel_workers": parallel_workers,
                "debug": False}
    (folder / "settings.json").write_text(json.dumps(settings))
    model = {"name": "mnist", "implementation": "mlserver_sklearn.SKLearnModel",
             "parameters": {"uri": "./model.joblib", "version": "1"}}
    (folder / "mnist" / "model-settings.json").write_text(json.dumps(model))
