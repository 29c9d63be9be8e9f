"""Rewrite the table of error codes in docs/errors.md from async_uploads.codes.ErrorCode (`make docs`)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from async_uploads.codes import codes_table  # noqa: E402

START, END = "<!-- error-codes:start -->", "<!-- error-codes:end -->"


def render(text: str) -> str:
    """Return ``text`` with the part between the markers replaced by the current table."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{codes_table()}{END}{tail}"


if __name__ == "__main__":
    path = ROOT / "docs" / "errors.md"
    path.write_text(render(path.read_text()))
