"""Check the compose topology from outside, as users and operators see it: used by compose-test.sh.

    PYTHONPATH=. python scripts/topology_check.py --url http://127.0.0.1:8000 --project NAME CHECK [...]

The stack runs nginx (`proxy`, the only published port) in front of replicas of `service`.
Every check drives real requests through the published port on 127.0.0.1 and reads what the
containers themselves logged, with docker (`docker ps/logs/inspect/exec`): each request carries
its own X-Request-ID, so its proxy log line (with the replica's address) and the one replica's
log line that answered it can be found.

    proxy         request ids (made by the proxy when absent, kept when sane) are the same in the
                  proxy's and one replica's log line; the proxy's 413 above MAX_CONTENT_LENGTH is
                  JSON and the service never sees the body; the service's own errors pass as-is
    limits        a second proxy on the stack's network, with low limits and no live upstream:
                  JSON 400, 429 (rate and requests at once) and 502, and a bad setting refused
    slow-clients  200 connections trickling their headers a byte a second while a normal client
                  predicts: >= 99% of its requests succeed, p99 under 10x its unloaded p99
    spread        a load run: every replica answers a share, and each request is logged by
                  exactly the replica the proxy sent it to
    kill          kill -9 of one replica's container under load: the only failures are requests
                  that were on it, the others carry the load, the restart policy brings it back
                  and it gets traffic again
    new-version   `run --rm trainer` under load: every replica serves the new version within the
                  poll interval of the bundle appearing, and no request fails

Each check prints what it measured and exits 1 with the reasons on failure. Loops are bounded.
"""

from __future__ import annotations

import argparse
import calendar
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import requests

from harness.images import mnist_test_digits
from harness.load import Load, Summary, summarize
from harness.reliability.faults import digit_body
from harness.server import free_port
from trainer.data import load_mnist

TIMEOUT = 10                   # seconds, per request
HEALTHY_TIMEOUT = 120          # seconds for a restarted replica to be healthy again
PROXY_ID = re.compile(r"^[0-9a-f]{32}$")  # nginx's $request_id
SERVICE = "service"
PROXY = "proxy"
PROXY_PORT = 8080              # inside the proxy's container


class CheckFailed(Exception):
    pass


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# --- docker: the stack's containers and what they logged -------------------------------------

def docker(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise CheckFailed(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def containers(project: str, service: str) -> list[str]:
    """Ids of the running containers of one compose service (Compose v1 and v2 set these labels)."""
    out = docker("ps", "--filter", f"label=com.docker.compose.project={project}",
                 "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.ID}}")
    return sorted(out.split())


def inspect(container: str, template: str) -> str:
    return docker("inspect", "--format", template, container).strip()


def name(container: str) -> str:
    return inspect(container, "{{.Name}}").lstrip("/")


def address(container: str) -> str:
    return inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


def json_lines(container: str) -> list[dict]:
    """The JSON lines a container wrote (stdout and stderr)."""
    result = subprocess.run(["docker", "logs", container], capture_output=True, text=True,
                            timeout=60)
    lines = []
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


def request_lines(container: str, prefix: str) -> list[dict]:
    """A container's request log lines whose request id starts with `prefix`."""
    return [line for line in json_lines(container)
            if line.get("message") == "request" and str(line.get("request_id", "")).startswith(prefix)]


def log_seconds(line: dict) -> float:
    """A log line's time ("2026-01-02T03:04:05.678Z", UTC) as a Unix time."""
    seconds, millis = line["time"].rstrip("Z").split(".")
    return calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000


def upstreams(line: dict) -> list[str]:
    """The replica addresses a proxy log line names (more than one when a retry moved it)."""
    return [part.strip().rsplit(":", 1)[0] for part in line.get("upstream", "").split(",") if part.strip()]


def cpu_seconds(container: str) -> float | None:
    """CPU time a container has used so far, from its cgroup (v2: cpu.stat, microseconds; v1:
    cpuacct.usage, nanoseconds); None where neither can be read."""
    read = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage"
    result = subprocess.run(["docker", "exec", container, "sh", "-c", read],
                            capture_output=True, text=True, timeout=60)
    if v2 := re.search(r"^usage_usec (\d+)$", result.stdout, re.M):
        return int(v2.group(1)) / 1e6
    if v1 := re.fullmatch(r"(\d+)\n?", result.stdout):
        return int(v1.group(1)) / 1e9
    return None


# --- requests ------------------------------------------------------------------------------

@functools.cache
def digits_body() -> bytes:
    """A real MNIST test digit (from $MNIST_DIR) as a /predict JSON body, read once."""
    return digit_body(mnist_test_digits(load_mnist(), 1)[0])


def predict_load(url: str, body: bytes, connections: int, prefix: str, *, max_seconds: float) -> Load:
    return Load(url, "/predict", body, "application/json", connections=connections,
                max_seconds=max_seconds, request_ids=prefix)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wall_clock_offset() -> float:
    """Add to a time.monotonic() value to get a Unix time (the Load records monotonic times)."""
    return time.time() - time.monotonic()


def raw_exchange(host: str, port: int, data: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send bytes on a fresh connection and read until the server closes or the answer is whole."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            if length and len(body) >= int(length.group(1)):
                break
        return answer


def parse_raw(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def json_error(status: int, headers: dict[str, str], body: bytes, expected: int, what: str) -> str:
    """Check an answer is the service's error shape with `expected` status; its message."""
    require(status == expected, f"{what}: HTTP {status}, expected {expected}: {body[:200]!r}")
    require(headers.get("content-type", "").startswith("application/json"),
            f"{what}: Content-Type {headers.get('content-type')!r}, not JSON")
    try:
        message = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        raise CheckFailed(f"{what}: body is not {{\"error\": ...}}: {body[:200]!r}") from None
    require(isinstance(message, str) and message, f"{what}: empty error message")
    require(bool(PROXY_ID.match(headers.get("x-request-id", ""))), f"{what}: no X-Request-ID from the proxy")
    return message


def json_error_of(answer: requests.Response, expected: int, what: str) -> str:
    headers = {k.lower(): v for k, v in answer.headers.items()}
    return json_error(answer.status_code, headers, answer.content, expected, what)


# --- checks -------------------------------------------------------------------------------

def check_proxy(args: argparse.Namespace) -> None:
    proxy = containers(args.project, PROXY)[0]
    replicas = containers(args.project, SERVICE)

    def traced(request_id: str) -> tuple[dict, list[str]]:
        """The proxy's log line of a request and the replicas that logged it."""
        time.sleep(0.5)  # log lines are written after the answer
        proxy_lines = [line for line in json_lines(proxy) if line.get("request_id") == request_id]
        require(len(proxy_lines) == 1, f"{len(proxy_lines)} proxy log lines for request {request_id}")
        answered = [c for c in replicas if request_lines(c, request_id)]
        return proxy_lines[0], answered

    # No id sent: the proxy makes one, and the same one reaches the service's log.
    answer = requests.get(f"{args.url}/v2/health/ready", timeout=TIMEOUT)
    made = answer.headers.get("X-Request-ID", "")
    require(answer.ok and bool(PROXY_ID.match(made)), f"no proxy-made request id: {answer.headers}")
    line, answered = traced(made)
    require(len(answered) == 1, f"request {made} logged by {len(answered)} replicas, expected 1")
    require(upstreams(line) == [address(answered[0])],
            f"the proxy sent {made} to {line['upstream']}, but {name(answered[0])} "
            f"({address(answered[0])}) logged it")
    print(f"request id made by the proxy ({made}): in the proxy's log line (upstream "
          f"{line['upstream']}) and in {name(answered[0])}'s, the replica at that address")

    # A sane id from the client is kept; one that could forge log lines is replaced.
    for sent, kept in (("client-id.1:a_b", True), ("bad id\twith\"quotes", False)):
        answer = requests.get(f"{args.url}/v2/models/{args.model}", headers={"X-Request-ID": sent},
                              timeout=TIMEOUT)
        got = answer.headers.get("X-Request-ID", "")
        require(answer.ok, f"GET /v2/models/{args.model}: HTTP {answer.status_code}")
        require((got == sent) if kept else bool(PROXY_ID.match(got)),
                f"sent X-Request-ID {sent!r}, answered {got!r}")
        line, answered = traced(got)
        require(len(answered) == 1 and upstreams(line) == [address(answered[0])],
                f"request {got!r}: proxy upstream {line['upstream']}, logged by {answered}")
    print("a sane client id is kept, a bad one replaced; both in the proxy's and one replica's log")

    # One X-Request-ID and one nosniff, nginx's Server header without a version.
    answer = requests.get(f"{args.url}/v2/health/live", timeout=TIMEOUT)
    raw = answer.raw.headers
    require(len(raw.getlist("X-Request-ID")) == 1, f"X-Request-ID: {raw.getlist('X-Request-ID')}")
    require(raw.getlist("X-Content-Type-Options") == ["nosniff"],
            f"X-Content-Type-Options: {raw.getlist('X-Content-Type-Options')}")
    require(answer.headers.get("Server") == "nginx", f"Server: {answer.headers.get('Server')!r}")

    # The service's own errors pass through untouched.
    answer = requests.get(f"{args.url}/v2/models/no-such-model", timeout=TIMEOUT)
    require(answer.status_code == 404 and "no-such-model" in answer.json().get("error", ""),
            f"the service's 404 was changed: HTTP {answer.status_code} {answer.text[:200]}")

    # A body over MAX_CONTENT_LENGTH: the proxy's JSON 413, without asking any replica. At the
    # limit exactly, the body reaches the service (which refuses the bytes as an image).
    host, port = urlsplit(args.url).hostname, urlsplit(args.url).port
    for size, refused in ((args.max_content_length + 1, True), (args.max_content_length, False)):
        request_id = unique("limit")
        head = (f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
                f"X-Request-ID: {request_id}\r\nContent-Length: {size}\r\n\r\n").encode()
        # Only the head when refused: nginx answers from the Content-Length, without the body.
        status, headers, body = parse_raw(raw_exchange(host, port, head + (b"" if refused else b"\0" * size),
                                                       timeout=60))
        line, answered = traced(request_id)
        if refused:
            message = json.loads(body)["error"] if status == 413 else ""
            require(status == 413 and "MAX_CONTENT_LENGTH" in message and str(size - 1) in message,
                    f"{size} bytes: HTTP {status} {body[:200]!r}")
            require(headers.get("content-type") == "application/json", f"413 content type: {headers}")
            require(not answered and not upstreams(line), f"the 413 body reached {line['upstream']}")
        else:
            require(status != 413 and len(answered) == 1,
                    f"{size} bytes (the limit): HTTP {status} {body[:200]!r}, logged by {answered}")
    print(f"{args.max_content_length + 1} bytes: the proxy's JSON 413 naming the limit, no replica "
          f"asked; {args.max_content_length} bytes: passed to a replica")


def check_limits(args: argparse.Namespace) -> None:
    """A second proxy from the same image beside the stack's: low limits, and an upstream port
    where nothing listens, so every request that passes the limits gets the proxy's 502."""
    proxy = containers(args.project, PROXY)[0]
    image = inspect(proxy, "{{.Config.Image}}")
    network = inspect(proxy, "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}")
    rate, burst, at_once = 10, 20, 2

    refused = subprocess.run(["docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp",
                              "-e", "PROXY_RATE=fast", image], capture_output=True, text=True, timeout=60)
    require(refused.returncode == 2 and "PROXY_RATE=fast must be a whole number" in refused.stdout,
            f"a bad PROXY_RATE was not refused: exit {refused.returncode}: {refused.stdout}{refused.stderr}")
    print("PROXY_RATE=fast: refused at start with a message naming it (exit 2)")

    port = free_port()
    container = docker("run", "--detach", "--rm", "--network", network, "--read-only", "--tmpfs", "/tmp",
                       "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                       "--label", f"com.docker.compose.project={args.project}",
                       "-e", f"PROXY_UPSTREAM={SERVICE}:9", "-e", f"PROXY_RATE={rate}",
                       "-e", f"PROXY_BURST={burst}", "-e", f"PROXY_CONNECTIONS={at_once}",
                       "-p", f"127.0.0.1:{port}:{PROXY_PORT}", image).strip()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = requests.get(f"{url}/v2/health/ready", timeout=TIMEOUT)
                break
            except requests.ConnectionError:
                require(time.monotonic() < deadline, f"no second proxy: {docker('logs', container)}")
                time.sleep(0.2)
        print(f"nothing listening upstream: JSON 502 {json_error_of(answer, 502, 'no replica')!r}")

        status, headers, body = parse_raw(raw_exchange("127.0.0.1", port, b"NOT-HTTP\r\n\r\n"))
        message = json_error(status, headers, body, 400, "bad request")
        print(f"a request nginx cannot parse: JSON 400 {message!r}")

        # Requests at once: bodies left unfinished keep their requests open.
        time.sleep(burst / rate + 0.5)  # a full burst again
        held = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(at_once)]
        try:
            for s in held:
                s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 100\r\n\r\n{")
            time.sleep(0.5)
            answer = requests.get(f"{url}/v2/health/live", timeout=TIMEOUT)
            message = json_error_of(answer, 429, f"request beyond {at_once} at once")
        finally:
            for s in held:
                s.close()
        time.sleep(0.5)
        after = requests.get(f"{url}/v2/health/live", timeout=TIMEOUT).status_code
        require(after == 502, f"after the held requests closed: HTTP {after}, expected 502 (passed)")
        print(f"{at_once} requests held open: the next one gets JSON 429 {message!r}; passed once they close")

        # Requests per second: a burst passes at once, then only the rate.
        time.sleep(burst / rate + 0.5)  # the bucket empties at `rate`
        session = requests.Session()
        started = time.monotonic()
        answers = [session.get(f"{url}/v2/health/live", timeout=TIMEOUT) for _ in range(3 * burst)]
        elapsed = time.monotonic() - started
        statuses = [answer.status_code for answer in answers]
        passed, least, most = statuses.count(502), burst + 1, burst + 1 + int(rate * elapsed) + 1
        require(set(statuses) == {429, 502}, f"statuses {Counter(statuses)}")
        json_error_of(answers[statuses.index(429)], 429, "over the rate")
        require(least <= passed <= most, f"{passed} of {len(statuses)} passed in {elapsed:.2f} s at "
                                         f"{rate}/s with burst {burst}: expected {least}..{most}")
        print(f"{len(statuses)} requests in {elapsed:.2f} s at PROXY_RATE={rate}, PROXY_BURST={burst}: "
              f"{passed} passed, {statuses.count(429)} got JSON 429")
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, timeout=60)


@dataclass
class Trickle:
    """`count` connections sending a request's headers one byte a second, reopened when the
    server closes them, until stopped (bounded by `max_seconds`)."""

    host: str
    port: int
    count: int
    max_seconds: float

    def __post_init__(self) -> None:
        self.closed_by_server: list[float] = []  # how long each closed connection had lived
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Trickle:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.max_seconds + 30)

    def _open(self) -> tuple[socket.socket, float]:
        s = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        s.setblocking(False)
        s.send(b"POST /predict HTTP/1.1\r\nHost: slow\r\n")
        return s, time.monotonic()

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        sockets = [self._open() for _ in range(self.count)]
        while not self._stop.wait(1.0) and time.monotonic() < deadline:
            for i, (s, opened) in enumerate(sockets):
                try:  # one more byte of a header name that never ends, unless the server closed it
                    gone = _closed_by_peer(s) or not s.send(b"X")
                except OSError:
                    gone = True
                if gone:
                    self.closed_by_server.append(time.monotonic() - opened)
                    s.close()
                    sockets[i] = self._open()
        for s, _ in sockets:
            s.close()


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(4096, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False  # nothing to read: still open


def check_slow_clients(args: argparse.Namespace) -> None:
    host, port = urlsplit(args.url).hostname, urlsplit(args.url).port
    body = digits_body()

    def normal_client() -> Summary:
        """One client predicting on one keep-alive connection for `--seconds`."""
        return summarize(Load(args.url, "/predict", body, "application/json", connections=1,
                              max_seconds=args.seconds + 30).run(args.seconds))

    normal_client()  # warm-up
    unloaded = normal_client()
    require(unloaded.failed == 0 and unloaded.sent >= 100, f"unloaded: {unloaded.one_line()}")
    print(f"normal client alone:            {unloaded.one_line()}")

    trickle = Trickle(host, port, count=200, max_seconds=args.seconds + 30).start()
    try:
        time.sleep(2)  # all 200 open and trickling
        loaded = normal_client()
    finally:
        trickle.stop()
    print(f"beside 200 trickling clients:   {loaded.one_line()}")
    lived = trickle.closed_by_server
    print(f"trickling connections closed by the proxy: {len(lived)}"
          + (f", each after {np.median(lived):.0f} s (client_header_timeout)" if lived else ""))
    require(loaded.sent >= 100, f"too few requests to judge: {loaded.sent}")
    require(loaded.ok >= 0.99 * loaded.sent, f"only {loaded.ok}/{loaded.sent} succeeded beside slow clients")
    require(loaded.p99_ms < 10 * unloaded.p99_ms,
            f"p99 {loaded.p99_ms:.1f} ms beside slow clients, over 10x the unloaded {unloaded.p99_ms:.1f} ms")
    print(f"success {loaded.ok / loaded.sent:.2%} (>= 99%), p99 {loaded.p99_ms / unloaded.p99_ms:.1f}x "
          f"the unloaded p99 (< 10x)")


def check_spread(args: argparse.Namespace) -> None:
    prefix = unique("spread")
    proxy, replicas = containers(args.project, PROXY)[0], containers(args.project, SERVICE)
    require(len(replicas) >= 2, f"only {len(replicas)} replicas running: run with --scale {SERVICE}=3")
    cpu_before = {c: cpu_seconds(c) for c in (proxy, *replicas)}
    load = predict_load(args.url, digits_body(), 6, prefix, max_seconds=args.seconds + 30)
    summary = summarize(load.run(args.seconds))
    cpu_used = {c: (cpu_seconds(c) or 0) - (before or 0) for c, before in cpu_before.items() if before}
    print(f"load through the proxy: {summary.one_line()}")
    require(summary.failed == 0, f"{summary.failed} requests failed")
    if len(cpu_used) == len(cpu_before):
        served = sum(cpu_used[c] for c in replicas) / summary.ok * 1e6
        print(f"CPU time per request: proxy {cpu_used[proxy] / summary.ok * 1e6:.0f} us, replicas "
              f"{served:.0f} us (containers' cgroup CPU time over the run / requests answered)")
    time.sleep(1)
    proxy_said = {line["request_id"]: upstreams(line) for line in request_lines(proxy, prefix)}
    counts = {}
    mismatched = 0
    for container in replicas:
        ip = address(container)
        lines = request_lines(container, prefix)
        counts[name(container)] = len(lines)
        mismatched += sum(proxy_said.get(line["request_id"], [None])[-1] != ip for line in lines)
    answered = sum(counts.values())
    print(f"  {'replica':<28} requests  share   (counted in each replica's own log)")
    for replica, count in sorted(counts.items()):
        print(f"  {replica:<28} {count:8d}  {count / max(answered, 1):6.1%}")
    require(answered == summary.ok, f"replicas logged {answered} requests, {summary.ok} were answered")
    require(mismatched == 0, f"{mismatched} requests logged by another replica than the proxy's log names")
    fair = 1 / len(counts)
    require(min(counts.values()) >= fair / 2 * answered,
            f"a replica answered under half its fair share ({fair:.0%}): {counts}")
    print(f"every replica answered a share (fair share {fair:.0%}); each request was logged by the "
          f"replica the proxy's log line names")


def check_kill(args: argparse.Namespace) -> None:
    proxy = containers(args.project, PROXY)[0]
    victim = containers(args.project, SERVICE)[0]
    victim_name, victim_ip = name(victim), address(victim)
    restarts = int(inspect(victim, "{{.RestartCount}}"))
    prefix = unique("kill")
    connections = 8
    offset = wall_clock_offset()
    load = predict_load(args.url, digits_body(), connections, prefix,
                        max_seconds=4 * args.seconds + HEALTHY_TIMEOUT).start()
    time.sleep(args.seconds)
    # SIGKILL to the container's first process from the host: a crash, as the OOM killer does.
    # (`docker kill` counts as a manual stop, which restart policies leave stopped.)
    pid = int(inspect(victim, "{{.State.Pid}}"))
    kill_started = time.time()
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    try:
        deadline = time.monotonic() + HEALTHY_TIMEOUT
        while not (inspect(victim, "{{.RestartCount}}") != str(restarts)
                   and inspect(victim, "{{.State.Health.Status}}") == "healthy"):
            require(time.monotonic() < deadline, f"{victim_name} not healthy again after {HEALTHY_TIMEOUT} s")
            time.sleep(0.5)
        healthy_at = time.time()
        new_ip = address(victim)
        time.sleep(args.seconds)  # the proxy re-resolves, then sends it traffic again
    finally:
        outcomes = load.stop()
    proxy_lines = {line["request_id"]: line for line in request_lines(proxy, prefix)}
    # In flight on the victim at the kill: sent (first) to it, started before the kill and
    # finished after it (log times are to the millisecond).
    on_victim = [line for line in proxy_lines.values() if upstreams(line)[:1] == [victim_ip]
                 and log_seconds(line) - line["duration_s"] - 0.002 <= killed_at
                 and log_seconds(line) + 0.002 >= kill_started]
    failed = [o for o in outcomes if o.status != 200]
    retried = [line for line in on_victim if len(upstreams(line)) > 1]

    def window(start: float, end: float) -> float:
        return summarize(outcomes, start - offset, end - offset).per_second

    before = window(killed_at - args.seconds + 0.5, killed_at)
    during = window(killed_at + 0.5, healthy_at)
    after = [line for line in proxy_lines.values() if log_seconds(line) > healthy_at + 3
             and new_ip in upstreams(line)]
    print(f"killed {victim_name} ({victim_ip}) under {connections} connections: "
          f"{summarize(outcomes).one_line()}")
    print(f"  in flight on it: {len(on_victim)} ({len(retried)} retried on another replica by the proxy); "
          f"failed: {len(failed)}")
    print(f"  requests/s: {before:.0f} before, {during:.0f} on the other replicas until it was back")
    print(f"  back: restarted by the restart policy, healthy {healthy_at - killed_at:.1f} s after the kill, "
          f"{len(after)} requests answered by it since")
    for outcome in failed:
        line = proxy_lines.get(outcome.request_id)
        require(line is not None and victim_ip in upstreams(line),
                f"request {outcome.request_id} failed ({outcome.status or outcome.error}) but was not "
                f"on the killed replica: {line}")
    require(len(failed) <= len(on_victim), f"{len(failed)} failures, {len(on_victim)} were on it")
    require(during >= 0.5 * before, f"the others carried {during:.0f} req/s, under half of {before:.0f}")
    require(bool(after), f"{victim_name} got no requests after it was back")


def check_new_version(args: argparse.Namespace) -> None:
    require(bool(args.train_command), "--train-command is needed")
    prefix = unique("version")
    replicas = containers(args.project, SERVICE)
    started = {c: inspect(c, "{{.State.StartedAt}}") for c in replicas}
    load = predict_load(args.url, digits_body(), 4, prefix, max_seconds=600).start()
    try:
        trained = subprocess.run(args.train_command, shell=True, timeout=600)
        require(trained.returncode == 0, f"the trainer failed (exit {trained.returncode})")
        time.sleep(args.poll_seconds + 3)
    finally:
        outcomes = load.stop()
    summary = summarize(outcomes)
    bundle = f"/models/{args.model}/{args.version}.npz"
    appeared = float(docker("exec", replicas[0], "python3", "-c",
                            f"import os; print(os.stat({bundle!r}).st_mtime)").strip())
    print(f"load while training and after: {summary.one_line()}")
    print(f"{bundle} written at +0.00 s; each replica's answers (from its own log):")
    allowed = args.poll_seconds + args.slack
    failures = []
    for container in replicas:
        lines = request_lines(container, prefix)
        version = {log_seconds(line) - appeared: str(line["model_version"]) for line in lines}
        old = [t for t, v in version.items() if v != str(args.version)]
        new = [t for t, v in version.items() if v == str(args.version)]
        ready = json.loads(docker("exec", container, "python3", "-c",
                                  "import urllib.request; print(urllib.request.urlopen("
                                  f"'http://127.0.0.1:8000/v2/models/{args.model}/ready').read().decode())"))
        last_old, first_new = max(old, default=float("-inf")), min(new, default=float("nan"))
        print(f"  {name(container):<28} last v{args.version - 1} answer at {last_old:+.2f} s, first "
              f"v{args.version} at {first_new:+.2f} s; ready: version {ready['version']}")
        if not new or last_old > allowed or ready["version"] != str(args.version):
            failures.append(f"{name(container)}: old version until {last_old:+.2f} s (allowed "
                            f"{allowed:.1f}), {len(new)} new answers, ready says {ready}")
        if inspect(container, "{{.State.StartedAt}}") != started[container]:
            failures.append(f"{name(container)} restarted: the new version must be picked up live")
    require(summary.failed == 0, f"{summary.failed} requests failed during the new version")
    require(not failures, "; ".join(failures))
    print(f"every replica served version {args.version} within {allowed:.1f} s "
          f"(MODEL_POLL_SECONDS={args.poll_seconds:g} + {args.slack:g} s to load it and finish "
          f"requests in flight), none restarted, no request failed")


CHECKS = {"proxy": check_proxy, "limits": check_limits, "slow-clients": check_slow_clients,
          "spread": check_spread, "kill": check_kill, "new-version": check_new_version}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=CHECKS)
    parser.add_argument("--url", required=True, help="the proxy, e.g. http://127.0.0.1:8000")
    parser.add_argument("--project", required=True, help="the compose project name")
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--seconds", type=float, default=8, help="length of a load window")
    parser.add_argument("--max-content-length", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--train-command", help="new-version: the command that trains it")
    parser.add_argument("--version", type=int, default=2, help="new-version: the version it makes")
    parser.add_argument("--poll-seconds", type=float, default=2, help="the service's MODEL_POLL_SECONDS")
    parser.add_argument("--slack", type=float, default=0.5,
                        help="new-version: seconds allowed beyond the poll interval")
    args = parser.parse_args()
    assert urlsplit(args.url).hostname in ("127.0.0.1", "localhost"), "loopback only"
    try:
        CHECKS[args.check](args)
    except CheckFailed as e:
        sys.exit(f"FAIL ({args.check}): {e}")


if __name__ == "__main__":
    main()
