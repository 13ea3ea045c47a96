"""The compose deployment for real, from outside, as users and operators see it: three replicas of
the service behind the nginx proxy (the `stack` fixture builds, trains and starts it once).

Every test drives real requests through the published port on 127.0.0.1 and reads what the
containers themselves logged (harness/containers.py). In file order: real answers of version 1;
the proxy's request ids, errors and body limit; its limits on a second proxy; 200 slow clients;
the spread over the replicas; kill -9 of a replica under load; and version 2 trained with
`run --rm trainer` under load and served live by every replica. Every load is bounded.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from PIL import Image

from harness.compose import Stack
from harness.containers import (
    address,
    containers,
    cpu_seconds,
    docker,
    inspect,
    json_lines,
    log_seconds,
    name,
    request_lines,
    upstreams,
)
from harness.images import encode, mnist_test_digits
from harness.load import Load, RepeatedRequest, RequestRecord, Summary, summarize
from harness.raw_http import Trickle, parse_raw, raw_exchange
from harness.reliability.faults import digit_body
from harness.server import free_port
from service.config import Settings
from trainer.data import load_mnist

pytestmark = pytest.mark.docker

TIMEOUT = 10                   # seconds, per request
HEALTHY_TIMEOUT = 120          # seconds for a restarted replica to be healthy again
PROXY_ID = re.compile(r"^[0-9a-f]{32}$")  # nginx's $request_id
SERVICE, PROXY = "service", "proxy"
PROXY_PORT = 8080              # inside the proxy's container
MAX_CONTENT_LENGTH = Settings().max_content_length  # the stack runs with the default
# The model the stack trains is small: "most labels right" of a few digits is the bar, not all.
N_DIGITS, MIN_CORRECT = 10, 8
LOAD_SECONDS = {"slow clients": 10, "spread": 8, "kill": 5}
SLACK_SECONDS = 0.5            # to load a new version and finish requests in flight
RELOAD_SECONDS = 3             # from a reload the proxy logged to its old workers' closing


# --- what every test reads ------------------------------------------------------------------

@functools.cache
def digits_body() -> bytes:
    """A real MNIST test digit (from $MNIST_DIR) as a /predict JSON body, read once."""
    return digit_body(mnist_test_digits(load_mnist(), 1)[0])


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    """N_DIGITS MNIST test digits (28x28, white on black) and their labels."""
    mnist = load_mnist()
    pick = np.random.default_rng(0).choice(len(mnist.y_test), size=N_DIGITS, replace=False)
    return mnist.x_test[pick].reshape(-1, 28, 28), mnist.y_test[pick].astype(int)


def predict_load(url: str, connections: int, prefix: str, *, max_seconds: float) -> Load:
    return Load(url, RepeatedRequest("/predict", digits_body(), "application/json", request_ids=prefix),
                connections=connections, max_seconds=max_seconds)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int, what: str) -> str:
    """An answer is the service's error shape with `expected` status, tagged by the proxy; its message."""
    assert status == expected, f"{what}: HTTP {status}, expected {expected}: {body[:200]!r}"
    assert headers.get("content-type", "").startswith("application/json"), \
        f"{what}: Content-Type {headers.get('content-type')!r}, not JSON"
    try:
        message = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        pytest.fail(f"{what}: body is not {{\"error\": ...}}: {body[:200]!r}")
    assert isinstance(message, str) and message, f"{what}: empty error message"
    assert PROXY_ID.match(headers.get("x-request-id", "")), f"{what}: no X-Request-ID from the proxy"
    return message


def assert_json_error_of(answer: requests.Response, expected: int, what: str) -> str:
    headers = {k.lower(): v for k, v in answer.headers.items()}
    return assert_json_error(answer.status_code, headers, answer.content, expected, what)


# --- version 1: real answers ------------------------------------------------------------------

def wait_for_version(stack: Stack, version: int, seconds: float) -> None:
    """Poll the model's readiness until its newest version is `version`."""
    deadline = time.monotonic() + seconds
    while (seen := served_by_proxy(stack)) != str(version):
        assert time.monotonic() < deadline, f"after {seconds:.0f} s the stack serves {seen!r}, not {version}"
        time.sleep(0.5)


def served_by_proxy(stack: Stack) -> str:
    """The version the model's readiness names through the proxy, or what went wrong."""
    try:
        answer = requests.get(f"{stack.url}/v2/models/{stack.model}/ready", timeout=TIMEOUT)
        return answer.json().get("version") if answer.ok else f"HTTP {answer.status_code}"
    except (requests.RequestException, ValueError) as e:
        return f"{type(e).__name__}: {e}"


def check_predict(stack: Stack, version: int, sample) -> None:
    """Each digit as a PNG drawn like a person would (black ink on white, 112x112) to /predict."""
    images, labels = sample
    correct = 0
    for pixels, label in zip(images, labels):
        png = encode(Image.fromarray(255 - pixels).resize((112, 112), Image.Resampling.BICUBIC))
        answer = requests.post(f"{stack.url}/predict", timeout=TIMEOUT,
                               files={"file": ("digit.png", png, "image/png")})
        assert answer.status_code == 200, f"/predict: HTTP {answer.status_code}: {answer.text[:300]}"
        assert answer.json()["model_version"] == str(version)
        correct += answer.json()["predictions"][0]["label"] == int(label)
    print(f"/predict (PNG files): {correct}/{len(labels)} digits read right, version {version}")
    assert correct >= MIN_CORRECT, f"/predict: only {correct}/{len(labels)} right"


def check_infer(stack: Stack, version: int, sample) -> None:
    """All the digits, as raw pixels, in one Open Inference Protocol (KServe V2) request."""
    images, labels = sample
    n = len(labels)
    request = {"inputs": [{"name": "input", "shape": [n, 784], "datatype": "FP32",
                           "data": images.reshape(-1).astype(float).tolist()}]}
    answer = requests.post(f"{stack.url}/v2/models/{stack.model}/infer", json=request, timeout=TIMEOUT)
    assert answer.status_code == 200, f"infer: HTTP {answer.status_code}: {answer.text[:300]}"
    body = answer.json()
    assert body["model_version"] == str(version)
    output = next((o for o in body["outputs"] if o["name"] == "probabilities"), None)
    assert output is not None and output["shape"] == [n, 10] and output["datatype"] == "FP32", body
    proba = np.asarray(output["data"], dtype=np.float64).reshape(n, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    correct = int((proba.argmax(axis=1) == labels).sum())
    print(f"V2 infer ({n} digits in one request): {correct}/{n} right, rows sum to 1, version {version}")
    assert correct >= MIN_CORRECT, f"infer: only {correct}/{n} right"


def test_version_1_reads_digits_through_the_proxy(stack: Stack, sample):
    wait_for_version(stack, 1, 30)
    check_predict(stack, 1, sample)
    check_infer(stack, 1, sample)


# --- the proxy: request ids, errors, body limit ------------------------------------------------

def traced(stack: Stack, request_id: str) -> tuple[dict, list[str]]:
    """The proxy's log line of a request and the replicas that logged it."""
    time.sleep(0.5)  # log lines are written after the answer
    proxy = containers(stack.project, PROXY)[0]
    proxy_lines = [line for line in json_lines(proxy) if line.get("request_id") == request_id]
    assert len(proxy_lines) == 1, f"{len(proxy_lines)} proxy log lines for request {request_id}"
    answered = [c for c in containers(stack.project, SERVICE) if request_lines(c, request_id)]
    return proxy_lines[0], answered


def test_proxy_makes_a_request_id_that_reaches_the_one_replica_it_chose(stack: Stack):
    answer = requests.get(f"{stack.url}/v2/health/ready", timeout=TIMEOUT)
    made = answer.headers.get("X-Request-ID", "")
    assert answer.ok and bool(PROXY_ID.match(made)), f"no proxy-made request id: {answer.headers}"
    line, answered = traced(stack, made)
    assert len(answered) == 1, f"request {made} logged by {len(answered)} replicas, expected 1"
    assert upstreams(line) == [address(answered[0])], \
        f"the proxy sent {made} to {line['upstream']}, but {name(answered[0])} " \
        f"({address(answered[0])}) logged it"
    print(f"request id made by the proxy ({made}): in the proxy's log line (upstream "
          f"{line['upstream']}) and in {name(answered[0])}'s, the replica at that address")


@pytest.mark.parametrize(("sent", "kept"), [("client-id.1:a_b", True), ("bad id\twith\"quotes", False)])
def test_proxy_keeps_a_sane_client_request_id_and_replaces_one_that_could_forge_log_lines(
        stack: Stack, sent: str, kept: bool):
    answer = requests.get(f"{stack.url}/v2/models/{stack.model}", headers={"X-Request-ID": sent},
                          timeout=TIMEOUT)
    got = answer.headers.get("X-Request-ID", "")
    assert answer.ok, f"GET /v2/models/{stack.model}: HTTP {answer.status_code}"
    assert (got == sent) if kept else bool(PROXY_ID.match(got)), \
        f"sent X-Request-ID {sent!r}, answered {got!r}"
    line, answered = traced(stack, got)
    assert len(answered) == 1 and upstreams(line) == [address(answered[0])], \
        f"request {got!r}: proxy upstream {line['upstream']}, logged by {answered}"


def test_proxy_follows_the_replicas_without_reloads_where_nginx_can(stack: Stack):
    """nginx 1.27.3 and later look the service's name up themselves (`resolve`); older ones are
    reloaded by the start script. Either way the proxy says which at start."""
    proxy = containers(stack.project, PROXY)[0]
    version = re.search(r"nginx/([0-9.]+)", docker("exec", proxy, "sh", "-c", "nginx -v 2>&1")).group(1)
    resolves = tuple(int(part) for part in version.split(".")) >= (1, 27, 3)
    config = docker("exec", proxy, "cat", "/tmp/nginx/nginx.conf")
    (server,) = re.findall(r"^\s*server (service:8000 [^;]*);", config, re.MULTILINE)
    print(f"nginx {version}: server {server}; {proxy_start(proxy)}")
    assert ("resolve" in server.split()) == resolves, server
    assert ("looked up by nginx" in proxy_start(proxy)) == resolves, proxy_start(proxy)


def test_proxy_sends_one_request_id_one_nosniff_and_no_nginx_version(stack: Stack):
    answer = requests.get(f"{stack.url}/v2/health/live", timeout=TIMEOUT)
    raw = answer.raw.headers
    assert len(raw.getlist("X-Request-ID")) == 1, f"X-Request-ID: {raw.getlist('X-Request-ID')}"
    assert raw.getlist("X-Content-Type-Options") == ["nosniff"]
    assert answer.headers.get("Server") == "nginx"


def test_the_services_own_errors_pass_the_proxy_untouched(stack: Stack):
    answer = requests.get(f"{stack.url}/v2/models/no-such-model", timeout=TIMEOUT)
    assert answer.status_code == 404 and "no-such-model" in answer.json().get("error", ""), \
        f"the service's 404 was changed: HTTP {answer.status_code} {answer.text[:200]}"


def post_of_size(stack: Stack, size: int, with_body: bool) -> tuple[int, dict[str, str], bytes, str]:
    """A raw POST /predict with Content-Length `size` (its body only `with_body`); the answer and id."""
    host, port = urlsplit(stack.url).hostname, urlsplit(stack.url).port
    request_id = unique("limit")
    head = (f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
            f"X-Request-ID: {request_id}\r\nContent-Length: {size}\r\n\r\n").encode()
    answer = raw_exchange(host, port, head + (b"\0" * size if with_body else b""), timeout=60)
    return (*parse_raw(answer), request_id)


def test_a_body_over_the_limit_gets_the_proxys_json_413_without_asking_a_replica(stack: Stack):
    # Only the head: nginx answers from the Content-Length, without the body.
    status, headers, body, request_id = post_of_size(stack, MAX_CONTENT_LENGTH + 1, with_body=False)
    line, answered = traced(stack, request_id)
    message = json.loads(body)["error"] if status == 413 else ""
    assert status == 413 and "MAX_CONTENT_LENGTH" in message and str(MAX_CONTENT_LENGTH) in message, \
        f"{MAX_CONTENT_LENGTH + 1} bytes: HTTP {status} {body[:200]!r}"
    assert headers.get("content-type") == "application/json", f"413 content type: {headers}"
    assert not answered and not upstreams(line), f"the 413 body reached {line['upstream']}"


def test_a_body_at_the_limit_reaches_a_replica(stack: Stack):
    # The service refuses the bytes as an image, but it is the service that answers.
    status, _, body, request_id = post_of_size(stack, MAX_CONTENT_LENGTH, with_body=True)
    _, answered = traced(stack, request_id)
    assert status != 413 and len(answered) == 1, \
        f"{MAX_CONTENT_LENGTH} bytes (the limit): HTTP {status} {body[:200]!r}, logged by {answered}"


# --- the proxy's limits, on a second proxy ----------------------------------------------------

RATE, BURST, AT_ONCE = 10, 20, 2  # the second proxy's PROXY_RATE, PROXY_BURST, PROXY_CONNECTIONS


def proxy_image_and_network(stack: Stack) -> tuple[str, str]:
    proxy = containers(stack.project, PROXY)[0]
    return (inspect(proxy, "{{.Config.Image}}"),
            inspect(proxy, "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}"))


def answers(url: str) -> bool:
    """Whether anything answers HTTP at `url` (whatever the status)."""
    try:
        requests.get(f"{url}/v2/health/live", timeout=TIMEOUT)
        return True
    except requests.ConnectionError:
        return False


@pytest.fixture(scope="module")
def limited_proxy(stack: Stack) -> str:
    """The URL of a second proxy from the same image beside the stack's: low limits, and an
    upstream port where nothing listens, so every request that passes the limits gets its 502."""
    image, network = proxy_image_and_network(stack)
    port = free_port()
    container = docker("run", "--detach", "--rm", "--network", network, "--read-only", "--tmpfs", "/tmp",
                       "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                       "--label", f"com.docker.compose.project={stack.project}",
                       "-e", f"PROXY_UPSTREAM={SERVICE}:9", "-e", f"PROXY_RATE={RATE}",
                       "-e", f"PROXY_BURST={BURST}", "-e", f"PROXY_CONNECTIONS={AT_ONCE}",
                       "-p", f"127.0.0.1:{port}:{PROXY_PORT}", image).strip()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not answers(url):
            assert time.monotonic() < deadline, f"no second proxy: {docker('logs', container)}"
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, timeout=60)


def test_a_bad_proxy_setting_is_refused_at_start(stack: Stack):
    image, _ = proxy_image_and_network(stack)
    refused = subprocess.run(["docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp",
                              "-e", "PROXY_RATE=fast", image], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "PROXY_RATE=fast must be a whole number" in refused.stdout, \
        f"a bad PROXY_RATE was not refused: exit {refused.returncode}: {refused.stdout}{refused.stderr}"


def test_no_live_upstream_gets_the_proxys_json_502(limited_proxy: str):
    answer = requests.get(f"{limited_proxy}/v2/health/ready", timeout=TIMEOUT)
    print(f"nothing listening upstream: JSON 502 {assert_json_error_of(answer, 502, 'no replica')!r}")


def test_a_request_nginx_cannot_parse_gets_a_json_400(limited_proxy: str):
    port = urlsplit(limited_proxy).port
    status, headers, body = parse_raw(raw_exchange("127.0.0.1", port, b"NOT-HTTP\r\n\r\n"))
    assert_json_error(status, headers, body, 400, "bad request")


def test_requests_beyond_the_connections_at_once_get_a_json_429(limited_proxy: str):
    time.sleep(BURST / RATE + 0.5)  # a full burst again
    # Bodies left unfinished keep their requests open.
    port = urlsplit(limited_proxy).port
    held = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(AT_ONCE)]
    try:
        for s in held:
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{")
        time.sleep(0.5)
        answer = requests.get(f"{limited_proxy}/v2/health/live", timeout=TIMEOUT)
        assert_json_error_of(answer, 429, f"request beyond {AT_ONCE} at once")
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    after = requests.get(f"{limited_proxy}/v2/health/live", timeout=TIMEOUT).status_code
    assert after == 502, f"after the held requests closed: HTTP {after}, expected 502 (passed)"


def test_requests_over_the_rate_get_a_json_429_after_the_burst(limited_proxy: str):
    time.sleep(BURST / RATE + 0.5)  # the bucket empties at RATE
    session = requests.Session()
    started = time.monotonic()
    answers = [session.get(f"{limited_proxy}/v2/health/live", timeout=TIMEOUT) for _ in range(3 * BURST)]
    elapsed = time.monotonic() - started
    statuses = [answer.status_code for answer in answers]
    passed, least, most = statuses.count(502), BURST + 1, BURST + 1 + int(RATE * elapsed) + 1
    assert set(statuses) == {429, 502}, f"statuses {Counter(statuses)}"
    assert_json_error_of(answers[statuses.index(429)], 429, "over the rate")
    assert least <= passed <= most, \
        f"{passed} of {len(statuses)} passed in {elapsed:.2f} s at {RATE}/s with burst {BURST}: " \
        f"expected {least}..{most}"
    print(f"{len(statuses)} requests in {elapsed:.2f} s at PROXY_RATE={RATE}, PROXY_BURST={BURST}: "
          f"{passed} passed, {statuses.count(429)} got JSON 429")


# --- load: slow clients, the spread over the replicas ------------------------------------------

def normal_client(url: str, seconds: float) -> Summary:
    """One client predicting on one keep-alive connection for `seconds`."""
    return summarize(Load(url, RepeatedRequest("/predict", digits_body(), "application/json"), connections=1,
                          max_seconds=seconds + 30).run(seconds))


def test_200_slow_clients_do_not_starve_a_normal_one(stack: Stack):
    seconds = LOAD_SECONDS["slow clients"]
    normal_client(stack.url, seconds)  # warm-up
    unloaded = normal_client(stack.url, seconds)
    assert unloaded.failed == 0 and unloaded.sent >= 100, f"unloaded: {unloaded.one_line()}"
    print(f"normal client alone:            {unloaded.one_line()}")
    trickle = Trickle("127.0.0.1", stack.port, count=200, max_seconds=seconds + 30).start()
    try:
        time.sleep(2)  # all 200 open and trickling
        loaded = normal_client(stack.url, seconds)
    finally:
        trickle.stop()
    print(f"beside 200 trickling clients:   {loaded.one_line()}")
    lived = trickle.closed_by_server
    print(f"trickling connections closed by the proxy: {len(lived)}"
          + (f", each after {np.median(lived):.0f} s (client_header_timeout)" if lived else ""))
    assert loaded.sent >= 100, f"too few requests to judge: {loaded.sent}"
    assert loaded.ok >= 0.99 * loaded.sent, f"only {loaded.ok}/{loaded.sent} succeeded beside slow clients"
    assert loaded.p99_ms < 10 * unloaded.p99_ms, \
        f"p99 {loaded.p99_ms:.1f} ms beside slow clients, over 10x the unloaded {unloaded.p99_ms:.1f} ms"


def cpu_per_request(before: dict[str, float | None], proxy: str, answered: int) -> None:
    """Print the CPU time per request of the proxy and of the replicas, where cgroups tell."""
    if not all(before.values()):
        return
    used = {c: (cpu_seconds(c) or 0) - seconds for c, seconds in before.items()}
    served = sum(seconds for c, seconds in used.items() if c != proxy) / answered * 1e6
    print(f"CPU time per request: proxy {used[proxy] / answered * 1e6:.0f} us, replicas {served:.0f} us "
          f"(containers' cgroup CPU time over the run / requests answered)")


def test_load_spreads_over_every_replica_as_the_proxy_logs_it(stack: Stack):
    prefix, seconds = unique("spread"), LOAD_SECONDS["spread"]
    proxy, replicas = containers(stack.project, PROXY)[0], containers(stack.project, SERVICE)
    assert len(replicas) >= 2, f"only {len(replicas)} replicas running"
    cpu_before = {c: cpu_seconds(c) for c in (proxy, *replicas)}
    summary = summarize(predict_load(stack.url, 6, prefix, max_seconds=seconds + 30).run(seconds))
    print(f"load through the proxy: {summary.one_line()}")
    assert summary.failed == 0, f"{summary.failed} requests failed"
    cpu_per_request(cpu_before, proxy, summary.ok)
    time.sleep(1)
    proxy_said = {line["request_id"]: upstreams(line) for line in request_lines(proxy, prefix)}
    counts, mismatched = {}, 0
    for container in replicas:
        ip, lines = address(container), request_lines(container, prefix)
        counts[name(container)] = len(lines)
        mismatched += sum(proxy_said.get(line["request_id"], [None])[-1] != ip for line in lines)
    answered = sum(counts.values())
    for replica, count in sorted(counts.items()):
        print(f"  {replica:<28} {count:8d}  {count / max(answered, 1):6.1%}")
    assert answered == summary.ok, f"replicas logged {answered} requests, {summary.ok} were answered"
    assert mismatched == 0, f"{mismatched} requests logged by another replica than the proxy's log names"
    fair = 1 / len(counts)
    assert min(counts.values()) >= fair / 2 * answered, \
        f"a replica answered under half its fair share ({fair:.0%}): {counts}"


# --- kill -9 of a replica under load -----------------------------------------------------------

def kill_and_wait_until_back(victim: str) -> tuple[float, float, float]:
    """SIGKILL to the container's first process from the host: a crash, as the OOM killer does
    (`docker kill` counts as a manual stop, which restart policies leave stopped). Waits until the
    restart policy has brought it back healthy; (kill sent, kill done, healthy again) as Unix times."""
    restarts = inspect(victim, "{{.RestartCount}}")
    pid = int(inspect(victim, "{{.State.Pid}}"))
    kill_started = time.time()
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while not (inspect(victim, "{{.RestartCount}}") != restarts
               and inspect(victim, "{{.State.Health.Status}}") == "healthy"):
        assert time.monotonic() < deadline, f"{name(victim)} not healthy again after {HEALTHY_TIMEOUT} s"
        time.sleep(0.5)
    return kill_started, killed_at, time.time()


def in_flight_at(proxy_lines: dict[str, dict], ip: str, kill_started: float, killed_at: float) -> list[dict]:
    """The proxy's lines of requests sent (first) to `ip`, started before the kill and finished
    after it (log times are to the millisecond)."""
    return [line for line in proxy_lines.values() if upstreams(line)[:1] == [ip]
            and log_seconds(line) - line["duration_s"] - 0.002 <= killed_at
            and log_seconds(line) + 0.002 >= kill_started]


def proxy_reloads(proxy: str) -> list[float]:
    """When the proxy's start script reloaded nginx (Unix times, to the second it logged)."""
    return [log_seconds(line) for line in json_lines(proxy)
            if "reloading" in str(line.get("message", ""))]


def proxy_start(proxy: str) -> str:
    """What the proxy's start script said of the upstream: how it follows the replicas."""
    return next((str(line["message"]) for line in json_lines(proxy)
                 if str(line.get("message", "")).startswith("upstream ")), "")


def lost_to_a_reload(outcome: RequestRecord, proxy_lines: dict[str, dict], reloads: list[float],
                     offset: float) -> bool:
    """Whether a failed request is one a reload of nginx lost: it never became a request of the
    proxy's log (an old worker closed its idle keep-alive connection as it arrived), and it was
    sent in the seconds of a reload."""
    sent = outcome.sent_at + offset
    return (outcome.status is None and outcome.request_id not in proxy_lines
            and any(at - 0.5 <= sent <= at + RELOAD_SECONDS for at in reloads))


def test_kill_9_of_a_replica_under_load_loses_only_its_requests_and_it_comes_back(stack: Stack):
    """Only the requests in flight on the killed replica may fail. With nginx older than 1.27.3
    the proxy reloads when the replica's address goes and comes back (proxy/entrypoint.sh), and
    a request racing a reload on a keep-alive connection may be closed unanswered too: those are
    counted apart, and only in the seconds of a reload. A proxy that re-resolves by itself never
    reloads."""
    seconds, connections, prefix = LOAD_SECONDS["kill"], 8, unique("kill")
    proxy, victim = containers(stack.project, PROXY)[0], containers(stack.project, SERVICE)[0]
    victim_name, victim_ip = name(victim), address(victim)
    offset = time.time() - time.monotonic()  # the Load records monotonic times
    load = predict_load(stack.url, connections, prefix, max_seconds=4 * seconds + HEALTHY_TIMEOUT).start()
    time.sleep(seconds)
    try:
        kill_started, killed_at, healthy_at = kill_and_wait_until_back(victim)
        new_ip = address(victim)
        time.sleep(seconds)  # the proxy re-resolves, then sends it traffic again
    finally:
        outcomes = load.stop()
    proxy_lines = {line["request_id"]: line for line in request_lines(proxy, prefix)}
    on_victim = in_flight_at(proxy_lines, victim_ip, kill_started, killed_at)
    reloads = proxy_reloads(proxy)
    failed = [o for o in outcomes if o.status != 200]
    at_reloads = [o for o in failed if lost_to_a_reload(o, proxy_lines, reloads, offset)]
    failed = [o for o in failed if o not in at_reloads]
    before = summarize(outcomes, killed_at - seconds + 0.5 - offset, killed_at - offset).per_second
    during = summarize(outcomes, killed_at + 0.5 - offset, healthy_at - offset).per_second
    after = [line for line in proxy_lines.values()
             if log_seconds(line) > healthy_at + 3 and new_ip in upstreams(line)]
    print(f"killed {victim_name} ({victim_ip}) under {connections} connections: "
          f"{summarize(outcomes).one_line()}")
    print(f"  in flight on it: {len(on_victim)} ({sum(len(upstreams(line)) > 1 for line in on_victim)} "
          f"retried on another replica by the proxy); failed: {len(failed)}; proxy reloads: "
          f"{len(reloads)}, closed unanswered as it reloaded: {len(at_reloads)}")
    print(f"  requests/s: {before:.0f} before, {during:.0f} on the other replicas until it was back")
    print(f"  back: restarted by the restart policy, healthy {healthy_at - killed_at:.1f} s after the kill, "
          f"{len(after)} requests answered by it since")
    for outcome in failed:
        line = proxy_lines.get(outcome.request_id)
        assert line is not None and victim_ip in upstreams(line), \
            f"request {outcome.request_id} failed ({outcome.status or outcome.error}) but was not " \
            f"on the killed replica: {line}"
    assert len(failed) <= len(on_victim), f"{len(failed)} failures, {len(on_victim)} were on it"
    assert len(at_reloads) <= connections * len(reloads), "more lost than connections at each reload"
    if "looked up by nginx" in proxy_start(proxy):
        assert not reloads, "nginx re-resolves the replicas itself, yet the proxy reloaded"
    assert during >= 0.5 * before, f"the others carried {during:.0f} req/s, under half of {before:.0f}"
    assert after, f"{victim_name} got no requests after it was back"


# --- version 2, trained under load, served live by every replica -------------------------------

def served_version(container: str, model: str) -> dict:
    """The model's readiness as the replica itself answers it, from inside its container."""
    return json.loads(docker("exec", container, "python3", "-c",
                             "import urllib.request; print(urllib.request.urlopen("
                             f"'http://127.0.0.1:8000/v2/models/{model}/ready').read().decode())"))


def switch_failures(container: str, prefix: str, appeared: float, version: int, allowed: float,
                    model: str) -> list[str]:
    """What is wrong with how one replica went from the old version to `version`, from its own log
    (times relative to the new bundle's appearance)."""
    answers = {log_seconds(line) - appeared: str(line["model_version"])
               for line in request_lines(container, prefix)}
    old = [t for t, v in answers.items() if v != str(version)]
    new = [t for t, v in answers.items() if v == str(version)]
    ready = served_version(container, model)
    last_old, first_new = max(old, default=float("-inf")), min(new, default=float("nan"))
    print(f"  {name(container):<28} last v{version - 1} answer at {last_old:+.2f} s, first "
          f"v{version} at {first_new:+.2f} s; ready: version {ready['version']}")
    if not new or last_old > allowed or ready["version"] != str(version):
        return [f"{name(container)}: old version until {last_old:+.2f} s (allowed {allowed:.1f}), "
                f"{len(new)} new answers, ready says {ready}"]
    return []


def test_version_2_trained_under_load_is_served_live_by_every_replica(stack: Stack, sample):
    version, prefix = 2, unique("version")
    replicas = containers(stack.project, SERVICE)
    started = {c: inspect(c, "{{.State.StartedAt}}") for c in replicas}
    load = predict_load(stack.url, 4, prefix, max_seconds=600).start()
    try:
        stack.train()
        time.sleep(stack.poll_seconds + 3)
    finally:
        summary = summarize(load.stop())
    bundle = f"/models/{stack.model}/{version}.npz"
    appeared = float(docker("exec", replicas[0], "python3", "-c",
                            f"import os; print(os.stat({bundle!r}).st_mtime)").strip())
    print(f"load while training and after: {summary.one_line()}")
    print(f"{bundle} written at +0.00 s; each replica's answers (from its own log):")
    allowed = stack.poll_seconds + SLACK_SECONDS
    failures = [failure for c in replicas
                for failure in switch_failures(c, prefix, appeared, version, allowed, stack.model)]
    failures += [f"{name(c)} restarted: the new version must be picked up live"
                 for c in replicas if inspect(c, "{{.State.StartedAt}}") != started[c]]
    assert summary.failed == 0, f"{summary.failed} requests failed during the new version"
    assert not failures, "; ".join(failures)
    check_predict(stack, version, sample)
    check_infer(stack, version, sample)
