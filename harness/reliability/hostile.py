"""Hostile requests: each small or cheap to send, each once costly to serve (memory, time or a
500), and what the service must answer instead.

`hostile_requests()` builds them; `measure()` sends one to a real server and reads, from /proc,
how much the peak memory of its workers grew meanwhile. tests/reliability/test_hostile.py asserts
the limits on each; `make reliability` prints them as a table.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import requests
from PIL import Image, ImageDraw

from harness.images import encode
from harness.reliability.checks import problem
from harness.reliability.inputs import png_with_header
from harness.server import Server

MEMORY_LIMIT_MIB = 64   # a worker's peak may grow this much for any one request
SECONDS_LIMIT = 1.0     # and the request is answered within this (the benchmark's target)
ERROR_CHARS_LIMIT = 1000  # an error message quotes little of what was sent
PHOTO = (4032, 3024)    # a 12-megapixel phone photo
# For the server measured: glibc then returns every large block to the system when it is freed,
# so each request's peak is its own, not hidden in memory an earlier request left mapped.
MEASURING_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


@dataclass(frozen=True)
class HostileRequest:
    name: str
    path: str
    body: bytes = field(repr=False)
    content_type: str
    statuses: tuple[int, ...]        # the answers that are right
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, url: str, timeout: float = 60) -> requests.Response:
        return requests.post(url + self.path, data=self.body, timeout=timeout,
                             headers={"Content-Type": self.content_type, **self.headers})


@dataclass(frozen=True)
class Measurement:
    """What one hostile request cost the server, and what is wrong with its answer."""

    status: int | None          # None: no answer
    seconds: float
    growth_mib: float           # the most any worker's peak memory grew
    error_chars: int            # length of the error message, 0 for a success
    problem: str | None         # what is wrong with the answer, None when it is right

    def failures(self) -> list[str]:
        """The targets this measurement misses (the time target included)."""
        missed = [self.problem] if self.problem else []
        if self.growth_mib > MEMORY_LIMIT_MIB:
            missed.append(f"peak memory grew {self.growth_mib:.0f} MiB")
        if self.seconds > SECONDS_LIMIT:
            missed.append(f"answered after {self.seconds:.2f} s")
        return missed


def measure(server: Server, request: HostileRequest) -> Measurement:
    """Send `request` and measure the answer, its time and the workers' peak memory growth."""
    held = server.reset_peaks()
    started = time.perf_counter()
    try:
        response = request.send(server.url)
    except requests.RequestException as e:
        return Measurement(None, time.perf_counter() - started, server.peak_growth_mib(held), 0,
                       f"no answer: {e!r}")
    seconds = time.perf_counter() - started
    growth = server.peak_growth_mib(held)
    error = response.json().get("error", "") if response.status_code >= 400 \
        and response.headers.get("Content-Type", "").startswith("application/json") else ""
    wrong = problem(response)
    if wrong is None and response.status_code not in request.statuses:
        wrong = f"{response.status_code} instead of {request.statuses}: {response.text[:200]}"
    if wrong is None and len(error) > ERROR_CHARS_LIMIT:
        wrong = f"an error message of {len(error)} characters"
    return Measurement(response.status_code, seconds, growth, len(error), wrong)


def hostile_requests() -> list[HostileRequest]:
    """Every hostile request: images, JSON bodies, Open Inference Protocol bodies."""
    return [*image_requests(), *json_requests(), *infer_requests()]


def drawing(size: tuple[int, int], mode: str = "L") -> Image.Image:
    """A large "7" drawn in black on white (or on transparency, for RGBA)."""
    width, height = size
    paper = Image.new(mode, size, (0, 0, 0, 0) if mode == "RGBA" else "white")
    ink = (0, 0, 0, 255) if mode == "RGBA" else "black"
    stroke = max(2, width // 40)
    draw = ImageDraw.Draw(paper)
    draw.line([(width // 3, height // 4), (2 * width // 3, height // 4), (width // 2, 3 * height // 4)],
              fill=ink, width=stroke)
    return paper


def multipart(files: list[bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body of `file` fields, and its Content-Type."""
    boundary = "hostile-boundary"
    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{i}.img"\r\n'
              "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
             for i, data in enumerate(files)]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def image_requests() -> list[HostileRequest]:
    transparent = encode(Image.new("RGBA", (5000, 5000), (0, 0, 0, 0)), "WEBP", lossless=True)
    medium_webp = encode(Image.new("RGBA", (2500, 2500), (0, 0, 0, 0)), "WEBP", lossless=True)
    photo_png = encode(drawing(PHOTO, "RGB"))
    bombs, bombs_type = multipart([transparent] * 256)
    two_photos, two_type = multipart([photo_png] * 2)
    many, many_type = multipart([encode(drawing((1000, 1000)))] * 64)
    return [
        HostileRequest("WebP 5000x5000 transparent, lossless (3 KB)", "/predict", transparent,
                       "image/webp", (413,)),
        HostileRequest("WebP 2500x2500 transparent, lossless", "/predict", medium_webp, "image/webp",
                       (413,)),
        HostileRequest("multipart: 256 of the 5000x5000 WebP", "/predict", bombs, bombs_type, (413,)),
        HostileRequest("PNG declaring 100000x100000", "/predict",
                       png_with_header(100_000, 100_000, bytes(200)), "image/png", (413,)),
        HostileRequest("PNG 4032x3024 RGB drawing (12 MP)", "/predict", photo_png, "image/png", (200,)),
        HostileRequest("PNG 3000x2000 transparent drawing", "/predict",
                       encode(drawing((3000, 2000), "RGBA")), "image/png", (200,)),
        HostileRequest("JPEG 4032x3024 photo (12 MP)", "/predict",
                       encode(drawing(PHOTO, "RGB"), "JPEG", quality=90), "image/jpeg", (200,)),
        HostileRequest("multipart: two 12 MP PNGs", "/predict", two_photos, two_type, (413,)),
        HostileRequest("multipart: 64 PNGs of 1000x1000", "/predict", many, many_type, (413,)),
    ]


def json_requests() -> list[HostileRequest]:
    zeros = [0] * 784
    digits = np.random.default_rng(0).uniform(0, 255, (256, 784)).round(6).tolist()
    return [
        HostileRequest("JSON: a 3.8 MB string among numbers", "/predict",
                       _json({"instances": [["x" * 3_800_000, *zeros[1:]]]}), "application/json", (400,)),
        HostileRequest("JSON: 3.8 MiB of strings in 256 rows", "/predict",
                       _json({"instances": [["a" * 18] * 784] * 256}), "application/json", (400,)),
        HostileRequest("JSON: 16 MiB of empty lists", "/predict",
                       b'{"instances": [' + b"[]," * 5_500_000 + b"[]]}", "application/json", (413,)),
        HostileRequest("JSON: a 15 MiB string as the instances", "/predict",
                       _json({"instances": "x" * 15 * 2**20}), "application/json", (400,)),
        HostileRequest("JSON: 256 rows of 784 floats (the largest batch)", "/predict",
                       _json({"instances": digits}), "application/json", (200,)),
        HostileRequest("JSON: 257 rows (over MAX_BATCH)", "/predict",
                       _json({"instances": [zeros] * 257}), "application/json", (413,)),
        HostileRequest("JSON: a top_k of 3 MB", "/predict?top_k=1",
                       _json({"instances": [zeros], "top_k": "9" * 3_000_000}), "application/json",
                       (400,)),
        HostileRequest("JSON: booleans for pixels", "/predict",
                       _json({"instances": [[True] * 784]}), "application/json", (400,)),
    ]


def _infer(tensor: dict, **body: object) -> bytes:
    return _json({"inputs": [{"name": "input", "datatype": "FP32", **tensor}], **body})


def infer_requests() -> list[HostileRequest]:
    path = "/v2/models/mnist/infer"
    huge = _infer({"shape": [2**32, 2**32], "parameters": {"binary_data_size": 0}})
    pixels = np.zeros((256, 784), np.uint8).tobytes()
    binary = _infer({"shape": [256, 784], "datatype": "UINT8",
                     "parameters": {"binary_data_size": len(pixels)}})
    one = {"shape": [1, 784], "data": [0] * 784}
    return [
        HostileRequest("V2: binary shape [2^32, 2^32], no bytes", path, huge, "application/octet-stream",
                       (400, 413), {"Inference-Header-Content-Length": str(len(huge))}),
        HostileRequest("V2: 65 dimensions", path, _infer({"shape": [1] * 65, "data": [0]}),
                       "application/json", (400,)),
        HostileRequest("V2: an output name that is a list", path, _infer(one, outputs=[{"name": ["label"]}]),
                       "application/json", (400,)),
        HostileRequest("V2: an output name that is an object", path,
                       _infer(one, outputs=[{"name": {"label": 1}}]), "application/json", (400,)),
        HostileRequest("V2: 3.8 MiB of strings as data", path,
                       _infer({"shape": [256, 784], "data": ["a" * 18] * (256 * 784)}),
                       "application/json", (400,)),
        HostileRequest("V2: 256x784 UINT8 as bytes (the largest batch)", path, binary + pixels,
                       "application/octet-stream", (200,),
                       {"Inference-Header-Content-Length": str(len(binary))}),
    ]


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
