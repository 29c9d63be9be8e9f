"""Sizes in the words users read: the one spelling of a number of bytes in messages and hints.

``max_size`` is given in MB of 1024 x 1024 bytes, so messages count in the same units (bytes, KB,
MB, GB, TB of 1024). A field's hint ("at most 10 MB") and a refusal ("the file is 11 MB; this
field accepts at most 10 MB") then speak alike.
"""

from __future__ import annotations

_UNITS = ("KB", "MB", "GB", "TB")


def human_size(size: int, *, unlike: int | None = None) -> str:
    """Return ``size`` bytes as text: ``"900 bytes"``, ``"10 MB"``, ``"1.5 GB"``.

    One decimal at most, dropped when it is zero. With ``unlike`` (another size), more decimals are
    given where needed so that two different sizes never read the same ("10.0001 MB" against
    "10 MB"); when even six do not tell them apart, the exact number of bytes is given.
    """
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    for decimals in range(1, 7):
        text = _scaled(size, decimals)
        if unlike is None or unlike == size or text != _scaled(unlike, 1):
            return text
    return f"{size:,} bytes"


def _scaled(size: int, decimals: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value, unit = float(size), "bytes"
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def too_large(size: int, limit: int, what: str = "The file") -> str:
    """The refusal of ``size`` bytes where a field accepts ``limit``: ``"The file is 11 MB; this field ..."``."""
    return f"{what} is {human_size(size, unlike=limit)}; this field accepts at most {human_size(limit)}."
