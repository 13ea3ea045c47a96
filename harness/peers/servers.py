"""Starting and stopping the peer model servers, each tuned for this machine's cores.

    kserve     harness/peers/kserve_server.py under kserve.ModelServer, `workers` uvicorn processes
    mlserver   `mlserver start` of a folder with settings.json and the model's
               model-settings.json: its scikit-learn runtime reading sklearn_transfer.py's pickle,
               inference in its HTTP process unless told otherwise
    bentoml    `bentoml serve` of harness/peers/bentoml_service.py, `workers` processes

Every process runs NumPy's matrix library on one thread, as digitnet's gunicorn workers do.

Each is stopped by SIGTERM to the process started here, then SIGKILL to every process it forked if
it lingers; each runs in a session of its own, away from the terminal's signals. `PeerServer`
waits until the model is ready.
"""

from __future__ import annotations

import contextlib
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
                 env: dict[str, str]) -> None:
        self.name, self.endpoint, self.log_path = name, endpoint, log_path
        self._log = open(log_path, "wb")  # closed in stop()
        # In the log's folder: MLServer leaves folders (.envs, .metrics) where it starts.
        self.process = subprocess.Popen(command, cwd=log_path.parent, env=env,
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
        ready = self.endpoint.ready_url
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
        """User + system CPU time so far of the server's processes (its workers among them)."""
        return sum(process_cpu_seconds(pid) for pid in self.processes())

    def processes(self) -> list[int]:
        """The pids of the process started here and of all it forked, theirs too (BentoML's
        workers start sessions of their own, so its process group does not hold them all)."""
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # a process that ended meanwhile
        found = [self.process.pid]
        for pid in found:  # grows as children are found: a breadth-first walk down the tree
            found += [child for child, parent in parents.items() if parent == pid]
        return found

    def wait_until_idle(self) -> None:
        """Until the server stops using CPU: what the last client left queued is done."""
        wait_until_idle(self.cpu_seconds)

    def stop(self) -> None:
        """SIGTERM to the process started here (each peer stops its own workers), and SIGKILL to
        every process of the server if it lingers."""
        processes = self.processes()
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            for pid in processes:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()
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
                      V2Endpoint("KServe", f"http://127.0.0.1:{port}", binary=True), venvs.peer_env())


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
                                 label="predict"), venvs.peer_env(blas_threads))


def start_bentoml(exported: Path, scratch: Path, workers: int) -> PeerServer:
    """`bentoml serve` of bentoml_service.py with `workers` processes serving export.py's `exported`."""
    venv = venvs.ensure("bentoml")
    port = free_port()
    command = [str(venv / "bin" / "bentoml"), "serve", "harness.peers.bentoml_service:Digits",
               "--host", "127.0.0.1", "--port", str(port)]
    env = venvs.peer_env(DIGITNET_EXPORTED=str(exported), DIGITNET_BENTOML_WORKERS=str(workers),
                         BENTOML_HOME=str(scratch / "bentoml-home"), BENTOML_DO_NOT_TRACK="True")
    return PeerServer("BentoML", command, scratch / "bentoml.log",
                      V2Endpoint("BentoML", f"http://127.0.0.1:{port}", live_path="/livez",
                                 ready_path="/readyz"), env)


def write_mlserver_settings(folder: Path, port: int, parallel_workers: int) -> None:
    """The server's settings.json (loopback ports, inference workers) and the model's."""
    settings = {"host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
                "metrics_port": free_port(), "parallel_workers": parallel_workers,
                "debug": False}
    (folder / "settings.json").write_text(json.dumps(settings))
    model = {"name": "mnist", "implementation": "mlserver_sklearn.SKLearnModel",
             "parameters": {"uri": "./model.joblib", "version": "1"}}
    (folder / "mnist" / "model-settings.json").write_text(json.dumps(model))
