"""The one file-type rule: which names, MIME types and sniffed contents a ``file_restrictions`` list accepts.

Issuing an upload URL (the name and declared type) and verifying the uploaded bytes (the sniffed
type) both ask this module, so they cannot disagree.
"""

from __future__ import annotations

import mimetypes

from async_uploads.sniffing import SIGNATURE_TYPES, Sniffed

__all__ = ["ACTIVE_TYPES", "content_satisfies", "name_satisfies"]

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
    if mime in SIGNATURE_TYPES:
        return True
    return any(_is_member(mime, members) for members in _CONTAINERS.values())


def _is_member(mime: str, members: tuple[str, ...]) -> bool:
    """Return whether ``mime`` is one of ``members`` (an entry ending in ``.`` is a prefix)."""
    return any(mime.startswith(m) if m.endswith(".") else mime == m for m in members)


def name_satisfies(restriction: str, name: str) -> bool:
    """Return whether the file name ``name`` fits the ``file_restrictions`` entry ``restriction``.

    The same rule as :meth:`AsyncFileMixin.is_valid_filetype <async_uploads.models.AsyncFileMixin.is_valid_filetype>`
    applies, for one entry.
    """
    from async_uploads.storage.base import safe_basename

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
        return _is_member(expected, _CONTAINERS.get(found.mime, ()))
    if found.kind == "text":
        assert found.mime is not None
        if _matches(expected, found.mime):
            return True
        if found.mime in ACTIVE_TYPES:
            return expected in ("text/plain", "text/*")
        return (_is_textual(expected) and not expected.endswith("/*")) or expected == "text/*"
    return not _is_textual(expected) and not _has_signature(expected) and not expected.endswith("/*")
