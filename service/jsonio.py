"""JSON in and out with orjson: parsing and encoding are most of a small prediction's cost.

A one-digit `/predict` spends more time turning 784 numbers from text into a list and the answer
back into text than running the model; orjson does both several times faster than the standard
library, which is what lets a prediction cost little more than a health check. Installed as
Flask's JSON provider, it serves every JSON response of the app.

A batch is another matter: service/jsonarrays.py reads its numbers without Python objects.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from flask import Response
from flask.json.provider import JSONProvider

from service.errors import RequestRefused

# Most values (numbers, lists, objects) in one JSON body, counted before it is parsed: parsing
# makes a Python object of each, tens of bytes apiece, however few bytes the body spends on it.
# A full batch of 256 MNIST images is 200,960 values.
MAX_JSON_VALUES = 2**18
# Bodies over this many bytes have their brackets and commas counted by NumPy, several times
# faster than bytes.count on a batch's megabyte; on a small body NumPy's call costs more.
VECTOR_COUNT_MIN_BYTES = 64 * 1024


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
    count_lists(data)
    return parse_counted(data)


def count_lists(data: bytes) -> int:
    """How many lists the body opens; a 413 when it holds over MAX_JSON_VALUES values."""
    # Every value but the first follows a comma or opens a list or object (over-counted by
    # commas inside strings, which no valid body has many of).
    lists, commas, objects = _byte_counts(data, b"[,{")
    values = commas + lists + objects
    if values > MAX_JSON_VALUES:
        raise RequestRefused(413, f"the JSON body holds about {values} values, over the limit of "
                                  f"{MAX_JSON_VALUES}")
    return lists


def _byte_counts(data: bytes, characters: bytes) -> list[int]:
    """How many times each of `characters` occurs in `data`."""
    if len(data) < VECTOR_COUNT_MIN_BYTES:
        return [data.count(c) for c in characters]
    array = np.frombuffer(data, dtype=np.uint8)
    return [int(np.count_nonzero(array == c)) for c in characters]


def parse_counted(data: bytes) -> Any:
    """`parse_json` of a body whose values count_lists has counted.

    orjson is strict JSON; on failure the standard library gets a second look, because it reads
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
