"""Open Inference Protocol (V2) requests as every server in the peer benchmark takes them.

A `V2Endpoint` says where a server's model is and what its tensors are called: digitnet and the
KServe and BentoML peers name them "input", "probabilities" and "label"; MLServer's scikit-learn
runtime answers "predict_proba" and "predict". BentoML's health checks are its own paths.
Requests carry the pixels as JSON, or (where the server has the binary tensor data extension) as
bytes after a JSON header; `decode_v2_response` reads either kind of answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

BINARY_HEADER = "Inference-Header-Content-Length"
DTYPES = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32,
          "UINT8": np.uint8, "BOOL": np.bool_}


@dataclass(frozen=True)
class V2Endpoint:
    """A server's V2 model: `url` is the server's root, `model` the model's name."""

    server: str
    url: str
    model: str = "mnist"
    input_name: str = "input"
    probabilities: str = "probabilities"
    label: str = "label"
    binary: bool = False  # has the binary tensor data extension
    live_path: str = "/v2/health/live"
    ready_path: str = ""  # "": the V2 model's own, /v2/models/<model>/ready

    @property
    def ready_url(self) -> str:
        return self.url + (self.ready_path or f"/v2/models/{self.model}/ready")

    @property
    def infer_url(self) -> str:
        return f"{self.url}{self.infer_path}"

    @property
    def infer_path(self) -> str:
        return f"/v2/models/{self.model}/infer"


def v2_json_request(endpoint: V2Endpoint, images: np.ndarray,
                    outputs: list[str]) -> tuple[bytes, dict[str, str]]:
    """A V2 JSON body with `images` (n, features) as FP32, asking for `outputs`; and its headers."""
    body = {"inputs": [{"name": endpoint.input_name, "shape": list(images.shape), "datatype": "FP32",
                        "data": np.asarray(images, dtype=np.float32).ravel().tolist()}],
            "outputs": [{"name": name} for name in outputs]}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def v2_binary_request(endpoint: V2Endpoint, images: np.ndarray,
                      outputs: list[str]) -> tuple[bytes, dict[str, str]]:
    """`images` as UINT8 bytes after a JSON header, every output asked as bytes; and its headers."""
    pixels = np.ascontiguousarray(images, dtype=np.uint8).tobytes()
    header = json.dumps({
        "inputs": [{"name": endpoint.input_name, "shape": list(images.shape), "datatype": "UINT8",
                    "parameters": {"binary_data_size": len(pixels)}}],
        "outputs": [{"name": name, "parameters": {"binary_data": True}} for name in outputs],
    }).encode()
    return header + pixels, {"Content-Type": "application/octet-stream",
                             BINARY_HEADER: str(len(header))}


def decode_v2_response(content: bytes, headers: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Every output tensor of a V2 answer, JSON or binary, by name."""
    header_length = headers.get(BINARY_HEADER)
    split = int(header_length) if header_length is not None else len(content)
    answer = json.loads(content[:split])
    tensors, offset = {}, split
    for output in answer["outputs"]:
        dtype = DTYPES[output["datatype"]]
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            data = np.frombuffer(content[offset:offset + size], dtype=dtype)
            offset += size
        else:
            data = np.asarray(output["data"], dtype=dtype)
        tensors[output["name"]] = data.reshape(output["shape"])
    return tensors
