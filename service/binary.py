"""The binary tensor data extension of the Open Inference Protocol (Triton's, adopted by KServe).

A body may carry tensors as raw bytes after its JSON part instead of as JSON numbers:

    {"inputs": [{"name": "input", "shape": [256, 784], "datatype": "UINT8",
                 "parameters": {"binary_data_size": 200704}}]}<200704 bytes of pixels>

The `Inference-Header-Content-Length` header gives the length of the JSON part; a tensor sent as
bytes has a `binary_data_size` parameter instead of `data`, and the bytes of such tensors follow the
JSON in the order the tensors are listed: little-endian, row-major, no padding. A client asks for an
output as bytes with `"parameters": {"binary_data": true}` on the requested output, or for every
output with `"parameters": {"binary_data_output": true}` on the request; the answer then has the same
layout, with the header set and `Content-Type: application/octet-stream`.

256 digits are 200 KB of bytes instead of ~1 MB of JSON text, and neither side parses numbers:
the framing only slices the body. This module knows the framing; v2.py knows the tensors.
"""

from __future__ import annotations

import math

import numpy as np
from flask import Response

from service.errors import RequestRefused, echo
from service.jsonio import dumps

HEADER = "Inference-Header-Content-Length"
SIZE = "binary_data_size"
CONTENT_TYPE = "application/octet-stream"
# Each datatype's bytes as NumPy reads them: little-endian, whatever the machine.
NUMPY_TYPES = {"FP32": np.dtype("<f4"), "UINT8": np.dtype("u1"), "INT64": np.dtype("<i8"),
               "BOOL": np.dtype("?")}


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON part of a request body and the bytes after it (empty without the header)."""
    if header_length is None:
        return body, b""
    length = int(header_length) if header_length.isascii() and header_length.isdigit() else None
    if length is None or not 0 < length <= len(body):
        raise RequestRefused(400, f"{HEADER} must be the length in bytes of the JSON part of the body "
                                  f"(1 to {len(body)}), got {echo(header_length)}")
    return body[:length], body[length:]


def parameters(holder: dict, what: str) -> dict:
    """`holder["parameters"]`, which the protocol makes an object when present."""
    found = holder.get("parameters", {})
    if not isinstance(found, dict):
        raise RequestRefused(400, f'"parameters" of {what} must be an object, got {echo(found)}')
    return found


def flag(params: dict, name: str, what: str, default: bool = False) -> bool:
    """A boolean parameter (`binary_data`, `binary_data_output`)."""
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise RequestRefused(400, f'parameter "{name}" of {what} must be true or false, got {echo(value)}')
    return value


def declared_size(params: dict, what: str) -> int | None:
    """The `binary_data_size` a tensor declares, or None when it travels as JSON."""
    size = params.get(SIZE)
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise RequestRefused(400, f'"{SIZE}" of {what} must be a non-negative integer, got {echo(size)}')
    return size


def tensor_from_bytes(data: bytes, datatype: str, shape: list[int], what: str) -> np.ndarray:
    """A read-only array over `data`, which must hold exactly `shape` elements of `datatype`."""
    dtype = NUMPY_TYPES[datatype]
    expected = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    if len(data) != expected:
        raise RequestRefused(400, f"{what}: shape {shape} of {datatype} needs {expected} bytes, "
                                  f"{len(data)} were sent")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def tensor_bytes(array: np.ndarray, datatype: str) -> bytes:
    return np.ascontiguousarray(array, dtype=NUMPY_TYPES[datatype]).tobytes()


def response(header: dict, blobs: list[bytes]) -> Response:
    """The JSON header followed by the outputs' bytes, as the extension frames an answer."""
    head = dumps(header)
    return Response(head + b"".join(blobs), content_type=CONTENT_TYPE, headers={HEADER: str(len(head))})
