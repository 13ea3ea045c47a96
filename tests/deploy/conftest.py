"""Fixtures of the deployment checks: the compose file, read once per module, and the compose
stack itself (built, trained and started once, for the tests marked `docker`)."""

import os
from pathlib import Path

import pytest
import yaml

from harness.compose import Stack, missing_tools

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="package")
def stack(request: pytest.FixtureRequest) -> Stack:
    """Three replicas of the service behind the proxy, with version 1 trained, on a free loopback
    port. Torn down after the deployment tests (the images stay, for tests/reliability's container
    checks), with the stack's logs printed when a test failed. Without Docker: fails under CI or
    when the run asked for the docker tests (`make compose-test`), else skips."""
    if reason := missing_tools():
        if os.environ.get("CI") or request.config.option.markexpr == "docker":
            pytest.fail(f"the compose tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    running, started = Stack(), False
    failed_before = request.session.testsfailed
    try:
        running.up()
        started = True
        yield running
    finally:
        if not started or request.session.testsfailed > failed_before:
            terminal = request.config.pluginmanager.get_plugin("terminalreporter")
            terminal.write_line(f"compose tests failed; the stack's logs:\n{running.logs()}")
        running.down()
