"""A bounded soak at saturation: JSON digits and PNG uploads together, worker memory sampled.

Memory is measured after a warm-up (allocators and caches grow to their working size first) and
at the end; growth past that is what a leak would look like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from harness.images import drawn_digit, encode, multipart_file
from harness.load import Load, RepeatedRequest, Summary, summarize
from harness.reliability.faults import digit_body
from harness.server import Server, rss_mib

JSON_CONNECTIONS = 6
IMAGE_CONNECTIONS = 2
BOUNDARY = "digitnet-soak"


@dataclass(frozen=True)
class SoakResult:
    summary: Summary
    seconds: float
    rss_start_mib: dict[int, float]   # per worker pid, after the warm-up
    rss_end_mib: dict[int, float]

    @property
    def rss_growth(self) -> float:
        """The largest relative growth of any worker's memory after the warm-up."""
        return max((self.rss_end_mib[p] - self.rss_start_mib[p]) / self.rss_start_mib[p]
                   for p in self.rss_start_mib if p in self.rss_end_mib)

    @property
    def same_workers(self) -> bool:
        return self.rss_start_mib.keys() == self.rss_end_mib.keys()


def soak(server: Server, digits: np.ndarray, seconds: float, warmup: float) -> SoakResult:
    image_body, image_type = multipart_file(encode(drawn_digit(digits[0])), BOUNDARY)
    loads = [
        Load(server.url, RepeatedRequest("/predict", digit_body(digits), "application/json"),
             connections=JSON_CONNECTIONS, max_seconds=warmup + seconds + 30),
        Load(server.url, RepeatedRequest("/predict", image_body, image_type),
             connections=IMAGE_CONNECTIONS, max_seconds=warmup + seconds + 30),
    ]
    for load in loads:
        load.start()
    time.sleep(warmup)
    start = time.monotonic()
    rss_start = {pid: rss_mib(pid) for pid in server.workers()}
    time.sleep(seconds)
    rss_end = {pid: rss_mib(pid) for pid in server.workers()}
    outcomes = [o for load in loads for o in load.stop()]
    return SoakResult(summarize(outcomes, start, start + seconds), seconds, rss_start, rss_end)
