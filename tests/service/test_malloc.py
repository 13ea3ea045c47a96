"""service/malloc.py: a process keeps the memory it frees, so a worker does not page in every
large request body afresh from the kernel (counted in minor page faults, not timed)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from harness.server import Server, process_minor_faults

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")

ALLOCATE_AND_FREE = """
import resource, sys
import numpy as np
from service.malloc import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
def request():  # as a request's arrays: several blocks of megabytes at once, then all freed
    blocks = [np.ones(1 << 18) for _ in range(4)]  # 2 MiB each
    return sum(block.sum() for block in blocks)
request()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    request()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_allocating(mode: str) -> int:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", ALLOCATE_AND_FREE, mode], cwd=root,
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_process_reuses_the_large_blocks_it_frees() -> None:
    plain, kept = faults_allocating("plain"), faults_allocating("kept")
    assert plain >= 50 * 1000       # what glibc trimmed is paged in again: 512 pages a block
    assert kept <= plain / 20


def test_a_worker_does_not_page_in_each_large_body(server: Server, mnist) -> None:
    body = json.dumps({"inputs": [{"name": "input", "shape": [256, 784], "datatype": "FP32",
                                   "data": mnist.x_test[:256].reshape(-1).tolist()}]})
    with requests.Session() as session:
        def send() -> None:
            response = session.post(f"{server.url}/v2/models/mnist/infer", data=body,
                                    headers={"Content-Type": "application/json"})
            assert response.status_code == 200

        for _ in range(5):  # the worker's heap grows to what such a request needs, once
            send()
        before = {pid: process_minor_faults(pid) for pid in server.workers()}
        for _ in range(20):
            send()
        faults = sum(process_minor_faults(pid) - count for pid, count in before.items())
    assert len(body) > 500_000
    assert faults <= 20 * 50  # without it, hundreds of pages for every request
