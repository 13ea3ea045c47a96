"""A bounded local load generator that records the fate of every request.

Each connection is a thread looping on one keep-alive HTTP connection (as real clients and load
balancers do), so a worker's death shows up as exactly the requests that were on it. Every loop
is bounded by a deadline and a request count; only loopback addresses are ever targeted.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

ERROR_PAUSE_SECONDS = 0.01  # after a failure, so a server that is down is not spun against


@dataclass(frozen=True)
class RequestRecord:
    """One request the load sent, and what became of it."""

    sent_at: float        # time.monotonic() just before the request was written
    seconds: float
    status: int | None    # None: no response (connection refused, reset or closed)
    error: str = ""
    request_id: str = ""  # the X-Request-ID sent (with `request_ids`), to find it in the logs


@dataclass(frozen=True)
class RepeatedRequest:
    """The request a load sends again and again. With `request_ids`, each one carries its own
    `X-Request-ID`: `<request_ids>-<thread>-<n>`."""

    path: str
    body: bytes
    content_type: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    request_ids: str = ""


class Load:
    """`connections` threads sending the same request until stopped, the deadline or the cap."""

    def __init__(self, url: str, request: RepeatedRequest, *, connections: int, max_seconds: float,
                 max_requests: int = 1_000_000) -> None:
        parts = urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "load only on loopback"
        self.host, self.port = parts.hostname, parts.port
        self.method, self.path, self.body = request.method, request.path, request.body or None
        content_type = {"Content-Type": request.content_type} if request.content_type else {}
        self.headers = {**content_type, **request.headers}
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self.request_ids = request.request_ids
        self.outcomes: list[RequestRecord] = []  # list.append is atomic: threads share it
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                         for i in range(connections)]

    def start(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[RequestRecord]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.max_seconds + 60)
        return list(self.outcomes)

    def run(self, seconds: float) -> list[RequestRecord]:
        """Start, run for `seconds`, stop."""
        self.start()
        self._stop.wait(seconds)
        return self.stop()

    def _loop(self, thread: int) -> None:
        deadline = time.monotonic() + self.max_seconds
        connection = None
        headers, request_id, sent = self.headers, "", 0
        while (not self._stop.is_set() and time.monotonic() < deadline
               and len(self.outcomes) < self.max_requests):
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            if self.request_ids:
                request_id = f"{self.request_ids}-{thread}-{sent}"
                headers = {**self.headers, "X-Request-ID": request_id}
            sent += 1
            sent_at = time.monotonic()
            try:
                connection.request(self.method, self.path, body=self.body, headers=headers)
                response = connection.getresponse()
                response.read()
                outcome = RequestRecord(sent_at, time.monotonic() - sent_at, response.status,
                                  request_id=request_id)
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as e:
                outcome = RequestRecord(sent_at, time.monotonic() - sent_at, None, type(e).__name__,
                                  request_id)
                connection.close()
                connection = None
            self.outcomes.append(outcome)
            if outcome.status != 200:
                time.sleep(ERROR_PAUSE_SECONDS)
        if connection is not None:
            connection.close()


@dataclass(frozen=True)
class Summary:
    sent: int
    ok: int
    server_errors: int   # 5xx answers
    failed: int          # anything but a 200: 5xx, other statuses, no response at all
    p50_ms: float
    p99_ms: float
    per_second: float

    def one_line(self) -> str:
        """The figures as one line of text, for a report."""
        return (f"{self.sent} sent, {self.failed} failed ({self.server_errors} 5xx), "
                f"{self.per_second:.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms")


def summarize(outcomes: list[RequestRecord], start: float | None = None, end: float | None = None) -> Summary:
    """Figures for the requests sent in [start, end) (all of them by default)."""
    chosen = [o for o in outcomes if (start is None or o.sent_at >= start)
              and (end is None or o.sent_at < end)]
    if not chosen:
        return Summary(0, 0, 0, 0, float("nan"), float("nan"), 0.0)
    latencies = np.array([o.seconds for o in chosen if o.status == 200] or [float("nan")]) * 1000
    first = start if start is not None else min(o.sent_at for o in chosen)
    last = end if end is not None else max(o.sent_at + o.seconds for o in chosen)
    return Summary(
        sent=len(chosen),
        ok=sum(o.status == 200 for o in chosen),
        server_errors=sum(o.status is not None and o.status >= 500 for o in chosen),
        failed=sum(o.status != 200 for o in chosen),
        p50_ms=float(np.percentile(latencies, 50)),
        p99_ms=float(np.percentile(latencies, 99)),
        per_second=sum(o.status == 200 for o in chosen) / max(last - first, 1e-9),
    )
