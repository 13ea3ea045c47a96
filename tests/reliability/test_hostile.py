"""Hostile requests against a real gunicorn with the default limits: each gets the right 4xx (or
its 200), never a 5xx, and no worker's peak memory (VmHWM, read from /proc) grows more than
MEMORY_LIMIT_MIB while it is served. Times are the benchmark's to report (`make reliability`),
except the deadline, whose answer is a status."""

from __future__ import annotations

import pytest
import requests

from harness.images import encode
from harness.reliability.checks import wrong_predictions
from harness.reliability.hostile import (
    MEASURING_ENV,
    MEMORY_LIMIT_MIB,
    HostileRequest,
    drawing,
    hostile_requests,
    measure,
    multipart,
)
from harness.server import Server

CASES = hostile_requests()


@pytest.fixture(scope="module")
def default_server(model_dir, tmp_path_factory):
    """One worker, so its memory is the one that served; the service's default limits."""
    with Server(model_dir, tmp_path_factory.mktemp("hostile") / "server.log", workers=1,
                **MEASURING_ENV) as server:
        for case in CASES[:1] + CASES[4:5]:  # first use of the image code: imports, not requests
            case.send(server.url)
        yield server


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_is_answered_in_bounded_memory(default_server, known_digits, case: HostileRequest):
    outcome = measure(default_server, case)
    assert outcome.problem is None
    assert outcome.growth_mib <= MEMORY_LIMIT_MIB, f"peak memory grew {outcome.growth_mib:.0f} MiB"
    assert requests.get(default_server.url + "/v2/health/ready", timeout=10).status_code == 200
    assert wrong_predictions(default_server.url, *known_digits) is None


def test_request_past_its_deadline_is_a_503(model_dir, tmp_path):
    """Many images under a tiny deadline: refused between images, not held to the end."""
    body, content_type = multipart([encode(drawing((600, 600)))] * 20)
    with Server(model_dir, tmp_path / "server.log", workers=1, REQUEST_DEADLINE_SECONDS="0.01") as server:
        response = requests.post(server.url + "/predict", data=body, timeout=60,
                                 headers={"Content-Type": content_type})
    assert response.status_code == 503, response.text
    assert "REQUEST_DEADLINE_SECONDS" in response.json()["error"]
