"""The Open Inference Protocol (KServe V2 REST), so standard clients and tooling work.

    GET  /v2                                          server metadata
    GET  /v2/health/live | /v2/health/ready           200, or 503 with a reason when no model
    GET  /v2/models/{name}[/versions/{v}]             model metadata
    GET  /v2/models/{name}[/versions/{v}]/ready       model readiness
    POST /v2/models/{name}[/versions/{v}]/infer       inference

The model has one input, "input": shape [-1, 784] (or [-1, 28, 28]), datatype FP32 or UINT8,
raw pixels 0-255 with ink high, flat (row-major) or nested data. It has two outputs:
"probabilities" [-1, 10] FP32 and "label" [-1] INT64; a request's "outputs" list picks some. The
request's "id" is echoed. Failures are `{"error": "..."}` with 400, 404 (or 503: no model yet).

Tensors may also travel as bytes after the JSON, both ways (the binary tensor data extension,
service/binary.py): what Triton's and KServe's clients send for large batches.
"""

from __future__ import annotations

import math

import numpy as np
from flask import Blueprint, g, request

import shared
from service import binary
from service.errors import ApiError
from service.inference import (
    N_PIXELS,
    classify,
    numeric_array,
    pixel_batch,
    registry,
    select_bundle,
)
from service.jsonio import parse_json

INPUT_NAME = "input"
DATATYPES = ("FP32", "UINT8")  # FP32 is what the metadata announces; UINT8 is MNIST's own
OUTPUT_TYPES = {"probabilities": "FP32", "label": "INT64"}
PLATFORM = "digitnet_numpy"
EXTENSIONS = ["binary_tensor_data"]

bp = Blueprint("v2", __name__, url_prefix="/v2")


@bp.get("")
def server_metadata():
    return {"name": "digitnet", "version": shared.__version__, "extensions": EXTENSIONS}


@bp.get("/health/live")
def live():
    """Answers while the process runs: the trivial endpoint the benchmark compares against."""
    return {"live": True}


@bp.get("/health/ready")
def ready():
    snapshot = registry().snapshot
    if not snapshot.bundles:
        return {"ready": False, "error": f"no valid bundle of model {snapshot.model_name!r} "
                                         f"in {registry().model_dir}"}, 503
    return {"ready": True}


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None):
    snapshot = registry().snapshot
    bundle = select_bundle(snapshot, name, version)
    n_classes = len(bundle.model.classes)
    return {
        "name": bundle.name,
        "versions": [str(v) for v in snapshot.versions] if version is None else [version],
        "platform": PLATFORM,
        "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, N_PIXELS]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, n_classes]},
                    {"name": "label", "datatype": "INT64", "shape": [-1]}],
    }


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None):
    bundle = select_bundle(registry().snapshot, name, version)
    return {"name": bundle.name, "version": str(bundle.version), "ready": True}


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None):
    bundle = select_bundle(registry().snapshot, name, version)
    g.model_version = bundle.version
    if request.content_encoding not in (None, "", "identity"):
        raise ApiError(415, f"Content-Encoding {request.content_encoding!r} is not supported: "
                            "send the body uncompressed")
    head, tail = binary.split_body(request.get_data(), request.headers.get(binary.HEADER))
    body = _json_object(head)
    tensor = _single_input(body.get("inputs"))
    as_bytes = binary.flag(binary.parameters(body, "the request"), "binary_data_output", "the request")
    wanted = _requested_outputs(body.get("outputs"), as_bytes)
    proba, labels = classify(bundle, _input_batch(tensor, tail))
    values = {"probabilities": proba, "label": np.asarray(labels, dtype=np.int64)}
    response = {"model_name": bundle.name, "model_version": str(bundle.version)}
    if "id" in body:
        response["id"] = body["id"]
    outputs, blobs = [], []
    for output, in_bytes in wanted.items():
        value = values[output]
        described = {"name": output, "datatype": OUTPUT_TYPES[output], "shape": list(value.shape)}
        if in_bytes:
            blobs.append(binary.tensor_bytes(value, OUTPUT_TYPES[output]))
            described["parameters"] = {binary.SIZE: len(blobs[-1])}
        else:  # NumPy arrays as they are: orjson writes them without Python lists.
            described["data"] = value.ravel()
        outputs.append(described)
    response["outputs"] = outputs
    return binary.response(response, blobs) if blobs else response


def _json_object(data: bytes) -> dict:
    body = parse_json(data)
    if not isinstance(body, dict):
        raise ApiError(400, 'the request body must be a JSON object with "inputs"')
    if "id" in body and not isinstance(body["id"], str):
        raise ApiError(400, '"id" must be a string')
    return body


def _single_input(inputs: object) -> dict:
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ApiError(400, f'"inputs" must be a list of one tensor named {INPUT_NAME!r}')
    tensor = inputs[0]
    if tensor.get("name") != INPUT_NAME:
        raise ApiError(400, f"unknown input {tensor.get('name')!r}: the model's input is {INPUT_NAME!r}")
    for key in ("shape", "datatype"):
        if key not in tensor:
            raise ApiError(400, f"input {INPUT_NAME!r} has no {key!r}")
    return tensor


def _input_batch(tensor: dict, tail: bytes) -> np.ndarray:
    """The input as a pixel batch, from its JSON `data` or from the bytes after the JSON."""
    what = f"input {INPUT_NAME!r}"
    shape, datatype = tensor["shape"], tensor["datatype"]
    if datatype not in DATATYPES:
        raise ApiError(400, f"datatype {datatype!r} is not supported: use {' or '.join(DATATYPES)}")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ApiError(400, f'"shape" must be a list of non-negative integers, got {shape!r}')
    size = binary.declared_size(binary.parameters(tensor, what), what)
    if size is None:
        if tail:
            raise ApiError(400, f"{len(tail)} bytes follow the JSON but no input declares "
                                f'"{binary.SIZE}"')
        if "data" not in tensor:
            raise ApiError(400, f'{what} has neither "data" nor a "{binary.SIZE}" parameter')
        data = numeric_array(tensor["data"], f"{what} data", integers_only=datatype == "UINT8")
        if data.size != math.prod(shape):
            raise ApiError(400, f"shape {shape} needs {math.prod(shape)} values, data has {data.size}")
        return pixel_batch(data.reshape(shape), what)
    if "data" in tensor:
        raise ApiError(400, f'{what} has both "data" and "{binary.SIZE}": send its values one way')
    if size != len(tail):
        raise ApiError(400, f'{what} declares "{binary.SIZE}": {size}, but {len(tail)} bytes follow '
                            f"the JSON part ({binary.HEADER})")
    return pixel_batch(binary.tensor_from_bytes(tail, datatype, shape, what), what)


def _requested_outputs(requested: object, as_bytes: bool) -> dict[str, bool]:
    """The outputs to answer with, in order, each with whether it goes as bytes."""
    if requested is None:
        return dict.fromkeys(OUTPUT_TYPES, as_bytes)
    names = [o.get("name") if isinstance(o, dict) else None for o in requested] \
        if isinstance(requested, list) else None
    if not names or any(n not in OUTPUT_TYPES for n in names):
        raise ApiError(400, '"outputs" must list tensors named "probabilities" and/or "label", '
                            f"got {requested!r}")
    wanted = {}
    for name, output in zip(names, requested):
        what = f"output {name!r}"
        params = binary.parameters(output, what)
        if "classification" in params:
            raise ApiError(400, f"{what}: the classification extension is not supported; "
                                "ask for 'label' and 'probabilities'")
        wanted[name] = binary.flag(params, "binary_data", what, default=as_bytes)
    return wanted
