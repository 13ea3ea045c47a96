"""Bad input: hypothesis strategies for every endpoint, and hand-made hostile images.

The strategies produce whole HTTP requests (`FuzzRequest`), so one property covers every way in:
`/predict` as JSON, raw image and multipart, `/v2/.../infer`, and the metadata routes with
arbitrary model names and versions in the URL.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from harness.images import drawn_digit, encode
from shared.limits import IMAGE_MEDIA_TYPES

MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP",
         b"PK\x03\x04", b"II*\x00")


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None
    files: list[tuple[str, tuple[str, bytes]]] | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # bodies can be megabytes: show their start
        body = self.body if len(self.body) <= 200 else self.body[:200] + b"..."
        parts = [(name, (filename, data[:50])) for name, (filename, data) in self.files or []]
        return f"FuzzRequest({self.method} {self.path}, {self.content_type!r}, body={body!r}, files={parts})"

    def send(self, session, url: str):
        headers = {"Content-Type": self.content_type} if self.content_type else {}
        return session.request(self.method, url + self.path, data=self.body or None,
                               files=self.files, headers=headers, timeout=60)


# --- JSON ------------------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 255, 256, -1, 1e308, -1e308, 5e-324, 10**30, 2**63, 2**64]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children,
                                                                      max_size=4),
    max_leaves=40,
)


@st.composite
def numeric_arrays(draw) -> list:
    """Arrays of numbers of random shape, often close to a right one: [n, 784] or [n, 28, 28]
    (MNIST), [n, 64] or [n, 8, 8] (digits)."""
    shape = draw(st.one_of(
        st.lists(st.integers(0, 30), min_size=0, max_size=4),
        st.sampled_from([[1, 784], [2, 784], [1, 28, 28], [1, 783], [1, 785], [1, 28, 27],
                         [784], [28, 28], [1, 1, 784], [0, 784], [1, 0], [1, 64], [2, 8, 8], [1, 8, 9]]),
    ))
    if int(np.prod(shape, dtype=np.int64)) > 20_000:
        shape = [1, 784]
    fill = draw(st.sampled_from(["valid", "random", "one-bad"]))
    size = int(np.prod(shape, dtype=np.int64))
    if fill == "valid":
        flat = draw(st.lists(st.integers(0, 255), min_size=size, max_size=size)) if size <= 50 \
            else [draw(st.integers(0, 255))] * size
    elif fill == "random":
        flat = [draw(numbers) for _ in range(min(size, 50))] + [0] * max(size - 50, 0)
    else:  # one hostile value hidden in a valid image
        flat = [0] * size
        if size:
            flat[draw(st.integers(0, size - 1))] = draw(scalars)
    return np.array(flat, dtype=object).reshape(shape).tolist() if shape else (flat or [0])[0]


def _dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN/Infinity: what Python clients send


@st.composite
def deep_nesting(draw) -> bytes:
    depth = draw(st.sampled_from([64, 300, 1000, 10_000, 100_000]))
    inner = draw(st.sampled_from([b"0", b"", b"[0]"]))
    nested = b"[" * depth + inner + b"]" * depth
    return draw(st.sampled_from([nested, b'{"instances": ' + nested + b"}", nested[:-1]]))


predict_json_bodies = st.one_of(
    json_values.map(_dumps),
    st.fixed_dictionaries({"instances": json_values}).map(_dumps),
    st.fixed_dictionaries({"instances": numeric_arrays()},
                          optional={"top_k": json_values}).map(_dumps),
    deep_nesting(),
    st.binary(max_size=300),
)

query_strings = st.one_of(
    st.just(""),
    st.builds(lambda k, r: f"?top_k={quote(k)}&return_input={quote(r)}",
              st.text(max_size=10), st.text(max_size=5)),
    st.sampled_from(["?top_k=0", "?top_k=11", "?top_k=-1", "?top_k=1e3", "?top_k=99999999999999999999",
                     "?return_input=1", "?model=digits", "?model=mnist&version=1", "?version=stable",
                     "?model=..%2Fmnist", "?version=01", "?model=digits&return_input=1"]),
)


@st.composite
def infer_bodies(draw) -> bytes:
    tensor = draw(st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(st.just("input"), json_values),
            "shape": st.one_of(st.lists(st.integers(-(2**65), 2**65), max_size=4),
                               st.sampled_from([[1, 784], [1, 28, 28], [784], [0, 784]]), json_values),
            "datatype": st.one_of(st.sampled_from(["FP32", "UINT8", "INT64", "BYTES", "FP16"]),
                                  json_values),
            "data": st.one_of(numeric_arrays(), json_values),
        }))
    body = draw(st.fixed_dictionaries(
        {"inputs": st.one_of(st.just([tensor]), st.just([tensor, tensor]), json_values)},
        optional={"outputs": json_values, "id": json_values, "parameters": json_values}))
    return draw(st.one_of(st.just(_dumps(body)), json_values.map(_dumps), deep_nesting()))


# --- images ----------------------------------------------------------------------------------

image_bytes = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda magic, rest: magic + rest, st.sampled_from(MAGIC), st.binary(max_size=2000)),
)


@st.composite
def multipart_uploads(draw) -> list[tuple[str, tuple[str, bytes]]]:
    names = st.one_of(st.just("file"), st.sampled_from(["image", "files", "File", "file[]", ""]),
                      st.text(min_size=1, max_size=10))
    parts = draw(st.lists(st.tuples(names, st.text(max_size=20), image_bytes), min_size=1, max_size=4))
    return [(name, (filename, data)) for name, filename, data in parts]


# --- URLs ------------------------------------------------------------------------------------

path_segments = st.one_of(
    st.text(min_size=1, max_size=30),
    st.sampled_from(["..", ".", "../..", "..%2f..", "mnist/../mnist", "/etc/passwd", "1.npz",
                     "0", "01", "-1", "+1", "1.0", "1e0", "0x1", " 1", "\u0661", "\uff11",
                     "9" * 30, "mnist", "%00", "1\x00", "~", "$HOME"]),
)


OTHER_ROUTES = ["/", "/models", "/models/mnist", "/models/digits", "/metrics", "/v2", "/v2/health/live",
                "/v2/health/ready", "/v2/repository/index", "/ui/app.js", "/ui/../service/app.py",
                "/static/x", "/predict/"]
# The session server serves "mnist" (28x28) and "digits" (8x8); anything else is unknown.
model_names = st.one_of(st.sampled_from(["mnist", "digits"]), path_segments)
predict_paths = st.one_of(st.just("/predict"),
                          model_names.map(lambda name: f"/predict/{quote(name, safe='')}"))


@st.composite
def fuzz_requests(draw) -> FuzzRequest:
    """One request to any endpoint, mostly hostile."""
    kind = draw(st.sampled_from(["json", "image", "multipart", "infer", "url", "other"]))
    if kind == "json":
        content_type = draw(st.sampled_from(["application/json", "application/x+json",
                                             "application/json; charset=latin-1"]))
        return FuzzRequest("POST", draw(predict_paths) + draw(query_strings), draw(predict_json_bodies),
                           content_type)
    if kind == "image":
        return FuzzRequest("POST", draw(predict_paths) + draw(query_strings), draw(image_bytes),
                           draw(st.sampled_from(IMAGE_MEDIA_TYPES)))
    if kind == "multipart":
        return FuzzRequest("POST", draw(predict_paths) + draw(query_strings), files=draw(multipart_uploads()))
    if kind == "other":  # the remaining routes, any method, any body
        path = draw(st.one_of(st.sampled_from(OTHER_ROUTES), path_segments.map(lambda p: "/" + quote(p))))
        method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]))
        return FuzzRequest(method, path + draw(query_strings), draw(st.binary(max_size=200)),
                           draw(st.sampled_from([None, "application/json", "text/plain", "image/png"])))
    name = draw(model_names)
    version = draw(st.one_of(st.none(), path_segments))
    route = f"/v2/models/{quote(name, safe='')}"
    if version is not None:
        route += f"/versions/{quote(version, safe='')}"
    if kind == "infer":
        return FuzzRequest("POST", route + "/infer", draw(infer_bodies()), "application/json")
    return FuzzRequest(draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"])),
                       route + draw(st.sampled_from(["", "/ready", "/infer"])))


# --- hand-made images ------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageCase:
    name: str
    data: bytes
    status: int
    says: str = ""            # a fragment of the error message
    label: int | None = None  # for a 200: the digit it must be read as (None: any)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header(width: int, height: int, pixels: bytes = b"") -> bytes:
    """A PNG (8-bit grey) that declares any size, whatever its pixel data holds."""
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(pixels)) + png_chunk(b"IEND", b""))


def jpeg_declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """`jpeg` with its frame header (SOF0) rewritten to claim another size."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[:at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9:]


# exif_transpose undoes orientation N with this operation, so storing the upright image with the
# inverse operation applied makes a file that is upright once the EXIF tag is honoured.
EXIF_INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
}


def with_exif_orientation(upright: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(upright.transpose(EXIF_INVERSE[orientation]), "JPEG", quality=92, exif=exif.tobytes())


def hostile_images(digit: np.ndarray, label: int) -> list[ImageCase]:
    """Images of every awkward kind. `digit` (28x28 MNIST) must be one the model reads as `label`."""
    upright = drawn_digit(digit)
    png, jpeg = encode(upright), encode(upright, "JPEG", quality=90)
    blank = bytes(200)
    ink_column = Image.fromarray(np.array([[255]] * 40 + [[0]] * 120 + [[255]] * 40, dtype=np.uint8))
    gif = io.BytesIO()
    upright.save(gif, "GIF", save_all=True, append_images=[Image.new("L", upright.size, 255)], duration=100,
                 loop=0)
    wide16 = Image.fromarray(np.asarray(upright, dtype=np.uint16) * 257)
    rgba = Image.new("RGBA", upright.size, (0, 0, 0, 0))
    rgba.putalpha(Image.eval(upright, lambda v: 255 - v))  # black strokes on a transparent canvas
    cases = [
        ImageCase("empty body", b"", 400, "not a readable image"),
        ImageCase("random bytes", bytes(range(256)) * 4, 400, "not a readable image"),
        ImageCase("PNG signature only", png[:8], 400, "not a readable image"),
        ImageCase("truncated PNG", png[:len(png) // 2], 400, "truncated"),
        ImageCase("truncated JPEG", jpeg[:len(jpeg) // 2], 400, "truncated"),
        ImageCase("JPEG header only", jpeg[:300], 400, ""),
        ImageCase("PNG with a bad CRC", png[:40] + bytes([png[40] ^ 0xFF]) + png[41:], 400, ""),
        ImageCase("0x0 PNG", png_with_header(0, 0), 400, ""),
        ImageCase("1x200 blank PNG", png_with_header(1, 200, b"\x00\xff" * 200), 400, "no ink"),
        ImageCase("200x1 blank PNG", png_with_header(200, 1, b"\x00" + b"\xff" * 200), 400, "no ink"),
        ImageCase("1x200 PNG with a stroke", encode(ink_column), 200),
        ImageCase("PNG declaring 100000x100000 (bomb)", png_with_header(100_000, 100_000, blank), 413,
                  "MAX_IMAGE_PIXELS"),
        ImageCase("PNG declaring 2^31-1 square (bomb)", png_with_header(2**31 - 1, 2**31 - 1, blank),
                  413),
        ImageCase("JPEG declaring 65000x65000 (bomb)", jpeg_declaring(jpeg, 65_000, 65_000), 413,
                  "MAX_IMAGE_PIXELS"),
        ImageCase("animated GIF (first frame read)", gif.getvalue(), 200, label=label),
        ImageCase("16-bit greyscale PNG", encode(wide16), 200, label=label),
        ImageCase("palette PNG", encode(upright.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)),
                  200, label=label),
        ImageCase("palette PNG with transparency",
                  encode(rgba.convert("P", palette=Image.Palette.ADAPTIVE), transparency=0), 200),
        ImageCase("transparent RGBA drawing", encode(rgba), 200, label=label),
        ImageCase("CMYK JPEG", encode(upright.convert("CMYK"), "JPEG", quality=92), 200, label=label),
        ImageCase("1-bit PNG", encode(upright.point(lambda v: 255 if v > 128 else 0).convert("1")), 200,
                  label=label),
        ImageCase("TIFF sent as image/png", encode(upright, "TIFF"), 400, "not a readable image"),
    ]
    cases += [ImageCase(f"JPEG with EXIF orientation {o}", with_exif_orientation(upright, o), 200,
                        label=label) for o in EXIF_INVERSE]
    return cases
