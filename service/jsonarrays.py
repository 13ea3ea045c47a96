"""A batch's numbers read from JSON straight into a NumPy array, without a Python object each.

256 images are 200,704 numbers. Parsing them into Python floats, checking the nested lists'
shape and copying them into an array cost several times the forward pass. simdjson parses the
body into its own compact form instead, and hands over the numbers of one array as a buffer.

`parse_with_array` returns exactly what `parse_json` does except that the one array a caller
names (a V2 input's "data", /predict's "instances") is already a NumPy array, when it is a
regular array of numbers nested at most MAX_NESTING deep. Anything else (ragged lists, booleans,
nulls or strings among the numbers, malformed JSON, numbers beyond 64 bits, a large body) goes
the general way, to the same answer or the same error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import simdjson

from service.jsonio import count_lists, parse_counted

Path = tuple[str | int, ...]  # keys and list indices from the body down to the array

MAX_NESTING = 3  # [n, size] or [n, rows, columns]; deeper goes the general way
# simdjson parsers kept for reuse: a fresh one allocates (and faults in) buffers a few times the
# body's size every time, which costs about as much as the parse. A parser keeps those buffers,
# so it takes bodies of at most FAST_PARSE_MAX_BYTES (a 256-image batch is 1-3 MB; larger ones go
# the general way), and at most MAX_IDLE_PARSERS wait per worker: one per body parsed at once
# (a gevent worker parses one at a time, a gthread worker one per thread).
FAST_PARSE_MAX_BYTES = 4 * 1024 * 1024
MAX_IDLE_PARSERS = 2

_idle_parsers: list[simdjson.Parser] = []


class _General(Exception):
    """The body is not one the fast path reads: parse it the general way."""


def parse_with_array(data: bytes, path: Path,
                     integers_only: Callable[[Any], bool] = lambda body: False) -> Any:
    """The body as `parse_json` returns it (its errors too), with the array at `path` as a NumPy
    array of its shape: int64 when every value is an integer, else float64. `integers_only(body)`
    (the body without that array) says whether a value that is not an integer must send the body
    the general way, which refuses it."""
    lists = count_lists(data)
    if len(data) > FAST_PARSE_MAX_BYTES:
        return parse_counted(data)
    # A parser serves one request at a time (list.pop and append are atomic), and goes back only
    # once _read has returned: its values must not outlive the parse they came from.
    parser = (_idle_parsers.pop() if _idle_parsers
              else simdjson.Parser(max_capacity=FAST_PARSE_MAX_BYTES))
    try:
        return _read(parser, data, lists, path, integers_only)
    except _General:
        return parse_counted(data)
    finally:
        if len(_idle_parsers) < MAX_IDLE_PARSERS:
            _idle_parsers.append(parser)


def _read(parser: simdjson.Parser, data: bytes, lists: int, path: Path,
          integers_only: Callable[[Any], bool]) -> Any:
    try:
        document = parser.parse(data)
    except (ValueError, RuntimeError):  # malformed, too deep, numbers beyond 64 bits
        raise _General from None
    body, values = _split(document, path)
    array, array_lists = _regular_array(values, integers_only(body))
    # Flattening hides lists nested inside the numbers' places, and a "[" inside a string is
    # no list: either makes this count differ, and the body goes the general way.
    if lists != _lists_in(body) + array_lists:
        raise _General
    _place(body, path, array)
    return body


def _split(node: Any, path: Path) -> tuple[Any, simdjson.Array]:
    """`node` as plain Python with None where `path` leads, and the simdjson array there."""
    if not path:
        if not isinstance(node, simdjson.Array):
            raise _General
        return None, node
    step, rest = path[0], path[1:]
    if isinstance(step, str) and isinstance(node, simdjson.Object) and step in node:
        copy = {key: _python(node[key]) for key in node.keys() if key != step}
    elif isinstance(step, int) and isinstance(node, simdjson.Array) and step < len(node):
        copy = [None if i == step else _python(value) for i, value in enumerate(node)]
    else:
        raise _General
    copy[step], values = _split(node[step], rest)
    return copy, values


def _place(body: Any, path: Path, array: np.ndarray) -> None:
    for step in path[:-1]:
        body = body[step]
    body[path[-1]] = array


def _regular_array(values: simdjson.Array, integers_only: bool) -> tuple[np.ndarray, int]:
    """The numbers of `values` in its shape, and how many lists it is made of; _General unless
    every list at one depth has the same length and numbers sit only at the bottom."""
    shape, level, lists = [len(values)], [values], 1
    while shape[-1] and isinstance(level[0][0], simdjson.Array):
        if len(shape) == MAX_NESTING:
            raise _General
        level = [row for parent in level for row in parent]
        width = len(level[0])
        if not all(isinstance(row, simdjson.Array) and len(row) == width for row in level):
            raise _General
        shape.append(width)
        lists += len(level)
    flat = _numbers(values, integers_only)
    if flat.size != math.prod(shape):
        raise _General
    return flat.reshape(shape), lists


def _numbers(values: simdjson.Array, integers_only: bool) -> np.ndarray:
    """Every number of `values`, flattened: int64 if all are integers, else float64 (and for none,
    as np.asarray has it)."""
    for kind, dtype in (("i", np.int64), ("d", np.float64)):
        try:
            numbers = np.frombuffer(values.as_buffer(of_type=kind), dtype=dtype)
            return numbers if numbers.size else numbers.astype(np.float64)
        except TypeError:  # not all of that kind: booleans, nulls, strings, objects, floats
            if integers_only:
                break
    raise _General


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
