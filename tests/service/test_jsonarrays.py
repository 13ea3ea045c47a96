"""The fast path for a batch's numbers: a regular array of numbers comes back as a NumPy array,
and every other body is parsed as before, to the same answer or the same error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.errors import RequestRefused
from service.jsonarrays import FAST_PARSE_MAX_BYTES, parse_with_array
from service.jsonio import MAX_JSON_VALUES, VECTOR_COUNT_MIN_BYTES, count_lists

V2_DATA = ("inputs", 0, "data")


def v2_body(data: object, datatype: str = "FP32", **tensor) -> bytes:
    return json.dumps({"id": "a", "inputs": [{"name": "input", "shape": [1, 3], "datatype": datatype,
                                              "data": data, **tensor}],
                       "outputs": [{"name": "label"}]}).encode()


def uint8(body: dict) -> bool:
    return body["inputs"][0].get("datatype") == "UINT8"


def parse_v2(raw: bytes):
    return parse_with_array(raw, V2_DATA, uint8)


@pytest.mark.parametrize("datatype,data,dtype", [
    ("FP32", [0, 127.5, 255], np.float64),
    ("FP32", [1e300, -2, 0.25], np.float64),
    ("FP32", [0, 7, 255], np.int64),          # integers stay integers, as np.asarray keeps them
    ("UINT8", [0, 7, 255], np.int64),
    ("FP32", [[1, 2, 3], [4, 5, 6]], np.int64),
    ("FP32", [[[1, 2], [3, 4]], [[5, 6], [7, 8.5]]], np.float64),
    ("FP32", [], np.float64),
])
def test_a_regular_array_comes_back_as_an_array(datatype, data, dtype):
    body = parse_v2(v2_body(data, datatype))
    array = body["inputs"][0]["data"]
    assert isinstance(array, np.ndarray) and array.dtype == dtype
    np.testing.assert_array_equal(array, np.asarray(data, dtype=dtype))
    body["inputs"][0]["data"] = data
    assert body == json.loads(v2_body(data, datatype))


def test_predict_instances_come_back_as_an_array():
    raw = json.dumps({"instances": [[0, 1.5], [2, 3]], "top_k": 2}).encode()
    body = parse_with_array(raw, ("instances",))
    np.testing.assert_array_equal(body["instances"], [[0, 1.5], [2, 3]])
    assert body["top_k"] == 2


@pytest.mark.parametrize("raw", [
    v2_body([1, [2], 3]),                  # ragged: flattening would hide that
    v2_body([[1, 2], [3]]),
    v2_body([[1, 2], 3]),
    v2_body([[1, [2]], [3, 4]]),           # a list where a number belongs, at the bottom
    v2_body([[], [1]]),
    v2_body([[[[1]]]]),                    # deeper than MAX_NESTING
    v2_body([1, 2, 3], name="in[put"),     # a "[" inside a string
    v2_body([1, True, 3]),
    v2_body([1, None, 3]),
    v2_body([1, "2", 3]),
    v2_body([1, 2.5, 3], "UINT8"),         # not integers
    v2_body([1, 2**70, 3]),                # more than 64 bits
    json.dumps({"inputs": [{"data": [1]}, {"data": [2]}]}).encode(),
    json.dumps({"inputs": []}).encode(),
    json.dumps({"inputs": {"data": [1]}}).encode(),
    json.dumps([{"inputs": [{"data": [1]}]}]).encode(),
])
def test_everything_else_is_parsed_as_before(raw):
    body = parse_v2(raw)
    if isinstance(body, dict) and isinstance(body.get("inputs"), list) and len(body["inputs"]) == 2:
        body["inputs"][0]["data"] = body["inputs"][0]["data"].tolist()  # the first input is regular
    assert body == json.loads(raw)


@pytest.mark.parametrize("raw,status,message", [
    (b'{"inputs": [{"data": [1, 2,]}]}', 400, "malformed JSON"),
    (b'{"inputs": [{"data": [' + b"[" * 5000 + b"]" * 5000 + b"]}]}", 400, "nested too deeply"),
    (v2_body([0] * (MAX_JSON_VALUES + 1)), 413, "values"),
])
def test_errors_are_those_of_the_general_path(raw, status, message):
    with pytest.raises(RequestRefused) as refused:
        parse_v2(raw)
    assert refused.value.status == status and message in refused.value.message


def test_an_array_outlives_the_next_parse():
    """Parsers are reused: what one parse returned must not change with the next."""
    first = parse_v2(v2_body([1, 2, 3]))["inputs"][0]["data"]
    second = parse_v2(v2_body([7, 8, 9]))["inputs"][0]["data"]
    np.testing.assert_array_equal(first, [1, 2, 3])
    np.testing.assert_array_equal(second, [7, 8, 9])


def test_a_body_over_the_fast_path_size_is_parsed_as_before():
    raw = v2_body([1, 2, 3], parameters={"note": "x" * FAST_PARSE_MAX_BYTES})
    assert len(raw) > FAST_PARSE_MAX_BYTES
    assert parse_v2(raw) == json.loads(raw)



@pytest.mark.parametrize("size", ["small", "large"])
def test_lists_and_values_are_counted_alike_on_small_and_large_bodies(size):
    """Bodies from VECTOR_COUNT_MIN_BYTES up are counted by NumPy, smaller ones by bytes.count:
    the same lists either way, brackets inside strings included."""
    piece = b'[{"a": "[,{"}, [1, 2], [[3]]],'
    repeats = 1 if size == "small" else VECTOR_COUNT_MIN_BYTES // len(piece) + 1
    raw = piece * repeats
    assert (len(raw) >= VECTOR_COUNT_MIN_BYTES) == (size == "large")
    assert count_lists(raw) == raw.count(b"[") == 5 * repeats
