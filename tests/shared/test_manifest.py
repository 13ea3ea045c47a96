"""The typed manifest: every section survives its own round trip, and refuses what it cannot serve."""

import copy
import json
import math
import re

import numpy as np
import pytest

from shared import manifest as schema
from shared.bundle import build_manifest
from shared.errors import BundleError, ManifestError
from shared.model import Model
from shared.recipes import RECIPES


def model(sizes=(6, 5, 3), digit_threshold=None) -> Model:
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=b).astype(np.float32) for b in sizes[1:]]
    return Model(weights, biases, ["relu"] * (len(sizes) - 2), 0.0, 255.0, list(range(sizes[-1])),
                 temperature=1.5, digit_threshold=digit_threshold)


TRAINER_SECTIONS = {
    "training": {"hidden": [5], "epochs": 3, "preset": None},
    "metrics": {"test_accuracy": 0.5},
    "data": {"dataset": "digits", "files_sha256": {}},
    "calibration": {"method": "temperature scaling", "confidence_threshold": 0.9},
    "rejection": {"held_out_refused": 0.01},
}


@pytest.fixture(params=["numbers", "optdigits", "rejecting"])
def manifest(request) -> schema.Manifest:
    if request.param == "optdigits":
        return build_manifest(model((64, 5, 10)), "d", 3, TRAINER_SECTIONS, "optdigits")
    if request.param == "rejecting":
        return build_manifest(model(digit_threshold=1.25), "m", 1, TRAINER_SECTIONS)
    return build_manifest(model(), "m", 1, {})


def test_a_manifest_survives_its_round_trip(manifest: schema.Manifest) -> None:
    assert schema.Manifest.from_dict(manifest.to_dict()) == manifest
    assert schema.Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest


def test_every_section_survives_its_round_trip(manifest: schema.Manifest) -> None:
    sections = [manifest.architecture, manifest.input, manifest.scaling, manifest.calibration,
                *manifest.arrays.values(), *([manifest.rejection] if manifest.rejection else [])]
    for section in sections:
        assert type(section).from_dict(section.to_dict()) == section


def test_the_json_keys_are_the_formats() -> None:
    document = build_manifest(model(digit_threshold=1.25), "m", 1, TRAINER_SECTIONS).to_dict()
    assert set(document) == {"format", "format_version", "model_name", "model_version",
                             "created_at", "architecture", "input", "classes", "numpy_version",
                             "arrays", "training", "metrics", "data", "calibration", "rejection"}
    assert set(document["input"]) == {"shape", "image_shape", "range", "scaling", "preprocessing"}
    assert document["input"]["scaling"] == {"method": "min-max", "min": 0.0, "max": 255.0}
    assert document["calibration"] == {**TRAINER_SECTIONS["calibration"], "temperature": 1.5}
    assert document["rejection"] == {"held_out_refused": 0.01, "score": "logsumexp",
                                     "threshold": 1.25}
    assert set(document["arrays"]["weights_0"]) == {"shape", "dtype", "sha256"}
    # Sections the trainer did not write are absent, not null.
    assert not {"training", "metrics", "data", "rejection"} & set(
        build_manifest(model(), "m", 1, {}).to_dict())


def test_a_format_1_manifest_reads_and_round_trips() -> None:
    document = build_manifest(model((64, 5, 10)), "d", 1, {}, "optdigits").to_dict()
    document["format_version"] = 1
    document["input"] = {"shape": [64], "image_shape": [8, 8], "scaling": document["input"]["scaling"]}
    manifest = schema.Manifest.from_dict(document)
    assert manifest.input.recipe is RECIPES["optdigits"]
    assert schema.Manifest.from_dict(manifest.to_dict()) == manifest


def test_the_callers_read_attributes() -> None:
    manifest = build_manifest(model(digit_threshold=1.25), "m", 4, TRAINER_SECTIONS)
    assert (manifest.model_name, manifest.model_version, manifest.classes) == ("m", 4, (0, 1, 2))
    assert manifest.architecture.layer_sizes == (6, 5, 3)
    assert manifest.calibration.temperature == 1.5
    assert manifest.calibration.confidence_threshold == 0.9
    assert manifest.rejection.threshold == 1.25
    assert manifest.metrics == {"test_accuracy": 0.5}
    assert manifest.input == schema.InputSpec(6, None, (0.0, 255.0), None)


GOOD_INPUT = {"shape": [6], "image_shape": [2, 3], "range": [0, 255], "preprocessing": None}


@pytest.mark.parametrize("section_type, section, message", [
    (schema.Architecture, {"layer_sizes": [6, 5, 3], "activations": [], "output": "softmax"},
     "architecture has 2 layers but 0 hidden activations"),
    (schema.Architecture, {"layer_sizes": [6], "activations": [], "output": "softmax"},
     "architecture has 0 layers"),
    (schema.Architecture, {"layer_sizes": [6, 5, 3], "activations": ["swish"], "output": "softmax"},
     "unknown activation(s) ['swish']"),
    (schema.Architecture, {"layer_sizes": [6, 5, 3], "activations": ["relu"], "output": "swish"},
     "unknown output activation 'swish'"),
    (schema.Scaling, {"method": "min-max", "min": 0, "max": math.inf}, "input scaling 0.0-inf is not finite"),
    (schema.InputSpec, {**GOOD_INPUT, "image_shape": [3, 3]},
     "input image_shape [3, 3] does not lay out 6 inputs"),
    (schema.InputSpec, {**GOOD_INPUT, "range": [5, 5]}, "input range [5, 5] is not a finite interval"),
    (schema.InputSpec, {**GOOD_INPUT, "range": [0, math.nan]}, "is not a finite interval"),
    (schema.InputSpec, {**GOOD_INPUT, "preprocessing": {"recipe": "fashion"}},
     "unknown preprocessing recipe 'fashion'"),
    (schema.InputSpec, {**GOOD_INPUT, "preprocessing": {"recipe": "mnist"}},
     "recipe 'mnist' makes [28, 28] images of values 0-255; the input is [2, 3] of 0-255"),
    (schema.Calibration, {"temperature": 0}, "calibration temperature 0.0 must be a positive number"),
    (schema.Calibration, {"temperature": -1.5}, "must be a positive number"),
    (schema.Calibration, {"temperature": math.inf}, "must be a positive number"),
    (schema.Rejection, {"score": "max_probability", "threshold": 0.5},
     "rejection score 'max_probability' is not supported"),
    (schema.Rejection, {"score": "logsumexp", "threshold": "high"},
     "rejection threshold 'high' must be a finite number"),
    (schema.Rejection, {"score": "logsumexp", "threshold": None}, "must be a finite number"),
    (schema.Rejection, {"score": "logsumexp", "threshold": math.nan}, "must be a finite number"),
])
def test_each_section_refuses_what_it_cannot_serve(section_type, section, message) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        section_type.from_dict(section)


def edited(change) -> dict:
    document = copy.deepcopy(build_manifest(model(), "m", 1, {}).to_dict())
    change(document)
    return document


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "not a digitnet-bundle manifest"),
    (lambda d: d.update(format_version=99), "format version 99 is not supported"),
    (lambda d: d["arrays"].pop("biases_1"), "do not match the architecture's"),
    (lambda d: d["arrays"]["weights_0"].update(shape=[5, 6]),
     "weights_0 has shape (5, 6), the architecture needs (6, 5)"),
    (lambda d: d["arrays"]["biases_0"].update(dtype="float64"),
     "biases_0 has dtype float64, expected float32"),
    (lambda d: d.update(classes=[0, 1]), "2 classes for an output layer of 3"),
    (lambda d: d.update(classes=[0, 0, 1]), "classes must be distinct integers"),
    (lambda d: d.update(classes=[0, 1, 2.0]), "classes must be distinct integers"),
    (lambda d: d["input"].update(shape=[7]), "input shape [7] does not match the first layer's 6 inputs"),
    (lambda d: d["architecture"].update(activations=["swish"]), "unknown activation"),
    (lambda d: d.update(calibration={"temperature": -1}), "must be a positive number"),
    (lambda d: d.update(rejection={"score": "logsumexp"}), "must be a finite number"),
])
def test_the_manifest_checks_its_sections_against_each_other(change, message) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        schema.Manifest.from_dict(edited(change))


def test_a_manifest_error_is_a_bundle_error() -> None:
    assert issubclass(ManifestError, BundleError)
    with pytest.raises(BundleError, match="unknown preprocessing recipe 'fashion'"):
        build_manifest(model(), "m", 1, {}, "fashion")
    with pytest.raises(BundleError, match=re.escape("unknown manifest section(s) ['notes']")):
        build_manifest(model(), "m", 1, {"notes": {}})


def test_array_records_keep_what_the_file_says() -> None:
    record = schema.ArrayRecord((6, 5), "float32", "ab" * 32)
    assert record.to_dict() == {"shape": [6, 5], "dtype": "float32", "sha256": "ab" * 32}
