"""JSON in and out with orjson: parsing and encoding are most of a small prediction's cost.

A one-digit `/predict` spends more time turning 784 numbers from text into a list and the answer
back into text than running the model; orjson does both several times faster than the standard
library, which is what lets a prediction cost little more than a health check. Installed as
Flask's JSON provider, it serves every JSON response of the app.

A batch is another matter: 256 images are 200,704 numbers, and making a Python float of each,
checking the lists' shape and copying them into an array cost several times the forward pass.
`parse_v2_request` reads a V2 request's flat "data" list with simdjson straight into a NumPy
array, without a Python object per number; anything else takes the general path.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import simdjson
from flask import Response
from flask.json.provider import JSONProvider

from service.errors import RequestRefused

# Most values (numbers, lists, objects) in one JSON body, counted before it is parsed: parsing
# makes a Python object of each, tens of bytes apiece, however few bytes the body spends on it.
# A full batch of 256 MNIST images is 200,960 values.
MAX_JSON_VALUES = 2**18
# simdjson parsers kept for reuse: a fresh one allocates (and faults in) buffers a few times the
# body's size every time, which costs about as much as the parse. A parser keeps those buffers,
# so it takes bodies of at most FAST_PARSE_MAX_BYTES (a 256-image batch is 1-3 MB; larger ones go
# the general way), and at most MAX_IDLE_PARSERS wait per worker: one per body parsed at once
# (a gevent worker parses one at a time, a gthread worker one per thread).
FAST_PARSE_MAX_BYTES = 4 * 1024 * 1024
MAX_IDLE_PARSERS = 2

_idle_parsers: list[simdjson.Parser] = []


def dumps(obj: Any) -> bytes:
    """`obj` as JSON bytes; NumPy arrays and scalars are written directly, without Python lists."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(dumps(obj), mimetype="application/json")


def parse_json(data: bytes) -> Any:
    """The body as JSON, or a 400 naming the problem (a 413 when it holds too many values)."""
    _count_lists(data)
    return _parse(data)


def _count_lists(data: bytes) -> int:
    """How many lists the body opens; a 413 when it holds over MAX_JSON_VALUES values."""
    # Every value but the first follows a comma or opens a list or object (over-counted by
    # commas inside strings, which no valid body has many of).
    lists = data.count(b"[")
    values = data.count(b",") + lists + data.count(b"{")
    if values > MAX_JSON_VALUES:
        raise RequestRefused(413, f"the JSON body holds about {values} values, over the limit of "
                                  f"{MAX_JSON_VALUES}")
    return lists


def _parse(data: bytes) -> Any:
    """orjson is strict JSON; on failure the standard library gets a second look, because it reads
    the NaN and Infinity that Python clients send: those then get the clearer "NaN or infinite
    values" error from the pixel checks instead of a syntax error."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data)
    except RecursionError:
        raise RequestRefused(400, "malformed JSON: nested too deeply") from None
    except ValueError as e:  # includes UnicodeDecodeError
        raise RequestRefused(400, f"malformed JSON: {e}") from None


def parse_v2_request(data: bytes) -> Any:
    """A V2 inference request's body as `parse_json` returns it, except that its one input's
    "data", when a flat list of numbers, is already a NumPy array (float64; int64 for "UINT8",
    whose values must be integers). Anything else is parsed by `parse_json`, whose errors name
    the problem."""
    lists = _count_lists(data)
    if len(data) > FAST_PARSE_MAX_BYTES:
        return _parse(data)
    # A parser serves one request at a time (list.pop and append are atomic), and goes back only
    # once _with_flat_data has returned: its values must not outlive the parse they came from.
    parser = (_idle_parsers.pop() if _idle_parsers
              else simdjson.Parser(max_capacity=FAST_PARSE_MAX_BYTES))
    fast = _with_flat_data(parser, data, lists)
    if len(_idle_parsers) < MAX_IDLE_PARSERS:
        _idle_parsers.append(parser)
    return fast if fast is not None else _parse(data)


def _with_flat_data(parser: simdjson.Parser, data: bytes, lists: int) -> dict | None:
    """The body with its input's flat "data" as an array; None when it is not one of those."""
    try:
        body = parser.parse(data)
    except (ValueError, RuntimeError):  # malformed, too deep, or numbers a double cannot hold:
        return None                     # the general path names the problem
    inputs = body.get("inputs") if isinstance(body, simdjson.Object) else None
    if not isinstance(inputs, simdjson.Array) or len(inputs) != 1:
        return None
    tensor = inputs[0]
    values = tensor.get("data") if isinstance(tensor, simdjson.Object) else None
    if not isinstance(values, simdjson.Array):
        return None
    integers = tensor.get("datatype") == "UINT8"
    try:
        array = np.frombuffer(values.as_buffer(of_type="i" if integers else "d"),
                              dtype=np.int64 if integers else np.float64)
    except TypeError:  # booleans, nulls, strings or objects among the numbers
        return None
    header = {key: _python(body[key]) for key in body.keys() if key != "inputs"}
    header["inputs"] = [{key: _python(tensor[key]) for key in tensor.keys() if key != "data"}]
    # as_buffer flattens nested lists; a "[" anywhere but in the header's own lists and "data"'s
    # opening one (nesting, or a "[" inside a string) sends the body the general way.
    if lists != _lists_in(header) + 1:
        return None
    header["inputs"][0]["data"] = array
    return header


def _python(value: Any) -> Any:
    """A simdjson value as plain Python (dicts, lists, numbers, strings)."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


def _lists_in(value: Any) -> int:
    """How many lists `value` holds, itself included."""
    if isinstance(value, dict):
        return sum(map(_lists_in, value.values()))
    if isinstance(value, list):
        return 1 + sum(map(_lists_in, value))
    return 0
