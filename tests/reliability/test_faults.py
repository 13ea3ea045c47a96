"""Process faults under load: a worker SIGKILLed is replaced, losing only the requests on it; a
SIGTERM drains the requests in flight and exits 0, with a log line for every answer, under each
worker class."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.reliability.checks import wrong_predictions
from harness.reliability.faults import digit_body, kill_worker_under_load, sigterm_under_load
from harness.server import Server


def test_killed_worker_is_replaced_and_only_its_requests_fail(model_dir: Path, tmp_path: Path, known_digits):
    with Server(model_dir, tmp_path / "server.log") as server:
        result = kill_worker_under_load(server, digit_body(known_digits[0]))
        # Each client connection is held by one worker; those held by the killed one fail once
        # (the request on it, or the next one sent before the client sees the reset).
        assert result.server_errors == 0
        assert 0 <= result.failed <= result.connections, result
        failed_at = [o.sent_at for o in result.outcomes if o.status != 200]
        assert all(t >= result.killed_at - 1 for t in failed_at), "failures before the kill"
        # After the replacement every request succeeds again, and on both workers.
        after = [o for o in result.outcomes if o.sent_at > result.killed_at + result.replaced_after + 1]
        assert after and all(o.status == 200 for o in after)
        assert len(server.workers()) == 2
        for _ in range(4):
            assert wrong_predictions(server.url, *known_digits) is None


@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_sigterm_drains_in_flight_requests_and_exits_0(model_dir: Path, tmp_path: Path, known_digits,
                                                       worker_class: str):
    server = Server(model_dir, tmp_path / "server.log", GUNICORN_WORKER_CLASS=worker_class)
    try:
        # A batch of 64 digits per request: each takes long enough to be in flight at SIGTERM.
        result = sigterm_under_load(server, digit_body(known_digits[0].repeat(4, axis=0), 64))
    finally:
        server.stop()
    assert result.in_flight > 0, "no request was in flight at SIGTERM: the test proved nothing"
    assert result.failed_before == 0, [o for o in result.outcomes if o.status != 200][:5]
    assert result.exit_code == 0
    assert "Shutting down: Master" in server.log()
    answered = sum(o.status == 200 for o in result.outcomes)
    logged = sum(line["status"] == 200 for line in server.requests_logged("POST", "/predict"))
    assert logged >= answered, "answers without their log line"
