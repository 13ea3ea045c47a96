"""A real gunicorn process serving the fixture model on a free loopback port.

Tests talk HTTP to it exactly as users do. The session server serves the shared `model_dir`
(never modified); tests that change a model directory start their own `Server` on a copy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server import Server


@pytest.fixture(scope="session")
def server(model_dir: Path, tmp_path_factory) -> Server:
    gunicorn = Server(model_dir, tmp_path_factory.mktemp("gunicorn") / "server.log",
                      MAX_IMAGE_PIXELS="4000000")
    yield gunicorn
    gunicorn.stop()


@pytest.fixture(scope="session")
def url(server: Server) -> str:
    return server.url
