"""The manifest: everything a bundle says about its model, declared as one schema.

A bundle (shared/bundle.py) stores its manifest as UTF-8 JSON. Each section is a frozen dataclass
with `to_dict()` (the section as JSON writes it) and `from_dict()` (which refuses, with
ManifestError, a section this code cannot serve):

    format, format_version       FORMAT_NAME; FORMAT_VERSION is written, READABLE_FORMATS load
    model_name, model_version    Manifest
    created_at, numpy_version    Manifest (strings, for people)
    architecture                 Architecture: layer sizes, hidden activations, output activation
    arrays                       ArrayRecord per array: shape, dtype, SHA-256
    classes                      Manifest.classes: the label of each output
    input                        InputSpec: what a client sends (shape, image shape, value range)
                                 and the recipe (shared/recipes.py) that makes it from an upload
    input.scaling                Scaling: how the model scales its raw input (min-max)
    calibration                  Calibration: the softmax temperature, the confidence threshold
    rejection (optional)         Rejection: the digit score below which an input is no digit
    training, metrics, data      the trainer's records (optional, free-form)

`Manifest.from_dict` is the one verification of a manifest, for the writer and the reader alike:
each section checks itself, then the sections are checked against each other (the array records
and the classes against the architecture, the input against the first layer). Checking the arrays
themselves against their records is the bundle's job.

Format 2 added the input contract (`range`, `preprocessing`). Format 1 manifests, written before it,
still load: every one came from this trainer, so their image shape says which recipe made their
data (28x28: mnist, 8x8: optdigits) and its range is theirs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from shared.errors import ManifestError
from shared.recipes import RECIPES, Recipe

FORMAT_NAME = "digitnet-bundle"
FORMAT_VERSION = 2          # what this code writes
READABLE_FORMATS = (1, 2)   # what it loads
REJECTION_SCORE = "logsumexp"  # the digit score a bundle's rejection threshold applies to
ARRAY_DTYPE = "float32"     # every weight and bias array
SCALING_METHOD = "min-max"

Section = Mapping[str, Any]


def array_names(n_layers: int) -> list[str]:
    """The arrays of a network of `n_layers` layers, in order: weights_0, biases_0, weights_1, ..."""
    return [f"{kind}_{i}" for i in range(n_layers) for kind in ("weights", "biases")]


def array_shapes(layer_sizes: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """The arrays a network of these layer sizes needs, name: shape, in order (weights_0, biases_0, ...)."""
    n_layers = len(layer_sizes) - 1
    shapes = [shape for i in range(n_layers)
              for shape in ((layer_sizes[i], layer_sizes[i + 1]), (layer_sizes[i + 1],))]
    return dict(zip(array_names(n_layers), shapes))


def layout_problem(key: str, shape: tuple, dtype: object, needed: tuple[tuple, object]) -> str | None:
    """Why array `key`, of `shape` and `dtype`, is not the (shape, dtype) `needed`; None if it is."""
    needed_shape, needed_dtype = needed
    if tuple(shape) != tuple(needed_shape):
        return f"{key} has shape {tuple(shape)}, the architecture needs {tuple(needed_shape)}"
    if str(dtype) != str(needed_dtype):
        return f"{key} has dtype {dtype}, expected {needed_dtype}"
    return None


def recipe_named(name: str) -> Recipe:
    """The recipe of that name; ManifestError for a name this code does not know."""
    recipe = RECIPES.get(name)
    if recipe is None:
        raise ManifestError(f"unknown preprocessing recipe {name!r} "
                            f"(this code knows {', '.join(RECIPES)})")
    return recipe


@dataclass(frozen=True)
class Architecture:
    """The network's shape: `layer_sizes` (inputs, hidden layers..., outputs), one activation per
    hidden layer, and the output layer's activation."""

    layer_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    output: str

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes) - 1

    def array_shapes(self) -> dict[str, tuple[int, ...]]:
        """The arrays this architecture needs, name: shape, in order (weights_0, biases_0, ...)."""
        return array_shapes(self.layer_sizes)

    def to_dict(self) -> dict[str, Any]:
        return {"layer_sizes": list(self.layer_sizes), "activations": list(self.activations),
                "output": self.output}

    @classmethod
    def from_dict(cls, section: Section) -> Architecture:
        sizes = tuple(int(s) for s in section["layer_sizes"])
        hidden = tuple(section["activations"])
        n_layers = len(sizes) - 1
        if n_layers < 1 or len(hidden) != n_layers - 1:
            raise ManifestError(f"architecture has {n_layers} layers but {len(hidden)} hidden activations")
        if unknown := [a for a in hidden if a not in HIDDEN_ACTIVATIONS]:
            raise ManifestError(f"unknown activation(s) {unknown}")
        if section["output"] not in ACTIVATIONS:
            raise ManifestError(f"unknown output activation {section['output']!r}")
        return cls(sizes, hidden, section["output"])


@dataclass(frozen=True)
class ArrayRecord:
    """What the manifest records of one array, to check the file's array against."""

    shape: tuple[int, ...]
    dtype: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, section: Section) -> ArrayRecord:
        return cls(tuple(section["shape"]), section["dtype"], section["sha256"])


@dataclass(frozen=True)
class Scaling:
    """How the model scales its raw input: min-max from [low, high] (JSON: "min", "max")."""

    low: float
    high: float
    method: str = SCALING_METHOD

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "min": self.low, "max": self.high}

    @classmethod
    def from_dict(cls, section: Section) -> Scaling:
        low, high = float(section["min"]), float(section["max"])
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ManifestError(f"input scaling {low}-{high} is not finite")
        return cls(low, high, section.get("method", SCALING_METHOD))


@dataclass(frozen=True)
class InputSpec:
    """A model's input as its manifest states it: what a client sends, and how an upload becomes it.

    Clients send `size` numbers per example, raw (the model applies its own scaling), within
    `value_range`, ink high; laid out as `image_shape` (rows, columns, row-major) when the input
    is an image. `recipe` turns an uploaded image into such an array; None means the model takes
    no uploads, only numbers. `to_dict()` is also the contract clients read in /models.
    """

    size: int
    image_shape: tuple[int, int] | None
    value_range: tuple[float, float]
    recipe: Recipe | None

    def to_dict(self) -> dict[str, Any]:
        return {"shape": [self.size],
                "image_shape": list(self.image_shape) if self.image_shape else None,
                "range": list(self.value_range),
                "preprocessing": self.recipe.to_dict() if self.recipe else None}

    @classmethod
    def from_dict(cls, section: Section) -> InputSpec:
        """The input section (its "scaling" is Scaling's), checked against the recipe it names."""
        shape = [int(d) for d in section["shape"]]
        if len(shape) != 1 or shape[0] < 1:
            raise ManifestError(f"input shape {section['shape']} is not one positive size")
        image_shape = _image_shape(section["image_shape"], shape[0])
        value_range = _value_range(section["range"])
        recipe = None
        if (preprocessing := section["preprocessing"]) is not None:
            recipe = recipe_named(preprocessing["recipe"])
            _check_recipe_makes(recipe, image_shape, value_range)
        return cls(shape[0], image_shape, value_range, recipe)


def _image_shape(value: Any, size: int) -> tuple[int, int] | None:
    if value is None:
        return None
    image_shape = tuple(int(d) for d in value)
    if len(image_shape) != 2 or min(image_shape) < 1 or image_shape[0] * image_shape[1] != size:
        raise ManifestError(f"input image_shape {list(image_shape)} does not lay out {size} inputs")
    return image_shape


def _value_range(value: Any) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ManifestError(f"input range {value} is not a finite interval")
    return low, high


def _check_recipe_makes(recipe: Recipe, image_shape: tuple[int, int] | None,
                        value_range: tuple[float, float]) -> None:
    """The recipe makes images of the input's shape and range, else ManifestError."""
    if recipe.image_shape != image_shape or recipe.value_range != value_range:
        low, high = value_range
        raise ManifestError(
            f"recipe {recipe.name!r} makes {list(recipe.image_shape)} images of values "
            f"{recipe.value_range[0]:g}-{recipe.value_range[1]:g}; the input is "
            f"{list(image_shape) if image_shape else None} of {low:g}-{high:g}")


def _format_1_input(section: Section) -> dict[str, Any]:
    """A format-1 input section completed: its image shape names the recipe that made its data
    (every format-1 bundle came from this trainer, on MNIST or on scikit-learn's digits), and
    the recipe's range is its range. Other shapes take numbers only, in the scaling's range."""
    shape = tuple(section.get("image_shape") or ())
    recipe = next((r for r in RECIPES.values() if r.image_shape == shape), None)
    scaling = section["scaling"]
    return {**section,
            "range": list(recipe.value_range) if recipe else [scaling["min"], scaling["max"]],
            "preprocessing": recipe.to_dict() if recipe else None}


@dataclass(frozen=True)
class Calibration:
    """How the model's confidence is calibrated: the softmax temperature (the model's), and the
    trainer's account of it as written (method, held-out figures, the confidence threshold...)."""

    temperature: float = 1.0
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def confidence_threshold(self) -> float | None:
        """Answers at least this confident met the trainer's target accuracy on held-out data."""
        return self.details.get("confidence_threshold")

    def to_dict(self) -> dict[str, Any]:
        return {**self.details, "temperature": self.temperature}

    @classmethod
    def from_dict(cls, section: Section) -> Calibration:
        temperature = float(section.get("temperature", 1.0))
        if not 0 < temperature < math.inf:
            raise ManifestError(f"calibration temperature {temperature!r} must be a positive number")
        return cls(temperature, {k: v for k, v in section.items() if k != "temperature"})


@dataclass(frozen=True)
class Rejection:
    """The digit score (REJECTION_SCORE) below which an input is taken for no digit, and the
    trainer's account of how it was chosen. A bundle without one takes every input for a digit,
    as bundles did before the section existed."""

    threshold: float
    score: str = REJECTION_SCORE
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.details, "score": self.score, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, section: Section) -> Rejection:
        if section.get("score") != REJECTION_SCORE:
            raise ManifestError(f"rejection score {section.get('score')!r} is not supported "
                                f"(this code computes {REJECTION_SCORE!r})")
        threshold = section.get("threshold")
        if type(threshold) not in (int, float) or not math.isfinite(threshold):
            raise ManifestError(f"rejection threshold {threshold!r} must be a finite number")
        details = {k: v for k, v in section.items() if k not in ("score", "threshold")}
        return cls(float(threshold), REJECTION_SCORE, details)


@dataclass(frozen=True)
class Manifest:
    """A bundle's manifest, every section typed. Build one with `from_dict` (which verifies it)
    or, for a new model, with shared.bundle.build_manifest."""

    model_name: str
    model_version: int
    architecture: Architecture
    arrays: Mapping[str, ArrayRecord]
    classes: tuple[int, ...]
    input: InputSpec
    scaling: Scaling
    calibration: Calibration = field(default_factory=Calibration)
    rejection: Rejection | None = None
    training: Mapping[str, Any] | None = None  # the training configuration and its timings
    metrics: Mapping[str, Any] | None = None   # figures on the training and test data
    data: Mapping[str, Any] | None = None      # the data set, its sizes and files' checksums
    created_at: str | None = None
    numpy_version: str | None = None
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The manifest as the bundle stores it (JSON types only)."""
        records = {"training": self.training, "metrics": self.metrics, "data": self.data}
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "model_name": self.model_name,
            "model_version": self.model_version,
            **_present({"created_at": self.created_at}),
            "architecture": self.architecture.to_dict(),
            "input": {**self.input.to_dict(), "scaling": self.scaling.to_dict()},
            "classes": list(self.classes),
            **_present({"numpy_version": self.numpy_version}),
            "arrays": {key: record.to_dict() for key, record in self.arrays.items()},
            **_present(records),
            "calibration": self.calibration.to_dict(),
            **_present({"rejection": self.rejection.to_dict() if self.rejection else None}),
        }

    @classmethod
    def from_dict(cls, document: Any) -> Manifest:
        """The manifest `document` (parsed JSON) states; ManifestError for the first problem."""
        _check_format(document)
        architecture = Architecture.from_dict(document["architecture"])
        section = document["input"]
        if document["format_version"] == 1:
            section = _format_1_input(section)
        return cls(
            model_name=document["model_name"],
            model_version=document["model_version"],
            architecture=architecture,
            arrays=_array_records(document["arrays"], architecture),
            classes=_classes(document["classes"], architecture.layer_sizes[-1]),
            calibration=Calibration.from_dict(document.get("calibration", {})),
            rejection=Rejection.from_dict(document["rejection"])
            if document.get("rejection") is not None else None,
            input=_input(section, architecture.layer_sizes[0]),
            scaling=Scaling.from_dict(section["scaling"]),
            training=document.get("training"),
            metrics=document.get("metrics"),
            data=document.get("data"),
            created_at=document.get("created_at"),
            numpy_version=document.get("numpy_version"),
            format_version=document["format_version"],
        )


def _present(sections: dict[str, Any]) -> dict[str, Any]:
    """The optional sections that are there (a manifest without one has no key for it)."""
    return {key: value for key, value in sections.items() if value is not None}


def _check_format(document: Any) -> None:
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ManifestError(f"not a {FORMAT_NAME} manifest")
    if document.get("format_version") not in READABLE_FORMATS:
        raise ManifestError(f"format version {document.get('format_version')!r} is not supported "
                            f"(this code reads versions {', '.join(map(str, READABLE_FORMATS))})")


def _array_records(section: Section, architecture: Architecture) -> dict[str, ArrayRecord]:
    """The array records, exactly the architecture's arrays, each of the shape it needs."""
    needed = architecture.array_shapes()
    if sorted(section) != sorted(needed):
        raise ManifestError(f"arrays {sorted(section)} do not match the architecture's {list(needed)}")
    records = {key: ArrayRecord.from_dict(section[key]) for key in needed}
    for key, shape in needed.items():
        if problem := layout_problem(key, records[key].shape, records[key].dtype, (shape, ARRAY_DTYPE)):
            raise ManifestError(problem)
    return records


def _classes(value: Any, n_outputs: int) -> tuple[int, ...]:
    """The label of each output: as many as the output layer has, distinct integers."""
    classes = list(value)
    if len(classes) != n_outputs:
        raise ManifestError(f"{len(classes)} classes for an output layer of {n_outputs}")
    if not all(type(c) is int for c in classes) or len(set(classes)) != len(classes):
        raise ManifestError(f"classes must be distinct integers, got {classes}")
    return tuple(classes)


def _input(section: Section, n_inputs: int) -> InputSpec:
    """The input section, which must match the first layer's inputs."""
    if [int(d) for d in section["shape"]] != [n_inputs]:
        raise ManifestError(f"input shape {section['shape']} does not match the first layer's "
                            f"{n_inputs} inputs")
    return InputSpec.from_dict(section)
