"""A short soak at saturation (the long one is `make reliability`): no errors, memory flat."""

from __future__ import annotations

from pathlib import Path

from harness.reliability.soak import soak
from harness.server import Server

MAX_RSS_GROWTH = 0.10


def test_short_soak_has_no_errors_and_flat_memory(model_dir: Path, tmp_path: Path, known_digits):
    with Server(model_dir, tmp_path / "server.log") as server:
        result = soak(server, known_digits[0], seconds=20, warmup=5)
    assert result.summary.sent > 0 and result.summary.failed == 0, result.summary
    assert result.same_workers, "a worker was replaced during the soak"
    assert result.rss_growth < MAX_RSS_GROWTH, (result.rss_start_mib, result.rss_end_mib)
