"""Datasets: MNIST from its four IDX files (found, or downloaded and verified), and two extras.

MNIST is looked for in `$MNIST_DIR` when set, else in a cache directory
(`$XDG_CACHE_HOME/digitnet/mnist`, by default `~/.cache/digitnet/mnist`). Missing files are
downloaded from the mirrors other libraries use, checked against the published SHA-256 and
written atomically, so an interrupted download never leaves a file that looks complete.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# SHA-256 of the original gzip files (see the checksums in ../shared/data/mnist/README.md).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# Tried in order; the same mirrors torchvision and TensorFlow Datasets use. MNIST_MIRRORS
# (comma-separated base URLs) replaces them, e.g. for a mirror inside a closed network.
MNIST_MIRRORS = tuple(os.environ.get("MNIST_MIRRORS", "").split(",")) if os.environ.get(
    "MNIST_MIRRORS") else (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
DOWNLOAD_TIMEOUT_SECONDS = 30


class DataError(Exception):
    """Data could not be found, downloaded or parsed; the message says which file and why."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # (n, features), raw values (uint8 pixels for MNIST)
    y_train: np.ndarray  # (n,) integer labels
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int]
    recipe: str  # how an uploaded image becomes one of these (shared/recipes.py)
    files: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256, for the manifest


def mnist_dir() -> Path:
    """Where MNIST is looked for when no folder is given: $MNIST_DIR, else the cache directory."""
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "digitnet" / "mnist"


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse an uncompressed IDX file: magic (0, 0, dtype code, ndim), big-endian dims, data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code not in IDX_DTYPES or ndim == 0:
        raise DataError(f"{source}: unsupported IDX type 0x{dtype_code:02x} / {ndim} dimensions")
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise DataError(f"{source}: truncated header")
    shape = struct.unpack(f">{ndim}I", data[4:header_end])
    dtype = np.dtype(IDX_DTYPES[dtype_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header_end != expected:
        raise DataError(f"{source}: header promises {shape} ({expected} bytes of data) but "
                        f"the file holds {len(data) - header_end}: truncated or corrupt")
    return np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)


def read_idx_gz(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:  # BadGzipFile is an OSError
        raise DataError(f"{path}: cannot decompress ({e}); delete it to download it again") from e
    return parse_idx(data, str(path))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(name: str, directory: Path, expected_sha256: str,
                  mirrors: tuple[str, ...] = MNIST_MIRRORS) -> Path:
    """Fetch `name` from the first mirror that serves it with the right SHA-256.

    The bytes go to a temp file in `directory` and are renamed into place only once verified.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {directory} for the MNIST files: {e.strerror}") from e
    failures = []
    for mirror in mirrors:
        url = mirror + name
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".partial")
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, \
                    urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != expected_sha256:
                failures.append(f"{url}: SHA-256 mismatch (got {digest.hexdigest()[:16]}…, "
                                f"expected {expected_sha256[:16]}…)")
                continue
            target = directory / name
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', None) or e}")
        finally:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
    raise DataError(
        f"cannot download {name}:\n  " + "\n  ".join(failures) +
        f"\nIf this machine is offline, put the four MNIST files ({', '.join(MNIST_FILES)}) "
        f"in {directory} or point MNIST_DIR at a folder that has them.")


def ensure_mnist_files(directory: Path | None = None,
                       mirrors: tuple[str, ...] = MNIST_MIRRORS) -> dict[str, Path]:
    """Paths to the four MNIST files, downloading the missing ones into `directory`."""
    directory = Path(directory) if directory else mnist_dir()
    paths = {}
    for name, sha in MNIST_FILES.items():
        path = directory / name
        if not path.exists():
            path = download_file(name, directory, sha, mirrors)
        paths[name] = path
    return paths


def load_mnist(directory: Path | None = None,
               mirrors: tuple[str, ...] = MNIST_MIRRORS) -> Dataset:
    """MNIST as flat uint8 images (n, 784) and uint8 labels, downloading it when missing."""
    paths = ensure_mnist_files(directory, mirrors)
    arrays = {name: read_idx_gz(path) for name, path in paths.items()}
    x_train, y_train = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]
    for images, labels, kind in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{kind} images {images.shape} and labels {labels.shape} do not match")
    return Dataset(
        name="mnist",
        x_train=x_train.reshape(len(x_train), -1), y_train=y_train,
        x_test=x_test.reshape(len(x_test), -1), y_test=y_test,
        image_shape=tuple(x_train.shape[1:]),
        recipe="mnist",
        files={name: sha256_file(path) for name, path in paths.items()},
    )


def load_digits_dataset(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images of UCI optdigits, ink counts 0-16): works
    offline. Its models read uploads through the "optdigits" recipe."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    n_test = int(len(order) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    x = digits.data.astype(np.uint8)
    return Dataset("digits", x[train], digits.target[train], x[test], digits.target[test], (8, 8),
                   recipe="optdigits")


def load_openml_mnist() -> Dataset:
    """MNIST as the classic article fetched it: OpenML's `mnist_784` through scikit-learn
    (the first 60,000 rows are the training set, the last 10,000 the test set)."""
    from sklearn.datasets import fetch_openml

    try:
        x, y = fetch_openml("mnist_784", version=1, return_X_y=True, as_frame=False)
    except Exception as e:  # urllib, HTTP and OpenML errors all mean the same to a user
        raise DataError(f"cannot fetch mnist_784 from OpenML ({type(e).__name__}: {e}); "
                        f"offline, use the default --data-source idx with MNIST_DIR") from e
    x, y = x.astype(np.uint8), y.astype(np.int64)
    return Dataset("mnist", x[:60000], y[:60000], x[60000:], y[60000:], (28, 28), recipe="mnist")
