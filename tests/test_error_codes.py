"""The error-code enum is the one source of codes, statuses and the docs' table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from async_uploads.codes import ErrorCode

ROOT = Path(__file__).resolve().parent.parent


def _writer():
    spec = importlib.util.spec_from_file_location("write_error_codes", ROOT / "scripts" / "write_error_codes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_table_is_written_from_the_enum():
    text = (ROOT / "docs" / "errors.md").read_text()
    assert _writer().render(text) == text, "docs/errors.md is stale: run `make docs`"
    for code in ErrorCode:
        assert f"| `{code.value}` | {code.status} |" in text


def test_codes_are_strings_with_a_status_and_a_message():
    assert ErrorCode.INVALID_KEY == "invalid_key"
    assert ErrorCode("quota_exceeded") is ErrorCode.QUOTA_EXCEEDED
    for code in ErrorCode:
        assert 400 <= code.status < 500
        assert str(code.default_message)
        assert code.value == code.name.lower()
