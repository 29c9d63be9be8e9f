"""Tell what an uploaded object is from its first bytes, and read image sizes from their headers.

Everything here works on small, bounded reads: the type from the first :data:`HEAD_BYTES`, the
dimensions of an image from at most :data:`MAX_IMAGE_HEADER_BYTES` fetched with ranged reads.
"""

from __future__ import annotations

import mimetypes
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "HEAD_BYTES",
    "MAX_IMAGE_HEADER_BYTES",
    "ImageHeader",
    "Sniffed",
    "content_satisfies",
    "name_satisfies",
    "read_image_header",
    "read_image_header_with_pillow",
    "sniff",
]

#: Bytes read from the start of an object to tell its type.
HEAD_BYTES = 4096
#: Most bytes read in all to find an image's dimensions (JPEG metadata may come before them).
MAX_IMAGE_HEADER_BYTES = 64 * 1024
#: Most ranged reads spent walking JPEG segments past the first chunk.
_MAX_JPEG_READS = 8

# (offset, magic, MIME type). Checked in order; the first match wins.
_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (0, b"%PDF", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"MZ", "application/x-msdownload"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (0, b"\xca\xfe\xba\xbe", "application/java-vm"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"wOFF", "font/woff"),
    (0, b"wOF2", "font/woff2"),
    (0, b"\x00asm", "application/wasm"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
]

# Signatures short enough to start a text file; they count only when the start is not text.
_WEAK_MAGIC = frozenset({b"BM", b"MZ", b"ID3", b"BZh", b"\x1f\x8b"})

# MIME types stored in a container sniffed as another type.
_CONTAINERS: dict[str, tuple[str, ...]] = {
    "application/zip": (
        "application/x-zip-compressed",
        "application/vnd.openxmlformats-officedocument.",
        "application/vnd.oasis.opendocument.",
        "application/epub+zip",
        "application/java-archive",
        "application/vnd.android.package-archive",
        "application/vnd.ms-excel.sheet.macroenabled",
        "application/vnd.ms-word.document.macroenabled",
        "application/vnd.ms-powerpoint.presentation.macroenabled",
        "application/vnd.apple.keynote",
        "application/vnd.apple.pages",
        "application/vnd.apple.numbers",
        "model/vnd.usdz+zip",
    ),
    "application/x-ole-storage": (
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.ms-outlook",
        "application/x-msi",
        "application/x-ole-storage",
    ),
    "application/gzip": ("application/x-gzip", "application/x-tar", "application/x-gtar"),
    "application/x-msdownload": ("application/x-msdos-program", "application/vnd.microsoft.portable-executable"),
    "video/webm": ("video/x-matroska", "audio/webm", "audio/x-matroska"),
    "audio/ogg": ("video/ogg", "application/ogg", "audio/opus"),
    "video/mp4": ("audio/mp4", "audio/x-m4a", "video/x-m4v", "video/3gpp", "video/3gpp2"),
    "image/vnd.microsoft.icon": ("image/x-icon",),
    "audio/x-wav": ("audio/wav", "audio/wave", "audio/vnd.wave"),
}

#: Types whose content can run code in a browser or on a computer: never accepted for a
#: restriction that does not name them.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "image/svg+xml",
        "application/xhtml+xml",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-mach-binary",
        "application/java-vm",
        "application/wasm",
    }
)

_HTML_STARTS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a ",
    b"<style",
    b"<title",
    b"<b>",
    b"<br",
    b"<p>",
    b"<!--",
)
_TEXT_TYPES = (
    "application/json",
    "application/xml",
    "application/javascript",
    "application/ecmascript",
    "application/x-sh",
    "application/x-yaml",
    "application/yaml",
    "application/toml",
    "application/sql",
    "application/x-tex",
    "application/x-latex",
    "application/rtf",
    "application/x-subrip",
    "application/ld+json",
    "application/x-ndjson",
)


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes of an object say it is."""

    #: The MIME type recognised, or ``None`` for binary data of no known signature.
    mime: str | None
    #: ``"magic"`` (a file signature matched), ``"text"`` (no signature; reads as text) or ``"binary"``.
    kind: str

    def __str__(self) -> str:
        if self.kind == "binary":
            return "binary data of no known type"
        return f"{self.mime} ({'signature' if self.kind == 'magic' else 'text'})"


def sniff(head: bytes) -> Sniffed:
    """Return the type the first bytes ``head`` of an object show.

    File signatures (PNG, JPEG, PDF, ZIP, …) win; otherwise bytes that read as text are
    ``text/html`` when they open with an HTML tag, ``image/svg+xml`` / ``application/xml`` for
    SVG / XML, else ``text/plain``; anything else is binary of no known type.
    """
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if magic in _WEAK_MAGIC and _looks_like_text(head[:256]):
                continue  # "BMW,320i" is a CSV line, not a bitmap
            return Sniffed(mime, "magic")
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return Sniffed({b"WEBP": "image/webp", b"WAVE": "audio/x-wav", b"AVI ": "video/x-msvideo"}[head[8:12]], "magic")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return Sniffed("image/heic", "magic")
        if brand in (b"avif", b"avis"):
            return Sniffed("image/avif", "magic")
        if brand == b"qt  ":
            return Sniffed("video/quicktime", "magic")
        return Sniffed("video/mp4", "magic")
    if b"%PDF-" in head[:1024]:  # readers accept junk before the header
        return Sniffed("application/pdf", "magic")
    if not _looks_like_text(head):
        return Sniffed(None, "binary")
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(_HTML_STARTS):
        return Sniffed("text/html", "text")
    if b"<svg" in text[:1024] and (text.startswith((b"<svg", b"<?xml", b"<!doctype svg", b"<!--"))):
        return Sniffed("image/svg+xml", "text")
    if text.startswith(b"<?xml"):
        return Sniffed("application/xml", "text")
    return Sniffed("text/plain", "text")


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B, 0x08))
    return controls <= len(head) // 100


def _expected_mime(restriction: str) -> str | None:
    rule = restriction.strip().lower()
    if "/" in rule:
        return rule.split(";")[0].strip()
    ext = rule if rule.startswith(".") else f".{rule}"
    guessed, _ = mimetypes.guess_type(f"x{ext}", strict=False)
    return guessed.lower() if guessed else None


def _matches(rule: str, mime: str) -> bool:
    if rule in ("*/*", "*"):
        return True
    if rule.endswith("/*"):
        return mime.startswith(rule[:-1])
    return rule == mime


def _is_textual(mime: str) -> bool:
    return (
        mime.startswith("text/")
        or mime in _TEXT_TYPES
        or mime.endswith(("+json", "+xml"))
        or mime in ("image/svg+xml", "application/xhtml+xml")
    )


def _has_signature(mime: str) -> bool:
    """Return whether files of ``mime`` always start with a signature :func:`sniff` knows."""
    if mime.endswith("/*"):
        return False
    for _, _, known in _MAGIC:
        if known == mime:
            return True
    for members in _CONTAINERS.values():
        if any(mime.startswith(m) if m.endswith(".") else mime == m for m in members):
            return True
    return mime in ("image/webp", "image/heic", "image/avif", "video/quicktime", "video/mp4", "video/x-msvideo")


def name_satisfies(restriction: str, name: str) -> bool:
    """Return whether the file name ``name`` fits the ``file_restrictions`` entry ``restriction``.

    The same rule as :meth:`AsyncFileMixin.is_valid_filetype <async_uploads.models.AsyncFileMixin.is_valid_filetype>`
    applies, for one entry.
    """
    from async_uploads.names import safe_basename

    filename = safe_basename(name).lower()
    rule = restriction.strip().lower()
    if "/" not in rule:
        return filename.endswith(rule if rule.startswith(".") else f".{rule}")
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed is not None and _matches(rule, guessed.lower())


def content_satisfies(restriction: str, found: Sniffed) -> bool:
    """Return whether content sniffed as ``found`` fits the ``file_restrictions`` entry ``restriction``.

    The entry stands for a MIME type (an extension stands for the type its name has):

    - content with a signature must be of that type, or a container of it (a ``.docx`` is a ZIP);
    - text fits textual types (``text/*``, JSON, XML, …); HTML and SVG fit only entries that
      allow them or plain-text types;
    - binary data of no known signature fits only types that have no signature we know;
    - an extension of no known type, ``*/*`` or ``application/octet-stream`` accept anything but
      HTML, SVG and executables.
    """
    expected = _expected_mime(restriction)
    if expected is None or expected in ("*/*", "*", "application/octet-stream"):
        return found.mime not in ACTIVE_TYPES
    if found.kind == "magic":
        assert found.mime is not None
        if _matches(expected, found.mime):
            return True
        members = _CONTAINERS.get(found.mime, ())
        return any(expected.startswith(m) if m.endswith(".") else expected == m for m in members)
    if found.kind == "text":
        assert found.mime is not None
        if _matches(expected, found.mime):
            return True
        if found.mime in ACTIVE_TYPES:
            return expected in ("text/plain", "text/*")
        return (_is_textual(expected) and not expected.endswith("/*")) or expected == "text/*"
    return not _is_textual(expected) and not _has_signature(expected) and not expected.endswith("/*")


@dataclass(frozen=True)
class ImageHeader:
    """Dimensions read from an image's header."""

    mime: str
    width: int
    height: int
    #: Whether the image is shown rotated by a quarter turn (JPEG EXIF orientation 5 to 8), so a
    #: browser reports width and height swapped.
    rotated: bool = False


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
