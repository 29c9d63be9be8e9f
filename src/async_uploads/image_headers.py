"""Read image sizes from their headers, with small bounded reads.

The dimensions of an image come from at most :data:`MAX_IMAGE_HEADER_BYTES`, fetched with
ranged reads.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MAX_IMAGE_DIMENSION",
    "MAX_IMAGE_HEADER_BYTES",
    "ImageHeader",
    "dimension_error",
    "read_image_header",
    "read_image_header_with_pillow",
]

#: Largest width or height accepted, in pixels, whether a client sends it or an image header says it.
MAX_IMAGE_DIMENSION = 1_000_000
#: Largest value of the dimension columns (``PositiveIntegerField``) and of a GraphQL ``Int``.
MAX_INT = 2**31 - 1

#: Most bytes read in all to find an image's dimensions (JPEG metadata may come before them).
MAX_IMAGE_HEADER_BYTES = 64 * 1024
#: Most ranged reads spent walking JPEG segments past the first chunk.
_MAX_JPEG_READS = 8


@dataclass(frozen=True)
class ImageHeader:
    """Dimensions read from an image's header."""

    mime: str
    width: int
    height: int
    #: Whether the image is shown rotated by a quarter turn (JPEG EXIF orientation 5 to 8), so a
    #: browser reports width and height swapped.
    rotated: bool = False


def dimension_error(width: int | None, height: int | None) -> str | None:
    """Return why ``width`` x ``height`` pixels are out of bounds, or ``None`` when they are fine.

    Each given dimension must be from 1 to :data:`MAX_IMAGE_DIMENSION` (and so fit the dimension
    columns and a GraphQL ``Int``); with both given and Pillow installed, ``width * height`` must
    not exceed Pillow's ``Image.MAX_IMAGE_PIXELS`` (read now, so a project's own value counts).
    The one bound for client-sent dimensions and those read from an image header.
    """
    limit = min(MAX_IMAGE_DIMENSION, MAX_INT)
    for label, value in (("width", width), ("height", height)):
        if value is not None and not 0 < value <= limit:
            return f"The {label} must be between 1 and {limit} pixels, got {value}."
    if width is not None and height is not None:
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - Pillow is the image extra
            return None
        pixels = Image.MAX_IMAGE_PIXELS
        if pixels is not None and width * height > pixels:
            return f"{width}x{height} is {width * height} pixels; at most {int(pixels)} are accepted."
    return None


class _BoundedReader:
    """Fetch byte ranges of an object through ``read(start, length)``, within a byte budget."""

    def __init__(self, read: Callable[[int, int], bytes], head: bytes, budget: int):
        self._read = read
        self.windows: list[tuple[int, bytes]] = [(0, head)]
        self.bytes_read = len(head)
        self.budget = budget

    def get(self, start: int, length: int) -> bytes:
        for offset, data in self.windows:
            if offset <= start and start + length <= offset + len(data):
                return data[start - offset : start - offset + length]
        room = self.budget - self.bytes_read
        if room <= 0 or len(self.windows) > _MAX_JPEG_READS:
            return b""
        data = self._read(start, min(max(length, 16 * 1024), room))
        self.bytes_read += len(data)
        self.windows.append((start, data))
        return data[:length]


def read_image_header(
    head: bytes, read: Callable[[int, int], bytes], *, budget: int = MAX_IMAGE_HEADER_BYTES
) -> ImageHeader | None:
    """Return the type and dimensions of the image whose first bytes are ``head``.

    ``read(start, length)`` fetches more of the object when the header is longer than ``head``
    (JPEG metadata); no more than ``budget`` bytes are read in all. Answers ``None`` for data
    that is not a PNG, JPEG, GIF, WebP or BMP image with a readable header.
    """
    reader = _BoundedReader(read, head, budget)
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            if head[12:16] != b"IHDR":
                return None
            w, h = struct.unpack(">II", head[16:24])
            return _header("image/png", w, h)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", head[6:10])
            return _header("image/gif", w, h)
        if head[:2] == b"BM" and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            return _header("image/bmp", w, abs(h))
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _webp(head)
        if head[:3] == b"\xff\xd8\xff":
            return _jpeg(reader)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def read_image_header_with_pillow(data: bytes) -> ImageHeader | None:
    """Return the dimensions Pillow finds in the first bytes ``data`` of an image (TIFF, ICO, …).

    The fallback for formats :func:`read_image_header` does not parse; ``None`` when Pillow is not
    installed or cannot tell the size from ``data`` alone.
    """
    try:
        from PIL import ImageFile
    except ImportError:  # pragma: no cover - Pillow is the image extra
        return None
    parser = ImageFile.Parser()
    try:
        with warnings.catch_warnings():  # Pillow warns about the truncated data it was given
            warnings.simplefilter("ignore")
            parser.feed(data)
        image = parser.image
    except Exception:  # Pillow raises many types on data it cannot parse
        return None
    finally:
        try:
            parser.close()
        except Exception:  # noqa: S110 - closing a parser fed partial data complains; the size is known
            pass
    if image is None:
        return None
    width, height = image.size
    mime = _PILLOW_MIME.get(str(image.format), f"image/{str(image.format).lower()}")
    return _header(mime, int(width), int(height))


_PILLOW_MIME = {"TIFF": "image/tiff", "ICO": "image/vnd.microsoft.icon", "JPEG2000": "image/jp2"}


def _header(mime: str, width: int, height: int, rotated: bool = False) -> ImageHeader | None:
    if width <= 0 or height <= 0:
        return None
    return ImageHeader(mime, width, height, rotated)


def _webp(head: bytes) -> ImageHeader | None:
    if len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", head[26:30])
        return _header("image/webp", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L":
        if head[20] != 0x2F:
            return None
        bits = int.from_bytes(head[21:25], "little")
        return _header("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return _header("image/webp", w, h)
    return None


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg(reader: _BoundedReader) -> ImageHeader | None:
    pos = 2
    rotated = False
    while True:
        marker = reader.get(pos, 4)
        if len(marker) < 4 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            pos += 1
            continue
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:  # markers without a length
            pos += 2
            continue
        if kind in (0xD9, 0xDA):  # end of image, start of scan: no frame header before them
            return None
        length = int.from_bytes(marker[2:4], "big")
        if length < 2:
            return None
        if kind in _SOF_MARKERS:
            frame = reader.get(pos + 4, 5)
            if len(frame) < 5:
                return None
            h, w = struct.unpack(">HH", frame[1:5])
            return _header("image/jpeg", w, h, rotated)
        if kind == 0xE1 and not rotated:
            segment = reader.get(pos + 4, min(length - 2, 4096))
            rotated = _exif_orientation(segment) in (5, 6, 7, 8)
        pos += 2 + length


def _exif_orientation(segment: bytes) -> int | None:
    if not segment.startswith(b"Exif\x00\x00"):
        return None
    tiff = segment[6:]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        if len(entry) < 12:
            return None
        tag, _type, _count = struct.unpack(order + "HHI", entry[:8])
        if tag == 0x0112:
            (value,) = struct.unpack(order + "H", entry[8:10])
            return int(value)
    return None
