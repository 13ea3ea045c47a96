"""Fault scenarios under load, shared by the tests (which assert) and `make reliability` (which
reports): a worker killed with SIGKILL, and the whole server stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass

import numpy as np

from harness.load import Load, RepeatedRequest, RequestRecord, summarize
from harness.server import Server

CONNECTIONS = 8
WAIT_SECONDS = 60


def digit_body(digits: np.ndarray, count: int = 1) -> bytes:
    return json.dumps({"instances": digits[:count].reshape(count, -1).tolist()}).encode()


@dataclass(frozen=True)
class WorkerKill:
    outcomes: list[RequestRecord]
    killed_at: float
    replaced_after: float       # seconds until the master had a new worker up
    before_per_second: float    # successful requests/s in the window before the kill
    after_per_second: float     # ... and on fresh connections after the replacement
    survivors_per_second: float  # ... and on the connections kept alive through the kill
    failed: int
    server_errors: int
    connections: int


def kill_worker_under_load(server: Server, body: bytes, window: float = 3.0,
                           connections: int = CONNECTIONS) -> WorkerKill:
    """Load on all workers, SIGKILL one, wait for its replacement, keep loading for `window`.

    Then the same load again on fresh connections: kept-alive connections stay with the worker
    that accepted them, so the new worker only gets the connections made after it started.
    """
    load = Load(server.url, RepeatedRequest("/predict", body, "application/json"), connections=connections,
                max_seconds=4 * window + WAIT_SECONDS).start()
    time.sleep(window)
    victim = server.workers()[0]
    killed_at = time.monotonic()
    server.signal(signal.SIGKILL, victim)
    server.wait_for_workers(timeout=WAIT_SECONDS, exclude=[victim])
    replaced_at = time.monotonic()
    time.sleep(window)
    outcomes = load.stop()
    fresh = Load(server.url, RepeatedRequest("/predict", body, "application/json"), connections=connections,
                 max_seconds=window + WAIT_SECONDS)
    after = summarize(fresh.run(window))
    everything = summarize(outcomes)
    return WorkerKill(
        outcomes=outcomes, killed_at=killed_at, replaced_after=replaced_at - killed_at,
        before_per_second=summarize(outcomes, killed_at - window + 0.5, killed_at).per_second,
        after_per_second=after.per_second,
        survivors_per_second=summarize(outcomes, replaced_at + 0.5, replaced_at + window).per_second,
        failed=everything.failed + after.failed,
        server_errors=everything.server_errors + after.server_errors, connections=connections)


@dataclass(frozen=True)
class GracefulStop:
    outcomes: list[RequestRecord]
    exit_code: int
    sent_before: int            # requests sent before SIGTERM
    in_flight: int              # ... of which not answered yet when it was sent
    failed_before: int          # requests sent before SIGTERM that did not get a 200
    refused_after: int          # requests sent after SIGTERM that found the server going


def sigterm_under_load(server: Server, body: bytes, warmup: float = 2.0,
                       connections: int = CONNECTIONS) -> GracefulStop:
    """Load, then SIGTERM to the master while requests are in flight; wait for it to exit."""
    load = Load(server.url, RepeatedRequest("/predict", body, "application/json"), connections=connections,
                max_seconds=warmup + WAIT_SECONDS).start()
    time.sleep(warmup)
    term_at = time.monotonic()
    server.signal(signal.SIGTERM)
    exit_code = server.process.wait(timeout=WAIT_SECONDS)
    outcomes = load.stop()
    before = [o for o in outcomes if o.sent_at < term_at]
    return GracefulStop(outcomes=outcomes, exit_code=exit_code, sent_before=len(before),
                        in_flight=sum(o.sent_at + o.seconds > term_at for o in before),
                        failed_before=sum(o.status != 200 for o in before),
                        refused_after=sum(o.status != 200 for o in outcomes if o.sent_at >= term_at))
