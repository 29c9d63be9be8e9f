"""Key and name helpers: safe names from client input, names fitted to a length, clean keys.

Everything here is pure string work on names a client sent or a storage will store; it knows no
storage, field or record.
"""

from __future__ import annotations

import datetime
import os
import posixpath
import string

from django.core.exceptions import SuspiciousFileOperation
from django.utils.text import get_valid_filename

__all__ = [
    "MAX_NAME_BYTES",
    "fit_name",
    "is_clean_key",
    "is_temporary_key",
    "is_text",
    "safe_basename",
    "temporary_key",
]

#: Longest last path component, in UTF-8 bytes, this package produces. Filesystems allow 255;
#: the margin leaves room for the suffix ``get_available_name`` adds on a clash.
MAX_NAME_BYTES = 240


def is_text(value: str) -> bool:
    """Return whether ``value`` can be stored as text: UTF-8 encodable (JSON allows lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_basename(filename: str, default: str = "file") -> str:
    """Return the last path component of a user-supplied ``filename``, made safe for storage keys.

    Both ``/`` and ``\\`` count as separators, so ``..\\..\\x.png`` gives ``x.png``; a name that
    sanitises to nothing (``..``, ``""``) gives ``default``.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    try:
        return get_valid_filename(name)
    except SuspiciousFileOperation:
        return default


def fit_name(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Return ``name`` cut to ``max_bytes`` UTF-8 bytes, keeping its extension where it fits."""
    if len(name.encode()) <= max_bytes:
        return name
    root, ext = os.path.splitext(name)
    if len(ext.encode()) > max_bytes // 2:
        root, ext = name, ""
    room = max_bytes - len(ext.encode())
    return root.encode()[:room].decode(errors="ignore") + ext


def is_clean_key(key: str) -> bool:
    """Return whether ``key`` is a plain relative storage key with no path tricks."""
    if not key or key != key.strip() or "\\" in key or "\x00" in key or "%" in key:
        return False
    if key.startswith("/") or "//" in key:
        return False
    return posixpath.normpath(key) == key and ".." not in key.split("/")


_SECRET_ALPHABET = string.ascii_letters + string.digits  # as django.utils.crypto.get_random_string


def _random_secret(length: int) -> str:
    """Return ``length`` characters drawn uniformly from ``[A-Za-z0-9]`` by the OS's CSPRNG.

    What ``get_random_string`` returns, from one ``os.urandom`` call instead of one per character:
    bytes from 248 up are dropped, so ``b % 62`` is uniform.
    """
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(_SECRET_ALPHABET[b % 62] for b in os.urandom(2 * length) if b < 248)
    return "".join(chars[:length])


def temporary_key(filename: str, *, prefix: str, secret_length: int, max_length: int | None = None) -> str:
    """Return a new unique temporary key for an upload of ``filename``: ``PREFIX/YYYY/MM/DD/SECRET-name``.

    The name after the ``-`` is the safe last component of ``filename``, cut to fit
    ``max_length`` but keeping its extension; when not even the prefix and the extension fit,
    :class:`~django.core.exceptions.SuspiciousFileOperation` is raised.
    """
    filename = fit_name(safe_basename(filename), MAX_NAME_BYTES - secret_length - 1)
    today = datetime.date.today().strftime("%Y/%m/%d")
    secret = _random_secret(secret_length)
    start = f"{prefix}/{today}/{secret}-"
    if max_length:
        file_root, file_ext = os.path.splitext(filename)
        room = max_length - len(start) - len(file_ext)
        if room < 0:
            raise SuspiciousFileOperation(
                f"A temporary key for {filename!r} needs at least {len(start) + len(file_ext)} "
                f"characters but the field allows {max_length}; raise the field's max_length."
            )
        filename = f"{file_root[:room]}{file_ext}"
    return f"{start}{filename}"


def is_temporary_key(name: str | None, prefix: str) -> bool:
    """Return whether ``name`` is a clean key under the temporary ``prefix``."""
    if not name:
        return False
    return name.startswith(prefix + "/") and is_clean_key(name)
