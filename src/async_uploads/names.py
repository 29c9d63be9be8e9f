"""Key and name helpers: safe names from client input, names fitted to a length, clean keys.

Everything here is pure string work on names a client sent or a storage will store; it knows no
storage, field or record.
"""

from __future__ import annotations

import os
import posixpath

from django.core.exceptions import SuspiciousFileOperation
from django.utils.text import get_valid_filename

__all__ = ["MAX_NAME_BYTES", "fit_name", "is_clean_key", "is_text", "safe_basename"]

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
