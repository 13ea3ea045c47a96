"""The model bundle: one `.npz` file holding a trained model's arrays and its manifest.

Inside the file (a plain NumPy `.npz`, readable with `np.load(path, allow_pickle=False)`):

    weights_0, biases_0, weights_1, biases_1, ...   float32 arrays, one pair per layer
    manifest                                        uint8 array: UTF-8 JSON (shared/manifest.py)

A bundle's file is named by its version, `<version>.npz` (where it sits in the model repository is
shared/repository.py's). The manifest records the format version, architecture, classes, training
configuration, metrics, data checksums, a SHA-256 of every array, and the model's input contract;
its schema and the checks of each section are shared/manifest.py's.

One verification (`verify_bundle`) guards both ends: the writer runs it on exactly the arrays and
manifest bytes it is about to write, before anything is linked into place, and the reader runs it
on what it read. A bundle the reader would refuse is never written. Writing is atomic
(shared/storage.py) and never replaces an existing version; a failed check raises `BundleError`
naming the file and the problem, so a bundle that loads is a bundle that is whole.
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
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import BundleError, ManifestError
from shared.manifest import (
    ARRAY_DTYPE,
    Architecture,
    ArrayRecord,
    Calibration,
    InputSpec,
    Manifest,
    Rejection,
    Scaling,
    array_names,
    array_shapes,
    layout_problem,
    recipe_named,
)
from shared.model import Model
from shared.storage import write_atomically

MANIFEST_KEY = "manifest"
VERSION_FILE = re.compile(r"^([1-9][0-9]{0,17})\.npz$")  # a bundle's file name: only integers are versions
TRAINER_SECTIONS = ("training", "metrics", "data", "calibration", "rejection")
# Reading limits: a bundle is checked against them before any array data is read, so a hostile
# or damaged file costs no more memory than a real one of its architecture.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # 16 million float32 parameters: far beyond any MLP served
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_LAYERS = 64
MEMBER_OVERHEAD_BYTES = 512  # zip headers and the .npy header, per member, at most
ZIP_END = struct.Struct("<4s4xHH8xH")  # signature, entries on disk, entries, comment length


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its model, its manifest, and the file it was read from or written to."""

    model: Model
    manifest: Manifest
    path: Path

    @property
    def name(self) -> str:
        return self.manifest.model_name

    @property
    def version(self) -> int:
        return self.manifest.model_version

    @property
    def input(self) -> InputSpec:
        return self.manifest.input

    @property
    def confidence_threshold(self) -> float | None:
        return self.manifest.calibration.confidence_threshold


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def model_arrays(model: Model) -> dict[str, np.ndarray]:
    """The arrays a bundle stores for `model`, by name. Always float32, the format's dtype: a
    float64 network (the gradient check trains one) is stored rounded, and a weight beyond
    float32's range becomes inf, which verification then refuses."""
    parameters = [a for pair in zip(model.weights, model.biases) for a in pair]
    with np.errstate(over="ignore"):
        return {name: np.asarray(a, dtype=np.float32)
                for name, a in zip(array_names(len(model.weights)), parameters)}


def build_manifest(model: Model, name: str, version: int, extra: Mapping[str, Any],
                   recipe: str | None = None) -> Manifest:
    """The manifest for `model`; `extra` adds the trainer's sections (TRAINER_SECTIONS).

    `recipe` names how uploads become the model's input (shared/recipes.py); its image shape
    and value range become the input's. Without one the model takes numbers only, in its
    scaling's range. The temperature and the digit threshold are the model's: the calibration
    and rejection sections of `extra` cannot say otherwise.
    """
    if unknown := sorted(set(extra) - set(TRAINER_SECTIONS)):
        raise ManifestError(f"unknown manifest section(s) {unknown}: the trainer writes "
                            f"{', '.join(TRAINER_SECTIONS)}")
    arrays = model_arrays(model)
    rejection = None
    if model.digit_threshold is not None:
        rejection = Rejection(model.digit_threshold,
                              details=_without(extra.get("rejection", {}), "score", "threshold"))
    return Manifest(
        model_name=name,
        model_version=version,
        architecture=Architecture(tuple(model.layer_sizes), tuple(model.hidden_activations),
                                  model.output_activation),
        arrays={key: ArrayRecord(a.shape, str(a.dtype), array_sha256(a)) for key, a in arrays.items()},
        classes=tuple(model.classes),
        input=_input_for(model, recipe),
        scaling=Scaling(model.input_min, model.input_max),
        calibration=Calibration(model.temperature,
                                _without(extra.get("calibration", {}), "temperature")),
        rejection=rejection,
        training=extra.get("training"),
        metrics=extra.get("metrics"),
        data=extra.get("data"),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        numpy_version=np.__version__,
    )


def _input_for(model: Model, recipe: str | None) -> InputSpec:
    size = model.layer_sizes[0]
    if recipe is None:
        return InputSpec(size, None, (model.input_min, model.input_max), None)
    known = recipe_named(recipe)
    return InputSpec(size, known.image_shape, known.value_range, known)


def _without(section: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in section.items() if key not in keys}


def write_bundle(path: Path, model: Model, manifest: Manifest, *,
                 overwrite: bool = False) -> Bundle:
    """Verify, then write atomically (shared/storage.py). Returns the bundle as written
    (float32, as any reader will load it).

    The arrays and manifest bytes are verified exactly as `load_bundle` will verify them, before
    anything is written: what the reader would refuse raises BundleError and leaves no file. With
    `overwrite=False` an existing file is never replaced (raises FileExistsError), so two trainers
    cannot both claim one version.
    """
    path = Path(path)
    manifest_bytes = np.frombuffer(json.dumps(manifest.to_dict(), indent=1).encode(), dtype=np.uint8)
    arrays = {**model_arrays(model), MANIFEST_KEY: manifest_bytes}
    bundle = verify_bundle(path, arrays)
    write_atomically(path, lambda f: np.savez(f, **arrays), overwrite=overwrite)
    return bundle


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
    return array_shapes(sizes)


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
        if problem := layout_problem(key, found, found_dtype, (shape, np.dtype(dtype))):
            raise fail(problem)
        size = math.prod(shape) * found_dtype.itemsize
        if info.file_size - member.tell() != size:
            raise fail(f"not a readable .npz file: {key} holds {info.file_size - member.tell()} "
                       f"bytes of data, its header says {size}")
        data = bytearray(size)
        member.readinto(data)
    return np.frombuffer(data, dtype=found_dtype).reshape(shape, order="F" if fortran else "C")


def verify_bundle(path: Path, arrays: dict[str, np.ndarray]) -> Bundle:
    """The bundle that `arrays` (every array of the file, the manifest's bytes included) make at
    `path`, or BundleError saying what is wrong. The writer's check and the reader's, one code:
    the manifest checks itself (Manifest.from_dict), then the arrays are checked against it."""
    path = Path(path)
    if MANIFEST_KEY not in arrays:
        raise BundleError(f"{path}: no manifest array")
    try:
        manifest = Manifest.from_dict(json.loads(arrays[MANIFEST_KEY].tobytes().decode("utf-8")))
    except ManifestError as e:
        raise BundleError(f"{path}: {e}") from None
    except Exception as e:  # a manifest of the wrong shape: missing keys, wrong types
        raise BundleError(f"{path}: malformed manifest ({type(e).__name__}: {e})") from e
    parameters = {key: a for key, a in arrays.items() if key != MANIFEST_KEY}
    if problem := _file_name_problem(path, manifest) or _arrays_problem(parameters, manifest):
        raise BundleError(f"{path}: {problem}")
    return Bundle(_model(manifest, parameters), manifest, path)


def _file_name_problem(path: Path, manifest: Manifest) -> str | None:
    """A version's file must hold that version (a copy of another version is refused)."""
    match = VERSION_FILE.match(path.name)
    if match and int(match.group(1)) != manifest.model_version:
        return f"file name says version {match.group(1)}, manifest says {manifest.model_version}"
    return None


def _arrays_problem(arrays: dict[str, np.ndarray], manifest: Manifest) -> str | None:
    """Why the arrays are not the ones the manifest records (None when they are)."""
    needed = manifest.architecture.array_shapes()
    if sorted(arrays) != sorted(needed):
        return f"arrays {sorted(arrays)} do not match the architecture's {list(needed)}"
    for key, shape in needed.items():
        a = arrays[key]
        if problem := layout_problem(key, a.shape, a.dtype, (shape, ARRAY_DTYPE)):
            return problem
        if array_sha256(a) != manifest.arrays[key].sha256:
            return f"{key} does not match its SHA-256: the file is corrupt"
        if not np.isfinite(a).all():
            return f"{key} holds NaN or infinite values"
    return None


def _model(manifest: Manifest, arrays: dict[str, np.ndarray]) -> Model:
    architecture = manifest.architecture
    names = list(architecture.array_shapes())
    return Model(
        weights=[arrays[key] for key in names[0::2]],
        biases=[arrays[key] for key in names[1::2]],
        hidden_activations=list(architecture.activations),
        input_min=manifest.scaling.low,
        input_max=manifest.scaling.high,
        classes=list(manifest.classes),
        output_activation=architecture.output,
        temperature=manifest.calibration.temperature,
        digit_threshold=manifest.rejection.threshold if manifest.rejection else None,
    )
