"""What service/gunicorn.conf.py promises beyond serving: keep-alive connections spread over the
workers, a clear refusal to start on a port that is already taken, JSON answers to requests
gunicorn cannot parse, a log made only of JSON lines, IPv6 addresses, and the same service under
the gevent worker class (watcher, metrics, request log, turns between connections)."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from pathlib import Path

import pytest
import requests

from harness.clients import wait_for, workers_serving
from harness.images import mnist_test_digits
from harness.server import Launch, Server
from shared.repository import save_new_version

CONNECTIONS = 16


def established_connections(pid: int, port: int) -> int:
    """How many established TCP connections to `port` the process `pid` holds open."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue  # closed meanwhile
        held += target.startswith("socket:[") and target[8:-1] in inodes
    return held


def test_keep_alive_connections_spread_over_workers(server: Server) -> None:
    """Connections opened while one worker is busy must not all go to the other one, which would
    keep them (keep-alive) and serve alone while its sibling idles.

    The busy worker is simulated by stopping it (SIGSTOP) while a client opens its connections,
    as a load balancer's pool or wrk does at once. With one shared listening socket, the awake
    worker accepted all of them; with a socket per worker, the kernel assigns each connection to
    one worker, and a busy worker's connections wait for it.
    """
    busy, *_ = server.workers()
    server.signal(signal.SIGSTOP, busy)
    try:
        clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(CONNECTIONS)]
        for client in clients:
            client.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        time.sleep(0.5)  # the awake worker accepts whatever it can meanwhile
    finally:
        server.signal(signal.SIGCONT, busy)
    try:
        for client in clients:
            client.settimeout(10)
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        held = {pid: established_connections(pid, server.port) for pid in server.workers()}
    finally:
        for client in clients:
            client.close()
    assert sum(held.values()) == CONNECTIONS
    assert min(held.values()) > 0, f"connections per worker: {held}"


def test_refuses_to_start_on_a_port_in_use(server: Server, model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="exited with 1"):
        Server(model_dir, tmp_path / "second.log", PORT=str(server.port))
    assert f"127.0.0.1:{server.port} is already in use" in (tmp_path / "second.log").read_text()


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as it is and read the whole answer (gunicorn closes after an error)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


MANY_HEADERS = b"".join(b"X-%d: y\r\n" % i for i in range(200))


@pytest.mark.parametrize("request_bytes, status, names", [
    (b"NOT A REQUEST\r\n\r\n", 400, "Invalid"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI Too Long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + MANY_HEADERS + b"\r\n", 431, "Header"),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "HTTP Version"),
], ids=["garbage", "long-line", "many-headers", "bad-version"])
def test_requests_gunicorn_cannot_parse_get_json_errors(server: Server, request_bytes: bytes,
                                                        status: int, names: str) -> None:
    code, headers, body = raw_exchange(server.port, request_bytes)
    assert code == status
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert names in json.loads(body)["error"]


def test_the_whole_log_is_json_lines(server: Server) -> None:
    """gunicorn's own messages share the app's format: a log pipeline parses one shape."""
    raw_exchange(server.port, b"NOT A REQUEST\r\n\r\n")  # gunicorn logs a refused request
    requests_logged = server.wait_for_log("Invalid request from ip=127.0.0.1")
    entries = [json.loads(line) for line in server.log().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    loggers = {entry["logger"] for entry in entries}
    assert {"gunicorn.error", "digitnet.request", "digitnet.registry"} <= loggers
    assert any(e["message"] == f"serving on {server.url} (2 workers)" for e in entries)
    assert json.loads(requests_logged)["level"] == "WARNING"


def test_serves_on_ipv6(model_dir: Path, tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    with Server(model_dir, tmp_path / "v6.log", launch=Launch(host="::1")) as v6:
        assert v6.url.startswith("http://[::1]:")
        assert requests.get(f"{v6.url}/v2/health/ready", timeout=10).json() == {"ready": True}
        assert f"serving on {v6.url}" in v6.log()


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_workers_watch_count_and_log(tmp_path: Path, trained_mlp, mnist, worker_class: str) -> None:
    """Under either worker class each worker's watcher (a greenlet under gevent, a thread under
    gthread) picks up a new version, the metrics add up across workers, and every request has
    its log line."""
    models = tmp_path / "models"

    def save_version() -> None:
        save_new_version(models, "mnist", trained_mlp.model, {"metrics": {}}, recipe="mnist")

    save_version()
    images = mnist_test_digits(mnist, 2, seed=5)[0].reshape(2, 784).tolist()
    with Server(models, tmp_path / "server.log", GUNICORN_WORKER_CLASS=worker_class) as server:
        assert f"Using worker: {worker_class}" in server.log()
        sent = 12
        for _ in range(sent):
            assert requests.post(f"{server.url}/predict", json={"instances": images}, timeout=10).ok
        counted = re.search(r'^digitnet_requests_total\{endpoint="/predict",method="POST",'
                            r'model="mnist",status="200"\} (\S+)$',
                            requests.get(f"{server.url}/metrics", timeout=10).text, re.M)
        assert counted and float(counted.group(1)) == sent
        assert len(server.requests_logged("POST", "/predict")) == sent

        save_version()
        wait_for(lambda: workers_serving(server.url) == ["2", "2"], "both workers serving version 2")
        answer = requests.post(f"{server.url}/predict", json={"instances": images}, timeout=10)
        assert answer.json()["model_version"] == "2"


PIPELINED = 300


def test_gevent_worker_takes_turns_between_connections(model_dir: Path, tmp_path: Path) -> None:
    """A connection whose next request is always waiting (here: 300 sent at once) must not hold
    the one gevent worker until it is done: a request on another connection is answered between."""
    live = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    with Server(model_dir, tmp_path / "server.log", workers=1, GUNICORN_WORKER_CLASS="gevent") as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as busy, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as other:
        busy.sendall(live * PIPELINED)
        received = busy.recv(65536)  # the worker is on it
        other.sendall(live)
        assert other.recv(65536).startswith(b"HTTP/1.1 200")
        busy.setblocking(False)
        try:
            while chunk := busy.recv(1 << 20):
                received += chunk
        except BlockingIOError:
            pass  # all that was answered so far
        answered = received.count(b"HTTP/1.1 200")
    assert answered < PIPELINED, "the other connection waited for all of the busy one's requests"
