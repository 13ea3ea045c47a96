"""The model bundle: one `.npz` file holding a trained model and everything known about it.

Layout on disk, like TF Serving's version directories:

    $MODEL_DIR/<model-name>/<version>.npz        version = 1, 2, 3, ...

Inside the file (a plain NumPy `.npz`, readable with `np.load(path, allow_pickle=False)`):

    weights_0, biases_0, weights_1, biases_1, ...   float32 arrays, one pair per layer
    manifest                                        uint8 array: UTF-8 JSON (see README)

The manifest records the format version, architecture, classes, training configuration,
metrics, data checksums, a SHA-256 of every array, and the model's input contract: what a client
sends (shape, image shape, value range), how the model scales it, and which image recipe
(shared/recipes.py) turns an upload into it. The service serves each bundle by that contract alone.

One verification (`verify_bundle`) guards both ends: the writer runs it on exactly the arrays and
manifest bytes it is about to write, before anything is linked into place, and the reader runs it
on what it read. A bundle the reader would refuse is never written. Writing is atomic and never
replaces an existing version; a failed check raises `BundleError` naming the file and the problem,
so a bundle that loads is a bundle that is whole.

Format 2 added the input contract (`range`, `preprocessing`). Format 1 bundles, written before it,
still load: every one came from this trainer, so their image shape says which recipe made their
data (28x28: mnist, 8x8: optdigits) and its range is theirs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
import re
import stat
import struct
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from shared.model import Model
from shared.recipes import RECIPES, Recipe

FORMAT_NAME = "digitnet-bundle"
FORMAT_VERSION = 2          # what this code writes
READABLE_FORMATS = (1, 2)   # what it loads
MANIFEST_KEY = "manifest"
VERSION_FILE = re.compile(r"^([1-9][0-9]{0,17})\.npz$")  # only integers are versions
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # never a path
STALE_PARTIAL_SECONDS = 3600  # a temp file this old was left by a writer that died
REJECTION_SCORE = "logsumexp"  # the digit score a bundle's rejection threshold applies to
# Reading limits: a bundle is checked against them before any array data is read, so a hostile
# or damaged file costs no more memory than a real one of its architecture.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # 16 million float32 parameters: far beyond any MLP served
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_LAYERS = 64
MEMBER_OVERHEAD_BYTES = 512  # zip headers and the .npy header, per member, at most
ZIP_END = struct.Struct("<4s4xHH8xH")  # signature, entries on disk, entries, comment length


class BundleError(Exception):
    """A bundle could not be written or is not a valid, whole bundle."""


@dataclass(frozen=True)
class InputSpec:
    """A model's input as its manifest states it: what a client sends, and how an upload becomes it.

    Clients send `size` numbers per example, raw (the model applies its own scaling), within
    `value_range`, ink high; laid out as `image_shape` (rows, columns, row-major) when the input
    is an image. `recipe` turns an uploaded image into such an array; None means the model takes
    no uploads, only numbers.
    """

    size: int
    image_shape: tuple[int, int] | None
    value_range: tuple[float, float]
    recipe: Recipe | None

    def describe(self) -> dict[str, Any]:
        """The contract as clients read it in /models (JSON types only)."""
        return {"shape": [self.size],
                "image_shape": list(self.image_shape) if self.image_shape else None,
                "range": list(self.value_range),
                "preprocessing": self.recipe.describe() if self.recipe else None}


@dataclass(frozen=True)
class Bundle:
    model: Model
    manifest: dict[str, Any]
    path: Path
    input: InputSpec

    @property
    def name(self) -> str:
        return self.manifest["model_name"]

    @property
    def version(self) -> int:
        return self.manifest["model_version"]

    @property
    def confidence_threshold(self) -> float | None:
        """Answers at least this confident were right 99.5 % of the time on held-out data."""
        return (self.manifest.get("calibration") or {}).get("confidence_threshold")


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def array_names(n_layers: int) -> list[str]:
    """The arrays of a network of `n_layers` layers, in order: weights_0, biases_0, weights_1, ..."""
    return [f"{kind}_{i}" for i in range(n_layers) for kind in ("weights", "biases")]


def model_arrays(model: Model) -> dict[str, np.ndarray]:
    """The arrays a bundle stores for `model`, by name. Always float32, the format's dtype: a
    float64 network (the gradient check trains one) is stored rounded, and a weight beyond
    float32's range becomes inf, which verification then refuses."""
    parameters = [a for pair in zip(model.weights, model.biases) for a in pair]
    with np.errstate(over="ignore"):
        return {name: np.asarray(a, dtype=np.float32)
                for name, a in zip(array_names(len(model.weights)), parameters)}


def build_manifest(model: Model, name: str, version: int, extra: dict[str, Any],
                   image_shape: tuple[int, int] | None = None,
                   recipe: str | None = None) -> dict[str, Any]:
    """The manifest for `model`; `extra` adds the trainer's sections (training, metrics, data).

    `recipe` names how uploads become the model's input (shared/recipes.py); its image shape
    and value range become the input's. Without one, `image_shape` (rows, columns) says how the
    flat input is laid out as an image, if it is one, and the input range is the scaling's.
    """
    arrays = model_arrays(model)
    known = RECIPES.get(recipe) if recipe else None
    if known and image_shape is None:
        image_shape = known.image_shape
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_name": name,
        "model_version": version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "architecture": {
            "layer_sizes": model.layer_sizes,
            "activations": model.hidden_activations,
            "output": model.output_activation,
        },
        "input": {
            "shape": [model.layer_sizes[0]],
            "image_shape": list(image_shape) if image_shape else None,
            "range": list(known.value_range) if known else [model.input_min, model.input_max],
            "scaling": {"method": "min-max", "min": model.input_min, "max": model.input_max},
            # An unknown name is kept as given: verification refuses it with the reason.
            "preprocessing": known.describe() if known else {"recipe": recipe} if recipe else None,
        },
        "classes": model.classes,
        "numpy_version": np.__version__,
        "arrays": {key: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": array_sha256(a)}
                   for key, a in arrays.items()},
        **{section: value for section, value in extra.items() if section != "rejection"},
        # The temperature and the digit threshold are the model's: the manifest cannot say
        # otherwise.
        "calibration": {**extra.get("calibration", {}), "temperature": model.temperature},
        **({"rejection": {**extra.get("rejection", {}), "score": REJECTION_SCORE,
                          "threshold": model.digit_threshold}}
           if model.digit_threshold is not None else {}),
    }


def write_bundle(path: Path, model: Model, manifest: dict[str, Any], *,
                 overwrite: bool = False) -> Bundle:
    """Verify, then write atomically: a temp file in the same directory, fsync, then link or
    rename into place. Returns the bundle as written (float32, as any reader will load it).

    The arrays and manifest bytes are verified exactly as `load_bundle` will verify them, before
    anything is written: what the reader would refuse raises BundleError and leaves no file. A
    crash at any point leaves either no file at `path` or the whole bundle, never a part. With
    `overwrite=False` an existing file is never replaced (raises FileExistsError), so two trainers
    cannot both claim one version.
    """
    path = Path(path)
    manifest_bytes = np.frombuffer(json.dumps(manifest, indent=1).encode(), dtype=np.uint8)
    arrays = {**model_arrays(model), MANIFEST_KEY: manifest_bytes}
    bundle = verify_bundle(path, arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temp name does not match VERSION_FILE, so a watcher never picks up a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if `path` exists, unlike rename
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return bundle


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_versions(model_dir: Path, name: str) -> list[int]:
    """Versions present for model `name`, ascending. Files not named `<integer>.npz` are ignored."""
    directory = Path(model_dir) / name
    if not directory.is_dir():
        return []
    found = (VERSION_FILE.match(p.name) for p in directory.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def list_models(model_dir: Path) -> list[str]:
    """The model folders in `model_dir` (names a model may have), sorted. Raises OSError when
    the directory cannot be read; a missing directory holds no models."""
    if not Path(model_dir).is_dir():
        return []
    return sorted(entry.name for entry in os.scandir(model_dir)
                  if MODEL_NAME.match(entry.name) and entry.is_dir())


def version_path(model_dir: Path, name: str, version: int) -> Path:
    if not MODEL_NAME.match(name):
        raise BundleError(f"invalid model name {name!r}: letters, digits, '_', '-', '.' only")
    return Path(model_dir) / name / f"{int(version)}.npz"


def remove_stale_partials(directory: Path, older_than_seconds: float = STALE_PARTIAL_SECONDS) -> None:
    """Delete temp files that a killed writer left behind. Only old ones: a young one may belong
    to a writer still at work."""
    cutoff = time.time() - older_than_seconds
    for partial in Path(directory).glob(".*.partial"):
        try:
            if partial.stat().st_mtime < cutoff:
                partial.unlink()
        except FileNotFoundError:
            pass  # another trainer cleaned it first


def save_new_version(model_dir: Path, name: str, model: Model, extra: dict[str, Any],
                     image_shape: tuple[int, int] | None = None,
                     recipe: str | None = None) -> Bundle:
    """Save `model` as the next version of `name` (one above the highest present)."""
    remove_stale_partials(version_path(model_dir, name, 1).parent)
    for _ in range(100):  # bounded: another trainer may take the version we picked
        version = max(list_versions(model_dir, name), default=0) + 1
        manifest = build_manifest(model, name, version, extra, image_shape, recipe)
        try:
            return write_bundle(version_path(model_dir, name, version), model, manifest)
        except FileExistsError:
            continue
    raise BundleError(f"could not claim a new version in {Path(model_dir) / name}")


def load_bundle(path: Path) -> Bundle:
    """Load and verify a bundle. Raises BundleError saying what is wrong with it.

    Only a regular file is read (a symbolic link, FIFO or device is refused, not followed or
    waited on), and only its stored (uncompressed) members with exactly the names and `.npy`
    headers its architecture needs: every size is known before any array data is read.
    """
    path = Path(path)
    try:
        with _open_regular(path) as f:
            arrays = _read_arrays(path, f)
    except BundleError:
        raise
    except Exception as e:  # a corrupt zip or .npy header can raise almost anything
        raise BundleError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from e
    return verify_bundle(path, arrays)


def _open_regular(path: Path) -> io.BufferedReader:
    """`path` opened for reading if it is a regular file of at most MAX_BUNDLE_BYTES."""
    try:
        # O_NOFOLLOW: a link to /dev/zero is refused; O_NONBLOCK: a FIFO cannot block the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        reason = "is a symbolic link" if os.path.islink(path) else f"cannot read: {e.strerror or e}"
        raise BundleError(f"{path}: {reason}") from e
    f = os.fdopen(fd, "rb")
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        f.close()
        raise BundleError(f"{path}: not a regular file")
    if info.st_size > MAX_BUNDLE_BYTES:
        f.close()
        raise BundleError(f"{path}: {info.st_size} bytes, over the limit of {MAX_BUNDLE_BYTES}")
    return f


def _read_arrays(path: Path, f: io.BufferedReader) -> dict[str, np.ndarray]:
    """The file's arrays, each checked (name, storage, `.npy` header, size) before it is read."""
    def fail(reason: str) -> BundleError:
        return BundleError(f"{path}: {reason}")

    _check_member_count(f, fail)
    with zipfile.ZipFile(f) as archive:
        members = {}
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise fail(f"member {info.filename!r} is compressed: bundles store arrays as they are")
            members[info.filename.removesuffix(".npy")] = info
        if MANIFEST_KEY not in members:
            raise fail("no manifest array")
        manifest = _read_member(archive, members[MANIFEST_KEY], None, np.uint8, fail)
        expected = _expected_shapes(manifest.tobytes(), fail)
        if sorted(members) != sorted([MANIFEST_KEY, *expected]):
            raise fail(f"arrays {sorted(set(members) - {MANIFEST_KEY})} do not match the "
                       f"architecture's {list(expected)}")
        # Each member's data is checked to be the size its architecture gives before it is read.
        arrays = {key: _read_member(archive, members[key], shape, np.float32, fail)
                  for key, shape in expected.items()}
    needed = sum(a.nbytes for a in arrays.values()) + manifest.size + MEMBER_OVERHEAD_BYTES * len(members)
    if os.fstat(f.fileno()).st_size > needed:
        raise fail(f"the file is larger than the {needed} bytes its architecture needs")
    return {MANIFEST_KEY: manifest, **arrays}


def _check_member_count(f: io.BufferedReader, fail: Callable[[str], BundleError]) -> None:
    """The zip's end record, which numpy writes last and without a comment, lists few members:
    reading the directory of a million-member file would cost far more than the file."""
    size = os.fstat(f.fileno()).st_size
    if size < ZIP_END.size:
        raise fail("not a readable .npz file (too short)")
    f.seek(size - ZIP_END.size)
    signature, on_disk, total, comment = ZIP_END.unpack(f.read(ZIP_END.size))
    if signature != b"PK\x05\x06" or comment != 0:
        raise fail("not a readable .npz file (no zip end record at its end)")
    if max(on_disk, total) > 2 * MAX_LAYERS + 1:
        raise fail(f"not a readable .npz file ({total} members)")
    f.seek(0)


def _expected_shapes(manifest: bytes, fail: Callable[[str], BundleError]) -> dict[str, tuple]:
    """The arrays (name: shape) the manifest's architecture needs, in order."""
    try:
        sizes = [int(s) for s in json.loads(manifest.decode("utf-8"))["architecture"]["layer_sizes"]]
    except (ValueError, TypeError, KeyError) as e:
        raise fail(f"malformed manifest ({type(e).__name__}: {e})") from None
    if not 2 <= len(sizes) <= MAX_LAYERS + 1 or min(sizes) < 1:
        raise fail(f"architecture layer sizes {sizes} are not 2 to {MAX_LAYERS + 1} positive sizes")
    shapes = [shape for i in range(len(sizes) - 1) for shape in ((sizes[i], sizes[i + 1]), (sizes[i + 1],))]
    return dict(zip(array_names(len(sizes) - 1), shapes))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple | None,
                 dtype: type, fail: Callable[[str], BundleError]) -> np.ndarray:
    """One `.npy` member, its header checked first: `shape` (None: one dimension of at most
    MAX_MANIFEST_BYTES, the manifest's) and `dtype`, and a size matching what the member holds."""
    key = info.filename.removesuffix(".npy")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
            else np.lib.format.read_array_header_2_0
        found, fortran, found_dtype = header(member, max_header_size=MEMBER_OVERHEAD_BYTES)
        if found_dtype.hasobject:
            raise fail(f"not a readable .npz file: {key} holds Python objects "
                       "(pickles are refused, allow_pickle=False)")
        if shape is None:
            if len(found) != 1 or found[0] > MAX_MANIFEST_BYTES:
                raise fail(f"the manifest array has shape {found}: one dimension of at most "
                           f"{MAX_MANIFEST_BYTES} bytes expected")
            shape = found
        check_layout(key, found, found_dtype, shape, np.dtype(dtype), fail)
        size = math.prod(shape) * found_dtype.itemsize
        if info.file_size - member.tell() != size:
            raise fail(f"not a readable .npz file: {key} holds {info.file_size - member.tell()} "
                       f"bytes of data, its header says {size}")
        data = bytearray(size)
        member.readinto(data)
    return np.frombuffer(data, dtype=found_dtype).reshape(shape, order="F" if fortran else "C")


def check_layout(key: str, shape: tuple, dtype: np.dtype, expected_shape: tuple,
                 expected_dtype: np.dtype, fail: Callable[[str], BundleError]) -> None:
    """The array `key` has the shape and dtype the architecture needs, else BundleError."""
    if tuple(shape) != tuple(expected_shape):
        raise fail(f"{key} has shape {tuple(shape)}, the architecture needs {tuple(expected_shape)}")
    if dtype != expected_dtype:
        raise fail(f"{key} has dtype {dtype}, expected {expected_dtype}")


def verify_bundle(path: Path, arrays: dict[str, np.ndarray]) -> Bundle:
    """The bundle that `arrays` (every array of the file, the manifest's bytes included) make at
    `path`, or BundleError saying what is wrong. The writer's check and the reader's, one code."""
    try:
        return _verify(path, arrays)
    except BundleError:
        raise
    except Exception as e:  # a manifest of the wrong shape: missing keys, wrong types
        raise BundleError(f"{path}: malformed manifest ({type(e).__name__}: {e})") from e


def _verify(path: Path, arrays: dict[str, np.ndarray]) -> Bundle:
    def fail(reason: str) -> BundleError:
        return BundleError(f"{path}: {reason}")

    if MANIFEST_KEY not in arrays:
        raise fail("no manifest array")
    manifest = json.loads(arrays[MANIFEST_KEY].tobytes().decode("utf-8"))
    arrays = {key: a for key, a in arrays.items() if key != MANIFEST_KEY}
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise fail(f"not a {FORMAT_NAME} manifest")
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise fail(f"format version {manifest.get('format_version')!r} is not supported "
                   f"(this code reads versions {', '.join(map(str, READABLE_FORMATS))})")
    match = VERSION_FILE.match(path.name)
    if match and int(match.group(1)) != manifest["model_version"]:
        raise fail(f"file name says version {match.group(1)}, "
                   f"manifest says {manifest['model_version']}")

    arch = manifest["architecture"]
    sizes = [int(s) for s in arch["layer_sizes"]]
    n_layers = len(sizes) - 1
    hidden = list(arch["activations"])
    if n_layers < 1 or len(hidden) != n_layers - 1:
        raise fail(f"architecture has {n_layers} layers but {len(hidden)} hidden activations")
    if unknown := [a for a in hidden if a not in HIDDEN_ACTIVATIONS]:
        raise fail(f"unknown activation(s) {unknown}")
    if arch["output"] not in ACTIVATIONS:
        raise fail(f"unknown output activation {arch['output']!r}")

    expected = array_names(n_layers)
    if sorted(arrays) != sorted(expected) or sorted(manifest["arrays"]) != sorted(expected):
        raise fail(f"arrays {sorted(arrays)} do not match the architecture's {expected}")
    weight_names, bias_names = expected[0::2], expected[1::2]
    for i, (weights, biases) in enumerate(zip(weight_names, bias_names)):
        for key, shape in ((weights, (sizes[i], sizes[i + 1])), (biases, (sizes[i + 1],))):
            a, recorded = arrays[key], manifest["arrays"][key]
            check_layout(key, a.shape, a.dtype, shape, np.dtype(np.float32), fail)
            check_layout(key, recorded["shape"], recorded["dtype"], shape, "float32", fail)
            if array_sha256(a) != recorded["sha256"]:
                raise fail(f"{key} does not match its SHA-256: the file is corrupt")
            if not np.isfinite(a).all():
                raise fail(f"{key} holds NaN or infinite values")

    classes = list(manifest["classes"])
    if len(classes) != sizes[-1]:
        raise fail(f"{len(classes)} classes for an output layer of {sizes[-1]}")
    temperature = float(manifest.get("calibration", {}).get("temperature", 1.0))
    if not 0 < temperature < float("inf"):
        raise fail(f"calibration temperature {temperature!r} must be a positive number")
    if not all(type(c) is int for c in classes) or len(set(classes)) != len(classes):
        raise fail(f"classes must be distinct integers, got {classes}")
    digit_threshold = _digit_threshold(manifest.get("rejection"), fail)
    section = manifest["input"]
    if manifest["format_version"] == 1:
        section = _format_1_input(section)
    spec = _input_spec(section, sizes[0], fail)
    scaling = section["scaling"]
    input_min, input_max = float(scaling["min"]), float(scaling["max"])
    if not np.isfinite([input_min, input_max]).all():
        raise fail(f"input scaling {input_min}-{input_max} is not finite")
    model = Model(
        weights=[arrays[key] for key in weight_names],
        biases=[arrays[key] for key in bias_names],
        hidden_activations=hidden,
        input_min=input_min,
        input_max=input_max,
        classes=classes,
        output_activation=arch["output"],
        temperature=temperature,
        digit_threshold=digit_threshold,
    )
    return Bundle(model, manifest, path, spec)


def _digit_threshold(section: dict[str, Any] | None, fail: Callable[[str], BundleError]
                     ) -> float | None:
    """The rejection section's threshold on the digit score; None for a bundle without one (it
    takes every input for a digit, as bundles did before the section existed)."""
    if section is None:
        return None
    if section.get("score") != REJECTION_SCORE:
        raise fail(f"rejection score {section.get('score')!r} is not supported "
                   f"(this code computes {REJECTION_SCORE!r})")
    threshold = section.get("threshold")
    if type(threshold) not in (int, float) or not np.isfinite(threshold):
        raise fail(f"rejection threshold {threshold!r} must be a finite number")
    return float(threshold)


def _input_spec(section: dict[str, Any], size: int, fail: Callable[[str], BundleError]) -> InputSpec:
    """The input contract, checked against the first layer and the recipe it names."""
    if [int(d) for d in section["shape"]] != [size]:
        raise fail(f"input shape {section['shape']} does not match the first layer's {size} inputs")
    image_shape = section["image_shape"]
    if image_shape is not None:
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 2 or min(image_shape) < 1 or image_shape[0] * image_shape[1] != size:
            raise fail(f"input image_shape {list(image_shape)} does not lay out {size} inputs")
    low, high = (float(v) for v in section["range"])
    if not (np.isfinite([low, high]).all() and low < high):
        raise fail(f"input range {section['range']} is not a finite interval")
    recipe = None
    if (preprocessing := section["preprocessing"]) is not None:
        recipe = RECIPES.get(preprocessing["recipe"])
        if recipe is None:
            raise fail(f"unknown preprocessing recipe {preprocessing['recipe']!r} "
                       f"(this code knows {', '.join(RECIPES)})")
        if recipe.image_shape != image_shape or recipe.value_range != (low, high):
            raise fail(f"recipe {recipe.name!r} makes {list(recipe.image_shape)} images of values "
                       f"{recipe.value_range[0]:g}-{recipe.value_range[1]:g}; the input is "
                       f"{list(image_shape) if image_shape else None} of {low:g}-{high:g}")
    return InputSpec(size, image_shape, (low, high), recipe)


def _format_1_input(section: dict[str, Any]) -> dict[str, Any]:
    """A format-1 input section completed: its image shape names the recipe that made its data
    (every format-1 bundle came from this trainer, on MNIST or on scikit-learn's digits), and
    the recipe's range is its range. Other shapes take numbers only, in the scaling's range."""
    shape = tuple(section.get("image_shape") or ())
    recipe = next((r for r in RECIPES.values() if r.image_shape == shape), None)
    scaling = section["scaling"]
    return {**section,
            "range": list(recipe.value_range) if recipe else [scaling["min"], scaling["max"]],
            "preprocessing": recipe.describe() if recipe else None}


def latest_bundle_path(model_dir: Path, name: str) -> Path | None:
    versions = list_versions(model_dir, name)
    return version_path(model_dir, name, versions[-1]) if versions else None
