"""MNIST loading: the IDX parser, and the download path against a real loopback HTTP server."""

import gzip
import hashlib
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from trainer import data
from trainer.data import DataError, download_file, load_mnist, parse_idx, read_idx_gz


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def test_parse_generated_idx_files() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images)), images)
    labels = np.arange(7, dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(idx_bytes(labels)), labels)
    big_endian = np.array([[1, -2], [3, 70000]], dtype=">i4")
    np.testing.assert_array_equal(parse_idx(idx_bytes(big_endian)), big_endian)


@pytest.mark.parametrize("corrupt, message", [
    (lambda b: b"\x01" + b[1:], "bad magic"),
    (lambda b: b[:2] + b"\x42" + b[3:], "unsupported IDX type"),
    (lambda b: b[:6], "truncated header"),
    (lambda b: b[:-1], "truncated or corrupt"),
    (lambda b: b[:4] + struct.pack(">I", 4) + b[8:], "truncated or corrupt"),  # count lies
    (lambda b: b"", "bad magic"),
])
def test_corrupt_idx_is_refused_with_the_source_named(corrupt, message: str) -> None:
    good = idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8))
    with pytest.raises(DataError, match=message) as error:
        parse_idx(corrupt(good), "train-images-idx3-ubyte.gz")
    assert "train-images-idx3-ubyte.gz" in str(error.value)


def test_a_gzip_that_is_not_gzip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*cannot decompress"):
        read_idx_gz(path)


@pytest.fixture
def file_server(tmp_path: Path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):  # keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def publish(root: Path, name: str, array: np.ndarray) -> str:
    payload = gzip.compress(idx_bytes(array))
    (root / name).write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def test_download_verifies_and_caches(file_server, tmp_path: Path) -> None:
    root, url = file_server
    sha = publish(root, "labels.gz", np.arange(10, dtype=np.uint8))
    cache = tmp_path / "cache"
    path = download_file("labels.gz", cache, sha, mirrors=(url,))
    assert path == cache / "labels.gz"
    np.testing.assert_array_equal(read_idx_gz(path), np.arange(10))
    assert [p.name for p in cache.iterdir()] == ["labels.gz"]  # no temp file left behind


def test_wrong_checksum_is_refused_and_nothing_is_kept(file_server, tmp_path: Path) -> None:
    root, url = file_server
    publish(root, "labels.gz", np.arange(10, dtype=np.uint8))
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        download_file("labels.gz", cache, "0" * 64, mirrors=(url,))
    assert list(cache.iterdir()) == []


def test_next_mirror_is_tried_when_one_fails(file_server, tmp_path: Path) -> None:
    root, url = file_server
    sha = publish(root, "labels.gz", np.arange(3, dtype=np.uint8))
    dead = "http://127.0.0.1:9/"  # the discard port: nothing listens there
    path = download_file("labels.gz", tmp_path / "c", sha, mirrors=(dead, url + "missing/", url))
    assert path.exists()


def test_offline_gives_one_clear_message(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        load_mnist(tmp_path / "empty", mirrors=("http://127.0.0.1:9/",))
    message = str(error.value)
    assert "cannot download train-images-idx3-ubyte.gz" in message
    assert "MNIST_DIR" in message and str(tmp_path / "empty") in message


def test_load_mnist_downloads_missing_files_from_a_mirror(file_server, tmp_path: Path,
                                                          monkeypatch) -> None:
    """The whole path: four files served over HTTP, verified, cached, parsed; then offline reuse."""
    root, url = file_server
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 20, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    checksums = {name: publish(root, name, a) for name, a in arrays.items()}
    monkeypatch.setattr(data, "MNIST_FILES", checksums)
    cache = tmp_path / "cache"
    dataset = load_mnist(cache, mirrors=(url,))
    assert dataset.x_train.shape == (20, 784) and dataset.x_test.shape == (5, 784)
    np.testing.assert_array_equal(dataset.y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert dataset.files == checksums
    again = load_mnist(cache, mirrors=("http://127.0.0.1:9/",))  # cached: no network needed
    np.testing.assert_array_equal(again.x_train, dataset.x_train)


def test_real_mnist_has_the_published_counts(mnist) -> None:
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.dtype == np.uint8
    assert np.bincount(mnist.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                   6265, 5851, 5949]
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                  974, 1009]
    assert mnist.files == data.MNIST_FILES


def test_unwritable_cache_is_a_clear_error(file_server, tmp_path: Path) -> None:
    root, url = file_server
    sha = publish(root, "labels.gz", np.arange(3, dtype=np.uint8))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DataError, match="cannot"):
        download_file("labels.gz", blocker / "cache", sha, mirrors=(url,))
