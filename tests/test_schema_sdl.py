"""schema.graphql at the repository root must be the SDL of the example project's schema.

Frontends run schema-first codegen against that file, so a schema change that is not exported
would leave their generated types silently wrong. The export runs exactly as `make schema` runs it:
strawberry_django's `export_schema` command in the example project (its own settings, in a
subprocess, since this test session runs on `tests.settings`), here into a temporary file.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT = ROOT / "example_project"
COMMITTED = ROOT / "schema.graphql"


def export_example_schema(path: Path) -> str:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "example.settings"
    # The SDL does not depend on the database; keep the test-matrix database out of the export.
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "export_schema", "example.schema:schema", "--path", str(path)],
        cwd=EXAMPLE_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"export_schema failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    return path.read_text(encoding="utf-8")


def test_schema_graphql_is_up_to_date(tmp_path: Path) -> None:
    fresh = export_example_schema(tmp_path / "schema.graphql")
    assert "type Mutation" in fresh and "generateUploadUrl" in fresh, "the exported SDL looks empty"

    assert COMMITTED.exists(), "schema.graphql is missing at the repository root; run make schema"
    committed = COMMITTED.read_text(encoding="utf-8")
    if committed != fresh:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                fresh.splitlines(keepends=True),
                fromfile="schema.graphql (committed)",
                tofile="schema.graphql (exported now)",
                n=2,
            )
        )
        if not diff:  # only line endings or the final newline differ
            diff = "(the files differ only in whitespace at line ends or the end of the file)\n"
        max_chars = 4000
        if len(diff) > max_chars:
            diff = diff[:max_chars] + "\n... (diff truncated)\n"
        raise AssertionError(f"schema.graphql is out of date; run make schema\n\n{diff}")
