"""The Open Inference Protocol (KServe V2 REST), so standard clients and tooling work.

    GET  /v2                                          server metadata
    GET  /v2/health/live | /v2/health/ready           200, or 503 with a reason when no model
    GET  /v2/models/{name}[/versions/{v}]             model metadata
    GET  /v2/models/{name}[/versions/{v}]/ready       model readiness
    POST /v2/models/{name}[/versions/{v}]/infer       inference

Every model served has these paths; {v} is a version number or a label (service/policy.py), and
without it the model's default version answers. Each model has one input, "input", of the shape
its bundle declares ([-1, 784] for MNIST models, [-1, 64] for the 8x8 digits model; a request
may also send [n, rows, columns] of its image shape), datatype FP32 or UINT8, raw values in the
model's range with ink high, flat (row-major) or nested data. It has three outputs:
"probabilities" [-1, classes] FP32, "label" [-1] INT64, "confidence" [-1] FP32 (the
calibrated probability of the label), "digit" [-1] BOOL (whether the model takes the input for a
digit at all) and "digit_score" [-1] FP32 (the score that decides it); a request's "outputs" list
picks some. The request's "id"
is echoed, and "model_version" is the version that answered. Failures are `{"error": "..."}`
with 400, 404 (or 503: no version loaded).

Tensors may also travel as bytes after the JSON, both ways (the binary tensor data extension,
service/binary.py): what Triton's and KServe's clients send for large batches, every output
included.

The server is ready when the default model (MODEL_NAME) has a version loaded.
"""

from __future__ import annotations

import math

import numpy as np
from flask import Blueprint, request

import shared
from service import binary
from service.config import current_settings
from service.errors import RequestRefused, echo
from service.inference import (
    MAX_DIMENSIONS,
    classify,
    input_batch,
    numeric_array,
    registry,
    request_body,
    select_bundle,
)
from service.jsonarrays import parse_with_array
from shared.bundle import Bundle

INPUT_NAME = "input"
DATATYPES = ("FP32", "UINT8")  # FP32 is what the metadata announces; UINT8 is the images' own
OUTPUT_TYPES = {"probabilities": "FP32", "label": "INT64", "confidence": "FP32",
                "digit": "BOOL", "digit_score": "FP32"}
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
    if snapshot.default_model_state is None or not snapshot.default_model_state.bundles:
        return {"ready": False, "error": f"no valid bundle of model {snapshot.default_model!r} "
                                         f"in {registry().model_dir}"}, 503
    return {"ready": True}


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None):
    snapshot = registry().snapshot
    bundle = select_bundle(snapshot, name, version)
    n_classes = len(bundle.model.classes)
    loaded = sorted(snapshot.models[name].bundles, reverse=True) if version is None else [bundle.version]
    return {
        "name": bundle.name,
        "versions": [str(v) for v in loaded],
        "platform": PLATFORM,
        "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, bundle.input.size]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, n_classes]},
                    {"name": "label", "datatype": "INT64", "shape": [-1]},
                    {"name": "confidence", "datatype": "FP32", "shape": [-1]},
                    {"name": "digit", "datatype": "BOOL", "shape": [-1]},
                    {"name": "digit_score", "datatype": "FP32", "shape": [-1]}],
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
    if request.content_encoding not in (None, "", "identity"):
        raise RequestRefused(415, f"Content-Encoding {echo(request.content_encoding)} is not supported: "
                                  "send the body uncompressed")
    head, tail = binary.split_body(request_body(), request.headers.get(binary.HEADER))
    body = _json_object(head)
    tensor = _single_input(body.get("inputs"))
    as_bytes = binary.flag(binary.parameters(body, "the request"), "binary_data_output", "the request")
    wanted = _requested_outputs(body.get("outputs"), as_bytes)
    answers = classify(bundle, _input_batch(tensor, tail, bundle))
    values = {"probabilities": answers.proba,
              "label": np.asarray(answers.labels, dtype=np.int64),
              "confidence": answers.proba.max(axis=1), "digit": answers.is_digit,
              "digit_score": answers.digit_score.astype(np.float32)}
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
    body = parse_with_array(data, ("inputs", 0, "data"), _uint8)
    if not isinstance(body, dict):
        raise RequestRefused(400, 'the request body must be a JSON object with "inputs"')
    if "id" in body and not isinstance(body["id"], str):
        raise RequestRefused(400, '"id" must be a string')
    return body


def _uint8(body: dict) -> bool:
    """Whether the request's input is declared UINT8: its values must then be integers."""
    return body["inputs"][0].get("datatype") == "UINT8"


def _single_input(inputs: object) -> dict:
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise RequestRefused(400, f'"inputs" must be a list of one tensor named {INPUT_NAME!r}')
    tensor = inputs[0]
    if tensor.get("name") != INPUT_NAME:
        raise RequestRefused(400, f"unknown input {echo(tensor.get('name'))}: the model's input is "
                                  f"{INPUT_NAME!r}")
    for key in ("shape", "datatype"):
        if key not in tensor:
            raise RequestRefused(400, f"input {INPUT_NAME!r} has no {key!r}")
    return tensor


def _input_batch(tensor: dict, tail: bytes, bundle: Bundle) -> np.ndarray:
    """The input as a batch the model takes, from its JSON `data` or from the bytes after the JSON."""
    what = f"input {INPUT_NAME!r}"
    datatype = tensor["datatype"]
    if datatype not in DATATYPES:
        raise RequestRefused(400, f"datatype {echo(datatype)} is not supported: use {' or '.join(DATATYPES)}")
    shape = _checked_shape(tensor["shape"], bundle)
    size = binary.declared_size(binary.parameters(tensor, what), what)
    if size is None:
        if tail:
            raise RequestRefused(400, f"{len(tail)} bytes follow the JSON but no input declares "
                                      f'"{binary.SIZE}"')
        if "data" not in tensor:
            raise RequestRefused(400, f'{what} has neither "data" nor a "{binary.SIZE}" parameter')
        data = tensor["data"]
        if not isinstance(data, np.ndarray):  # parse_with_array made it one when it could
            data = numeric_array(data, f"{what} data", integers_only=datatype == "UINT8")
        if data.size != math.prod(shape):
            raise RequestRefused(400, f"shape {shape} needs {math.prod(shape)} values, data has {data.size}")
        return input_batch(data.reshape(shape), what, bundle.input)
    if "data" in tensor:
        raise RequestRefused(400, f'{what} has both "data" and "{binary.SIZE}": send its values one way')
    if size != len(tail):
        raise RequestRefused(400, f'{what} declares "{binary.SIZE}": {size}, but {len(tail)} bytes follow '
                                  f"the JSON part ({binary.HEADER})")
    return input_batch(binary.tensor_from_bytes(tail, datatype, shape, what), what, bundle.input)


def _checked_shape(shape: object, bundle: Bundle) -> list[int]:
    """The input's shape: 1 to MAX_DIMENSIONS non-negative integers whose product, in Python
    integers (no overflow), is at most MAX_BATCH examples of the model's size."""
    if (not isinstance(shape, list) or not 1 <= len(shape) <= MAX_DIMENSIONS
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise RequestRefused(400, f'"shape" must be a list of 1 to {MAX_DIMENSIONS} non-negative integers, '
                                  f"got {echo(shape)}")
    limit = current_settings().max_batch * bundle.input.size
    if math.prod(shape) > limit:
        raise RequestRefused(413, f"shape {echo(shape)} holds {math.prod(shape)} values, over the limit of "
                                  f"{limit} (MAX_BATCH examples of {bundle.input.size})")
    return shape


def _requested_outputs(requested: object, as_bytes: bool) -> dict[str, bool]:
    """The outputs to answer with, in order, each with whether it goes as bytes."""
    if requested is None:
        return dict.fromkeys(OUTPUT_TYPES, as_bytes)
    names = [o.get("name") if isinstance(o, dict) else None for o in requested] \
        if isinstance(requested, list) else None
    if not names or any(not isinstance(n, str) or n not in OUTPUT_TYPES for n in names):
        raise RequestRefused(400, f'"outputs" must list tensors named {", ".join(map(repr, OUTPUT_TYPES))}, '
                                  f"got {echo(requested)}")
    wanted = {}
    for name, output in zip(names, requested):
        what = f"output {name!r}"
        params = binary.parameters(output, what)
        if "classification" in params:
            raise RequestRefused(400, f"{what}: the classification extension is not supported; "
                                      "ask for 'label' and 'probabilities'")
        wanted[name] = binary.flag(params, "binary_data", what, default=as_bytes)
    return wanted
