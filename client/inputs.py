"""What `Client.predict` takes, turned into what the service takes, in batches within its limits.

Images (file paths, encoded bytes, Pillow images) travel as `multipart/form-data` uploads, which
the service decodes and brings to the model's form; NumPy arrays are the model's input already
(pixels 0-255 for MNIST models, counts 0-16 for the 8x8 digits model) and travel as JSON
`instances`. A batch is a run of consecutive inputs of one kind, at most MAX_BATCH of them and at
most MAX_CONTENT_LENGTH bytes, so answers come back in the order the inputs were given.

An array is a batch, as in scikit-learn: its first axis counts images, (n, 28, 28) or (n, 784) for
an MNIST model, (n, 8, 8) or (n, 64) for the digits model. Only a 1-D array is one image; in a
list, each array is one image.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from client.errors import InputError

PART_OVERHEAD_BYTES = 512   # a multipart part's own headers and boundary, generously
JSON_BYTES_PER_VALUE = 6    # "255, " at worst for integers; floats are estimated alike

Input = str | os.PathLike | bytes | Image.Image | np.ndarray


@dataclass(frozen=True)
class Item:
    """One input to predict: what it is called in messages, and its data as given."""

    source: str
    data: Input

    @property
    def is_image(self) -> bool:
        return not isinstance(self.data, np.ndarray)

    def size(self) -> int:
        """Roughly the bytes it adds to a request (for files, their size on disk)."""
        if isinstance(self.data, np.ndarray):
            return self.data.size * JSON_BYTES_PER_VALUE
        if isinstance(self.data, bytes):
            return len(self.data) + PART_OVERHEAD_BYTES
        if isinstance(self.data, Image.Image):
            return self.data.width * self.data.height + PART_OVERHEAD_BYTES  # PNG of a drawing: less
        try:
            return os.path.getsize(self.data) + PART_OVERHEAD_BYTES
        except OSError:
            return PART_OVERHEAD_BYTES  # reported when it is read

    def encoded(self) -> bytes:
        """The bytes to upload: the file's, the given ones, or the Pillow image as PNG."""
        if isinstance(self.data, bytes):
            return self.data
        if isinstance(self.data, Image.Image):
            buffer = io.BytesIO()
            try:
                self.data.save(buffer, "PNG")
            except (OSError, ValueError) as e:
                raise InputError(f"{self.source}: cannot encode this {self.data.mode} image as PNG: {e}",
                                 self.source) from None
            return buffer.getvalue()
        try:
            return Path(self.data).read_bytes()
        except OSError as e:
            raise InputError(f"{self.source}: cannot read: {e.strerror}", self.source) from None

    def filename(self) -> str:
        return Path(self.source).name if isinstance(self.data, str | os.PathLike) else self.source

    def pixels(self) -> list:
        return np.asarray(self.data).ravel().tolist()


def items(images: Input | Iterable[Input]) -> list[Item]:
    """Every input as an Item, in order; a TypeError names the first one of an unknown kind."""
    if isinstance(images, np.ndarray):
        singles = [images] if images.ndim <= 1 else list(images)
    elif isinstance(images, str | os.PathLike | bytes | bytearray | memoryview | Image.Image):
        singles = [images]
    else:
        singles = list(images)
    found = []
    for number, data in enumerate(singles, start=1):
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        if isinstance(data, str | os.PathLike):
            source = os.fspath(data)
        elif isinstance(data, bytes | Image.Image):
            source = f"image {number}"
        elif isinstance(data, np.ndarray):
            source = f"array {number}"
        else:
            raise TypeError(f"input {number} is a {type(data).__name__}: give file paths, bytes of an "
                            "encoded image, Pillow images or NumPy arrays of the model's input")
        found.append(Item(source, data))
    return found


def batches(found: list[Item], max_batch: int, max_bytes: int) -> Iterator[list[Item]]:
    """Runs of consecutive items of one kind, each within `max_batch` items and `max_bytes`
    (an item larger than that alone still goes, alone: the service then says it is too large)."""
    batch: list[Item] = []
    size = 0
    for item in found:
        item_size = item.size()
        if batch and (item.is_image != batch[0].is_image or len(batch) == max_batch
                      or size + item_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch
