"""The one file-type rule: which names, MIME types and sniffed contents a ``file_restrictions`` list accepts.

Issuing an upload URL (the name and declared type) and verifying the uploaded bytes (the sniffed
type) both ask this module, so they cannot disagree.
"""

from __future__ import annotations

import mimetypes
import re

from async_uploads.names import safe_basename
from async_uploads.sniffing import SIGNATURE_TYPES, Sniffed

__all__ = [
    "ACTIVE_TYPES",
    "active_download_type",
    "admits",
    "content_allowed",
    "content_satisfies",
    "filename_allowed",
    "guess_type",
    "is_active",
    "is_mime_type",
    "mime_base",
    "name_satisfies",
    "names_exactly",
    "untrusted_stored_type",
]

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

#: Types whose content can run code in a browser (HTML, XHTML, SVG, XML, JavaScript) or on a
#: computer (executables). A ``file_restrictions`` entry accepts them only when it names them
#: exactly (``"image/svg+xml"``, ``".svg"``), never through ``image/*``, ``*/*``, ``text/*``,
#: ``.txt`` or an extension of no known type; every other ``…+xml`` type counts as XML too.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "image/svg+xml",
        "application/xhtml+xml",
        "application/xml",
        "text/xml",
        "text/xsl",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/vnd.microsoft.portable-executable",
        "application/x-executable",
        "application/x-mach-binary",
        "application/java-vm",
        "application/wasm",
    }
)

# Names of one active type: an entry naming one of them names them all.
_ALIASES = (
    frozenset({"application/xml", "text/xml"}),
    frozenset(
        {
            "text/javascript",
            "application/javascript",
            "application/x-javascript",
            "application/ecmascript",
            "text/ecmascript",
        }
    ),
    frozenset(
        {"application/x-msdownload", "application/x-msdos-program", "application/vnd.microsoft.portable-executable"}
    ),
)

_WILDCARDS = ("*", "*/*")


def mime_base(value: str | None) -> str | None:
    """Return the MIME type ``value`` without parameters, lower case (``None`` when empty)."""
    if not value:
        return None
    base = value.split(";")[0].strip().lower()
    return base or None


#: One MIME type, ``type/subtype`` of RFC 9110 token characters, optional parameters after ``;``.
_MIME_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[^,]*)?$")

#: Types that make browsers sniff the content instead of trusting the type (WHATWG MIME Sniffing).
SNIFFED_TYPES = frozenset({"unknown/unknown", "application/unknown", "*/*"})


def is_mime_type(value: str) -> bool:
    """Return whether ``value`` is one well-formed MIME type (no list: a browser reads the last of a list)."""
    return bool(_MIME_TYPE.match(value.strip()))


def untrusted_stored_type(key: str, stored: str | None) -> str | None:
    """Return the stored content type of ``key`` when a browser must not be trusted to show it inline.

    A cloud object keeps the type its uploader sent. It is trusted inline only when it is one
    well-formed type that browsers do not sniff, and the very type the key's name implies (the
    name the field's rules judged); otherwise it is returned, and the download must be an attachment.
    ``None`` (nothing stored: the server picks the type from the name) is trusted.
    """
    if not stored:
        return None
    base = mime_base(stored)
    if not is_mime_type(stored) or base in SNIFFED_TYPES or base != guess_type(key):
        return stored
    return None


def is_active(mime: str | None) -> bool:
    """Return whether content of type ``mime`` can run code (see :data:`ACTIVE_TYPES`)."""
    base = mime_base(mime)
    return base is not None and (base in ACTIVE_TYPES or base.endswith("+xml"))


def guess_type(name: str) -> str | None:
    """Return the MIME type the file name ``name`` suggests, lower case, or ``None``."""
    guessed, _ = mimetypes.guess_type(name.lower(), strict=False)
    return guessed.lower() if guessed else None


def _normalise(restriction: str) -> str:
    rule = restriction.strip().lower()
    if "/" in rule:
        return rule.split(";")[0].strip()
    return rule


def names_exactly(restriction: str, mime: str) -> bool:
    """Return whether the entry ``restriction`` names the type ``mime`` itself, not through a wildcard.

    A MIME entry names its type; an extension names the type :mod:`mimetypes` gives it (``.svg``
    names ``image/svg+xml``); other names of the same type count (``text/xml`` for ``application/xml``).
    """
    rule = _normalise(restriction)
    if "*" in rule:
        return False
    expected = _expected_mime(rule)
    base = mime_base(mime)
    if expected is None or base is None:
        return False
    if expected == base:
        return True
    return any(expected in group and base in group for group in _ALIASES)


def admits(restriction: str, mime: str | None) -> bool:
    """Return whether the entry ``restriction`` lets content of type ``mime`` through the active-type rule."""
    return mime is None or not is_active(mime) or names_exactly(restriction, mime)


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
    rule = _normalise(restriction)
    if rule in _WILDCARDS:
        return "*/*"
    if "/" in rule:
        return rule
    ext = rule if rule.startswith(".") else f".{rule}"
    return guess_type(f"x{ext}")


def _matches(rule: str, mime: str) -> bool:
    if rule in _WILDCARDS:
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


def name_satisfies(restriction: str, name: str, content_type: str | None = None) -> bool:
    """Return whether a file named ``name`` (declared as ``content_type``) fits the entry ``restriction``.

    - ``*`` and ``*/*`` fit any name;
    - an extension (``".pdf"`` or ``"pdf"``) fits a name that ends with it;
    - a MIME type or wildcard (``"image/png"``, ``"image/*"``; parameters are ignored) fits when
      the type the name suggests fits it, and so does the declared ``content_type`` when given
      (renaming ``evil.exe`` to ``evil.png`` does not get past ``image/*``);
    - and in every case an active type (:data:`ACTIVE_TYPES`) the name suggests or the client
      declares must be named exactly by the entry.

    The name judged is the one that will be stored (its last, sanitised component); case is ignored.
    """
    filename = safe_basename(name).lower()
    rule = _normalise(restriction)
    guessed = guess_type(filename)
    declared = mime_base(content_type)
    if rule in _WILDCARDS:
        fits = True
    elif "/" not in rule:
        fits = filename.endswith(rule if rule.startswith(".") else f".{rule}")
    else:
        fits = guessed is not None and _matches(rule, guessed) and (declared is None or _matches(rule, declared))
    return fits and admits(rule, guessed) and admits(rule, declared)


def filename_allowed(restrictions: list[str] | tuple[str, ...], name: str, content_type: str | None = None) -> bool:
    """Return whether a file named ``name`` (declared as ``content_type``) fits some entry of ``restrictions``.

    No restrictions allow any file (there is nothing to check against).
    """
    if not restrictions:
        return True
    return any(name_satisfies(r, name, content_type) for r in restrictions)


def content_allowed(restrictions: list[str] | tuple[str, ...], name: str | None, found: Sniffed) -> bool:
    """Return whether content sniffed as ``found`` fits an entry of ``restrictions`` that ``name`` fits.

    ``name`` is the file's original name (``None``: judge the content against every entry). No
    restrictions allow any content.
    """
    if not restrictions:
        return True
    rules = [r for r in restrictions if name is None or name_satisfies(r, name)]
    return any(content_satisfies(r, found) for r in rules)


def content_satisfies(restriction: str, found: Sniffed) -> bool:
    """Return whether content sniffed as ``found`` fits the ``file_restrictions`` entry ``restriction``.

    The entry stands for a MIME type (an extension stands for the type its name has):

    - active content (HTML, SVG, XML, executables: :data:`ACTIVE_TYPES`) fits only an entry that
      names its type exactly;
    - content with a signature must be of that type, or a container of it (a ``.docx`` is a ZIP);
    - text fits textual types (``text/*``, JSON, XML, …);
    - binary data of no known signature fits only types that have no signature we know;
    - an extension of no known type, ``*``, ``*/*`` or ``application/octet-stream`` accept
      anything else.
    """
    if found.mime is not None and is_active(found.mime):
        return names_exactly(restriction, found.mime)
    expected = _expected_mime(restriction)
    if expected is None or expected in ("*/*", "application/octet-stream"):
        return True
    if found.kind == "magic":
        assert found.mime is not None
        if _matches(expected, found.mime):
            return True
        return _is_member(expected, _CONTAINERS.get(found.mime, ()))
    if found.kind == "text":
        assert found.mime is not None
        if _matches(expected, found.mime):
            return True
        return (_is_textual(expected) and not expected.endswith("/*")) or expected == "text/*"
    return not _is_textual(expected) and not _has_signature(expected) and not expected.endswith("/*")


def active_download_type(names: list[str | None], content_types: list[str | None], head: bytes | None) -> str | None:
    """Return the active type a download is, unless the project lets that type be shown inline.

    A download is every type it might be taken for: the types its ``names`` suggest (the key, the
    filename it is served as), the ``content_types`` it is stored or served with, and the type
    its first bytes ``head`` sniff as. If any of them is active (:data:`ACTIVE_TYPES`) and not
    named in ``ASYNC_UPLOADS["INLINE_ACTIVE_CONTENT_TYPES"]``, it is returned and the download
    must be an attachment; ``None`` otherwise.
    """
    from async_uploads.conf import app_settings
    from async_uploads.sniffing import sniff

    inline = {mime_base(t) for t in app_settings.INLINE_ACTIVE_CONTENT_TYPES}
    candidates = [guess_type(n) for n in names if n] + [mime_base(t) for t in content_types]
    if head is not None:
        candidates.append(sniff(head).mime)
    for mime in candidates:
        if mime is not None and is_active(mime) and mime not in inline:
            return mime
    return None
