"""Tell what an uploaded object is from its first bytes.

Everything here works on a small, bounded read: the type from the first :data:`HEAD_BYTES`.
Which types a field accepts is :mod:`async_uploads.restrictions`; image dimensions are read by
:mod:`async_uploads.image_headers`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HEAD_BYTES", "SIGNATURE_TYPES", "Sniffed", "sniff"]

#: Bytes read from the start of an object to tell its type.
HEAD_BYTES = 4096

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

#: Every type :func:`sniff` recognises by a signature.
SIGNATURE_TYPES = frozenset(
    {mime for _, _, mime in _MAGIC}
    | {"image/webp", "image/heic", "image/avif", "video/quicktime", "video/mp4", "video/x-msvideo"}
)

# The tags that make the WHATWG sniffer call a body HTML, each followed by a space or ">" (the
# sniffer's tag-terminating bytes), after leading whitespace, case-insensitively; and a comment.
_HTML_TAGS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
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

    File signatures (PNG, JPEG, PDF, ZIP, …) at the start win (``%PDF-`` may follow whitespace or a
    UTF-8 byte order mark; a signature further in never counts); otherwise bytes that read as text are
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
    if head[4:8] == b"ftyp" and head[:1] == b"\x00":  # a box size: text never starts so
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return Sniffed("image/heic", "magic")
        if brand in (b"avif", b"avis"):
            return Sniffed("image/avif", "magic")
        if brand == b"qt  ":
            return Sniffed("video/quicktime", "magic")
        return Sniffed("video/mp4", "magic")
    if head.lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"%PDF-"):
        # Only at the start: content that opens as HTML or SVG is that, whatever follows.
        return Sniffed("application/pdf", "magic")
    if not _looks_like_text(head):
        return Sniffed(None, "binary")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # read UTF-16 markup as markup
        head = head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"<!--") or any(
        text.startswith(tag) and text[len(tag) : len(tag) + 1] in (b" ", b">", b"\t", b"\n", b"\r", b"\x0c", b"/")
        for tag in _HTML_TAGS
    ):
        return Sniffed("text/html", "text")
    if b"<svg" in text[:1024] and (text.startswith((b"<svg", b"<?xml", b"<!doctype svg", b"<!--"))):
        return Sniffed("image/svg+xml", "text")
    if text.startswith((b"<?xml", b"<!doctype")):
        return Sniffed("application/xml", "text")
    return Sniffed("text/plain", "text")


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B, 0x08))
    return controls <= len(head) // 100
