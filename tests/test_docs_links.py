"""The Markdown docs link only to files and headings that exist (scripts/check_links.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_links.py"


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_links", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_links"] = module
    spec.loader.exec_module(module)
    return module


check_links = _load_checker()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_the_repository_docs_have_no_broken_links():
    result = _run()
    assert result.returncode == 0, result.stderr
    assert "links ok" in result.stdout


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Upload quotas", "upload-quotas"),
        ("`url` and `downloadUrl`", "url-and-downloadurl"),
        ("S3: `async_uploads.storage.s3.S3AsyncUploadStorage`", "s3-async_uploadsstorages3s3asyncuploadstorage"),
        ("Living beside alliance-platform-storage's package", "living-beside-alliance-platform-storages-package"),
        ("What the widget does (forms)", "what-the-widget-does-forms"),
        ("[Linked](other.md) heading", "linked-heading"),
    ],
)
def test_slugs_follow_githubs_rules(heading, slug):
    assert check_links.github_slug(heading) == slug


def test_broken_files_and_anchors_are_listed_and_fail(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Same\n\n## Same\n\ntext\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "# Top\n\n"
        "[ok](docs/a.md) [ok anchor](docs/a.md#same-1) [self](#top) [site](https://example.com/x)\n"
        "[gone](docs/missing.md) [bad anchor](docs/a.md#nowhere) [bad self](#bottom)\n"
        "`[in code](nowhere.md)`\n\n"
        "```\n[in a fence](nowhere.md)\n```\n",
        encoding="utf-8",
    )

    result = _run("--root", str(tmp_path), "README.md", "docs/a.md")

    assert result.returncode == 1
    broken = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert broken == [
        "README.md:4: docs/missing.md (no such file: docs/missing.md)",
        "README.md:4: docs/a.md#nowhere (no heading #nowhere in docs/a.md)",
        "README.md:4: #bottom (no heading #bottom in README.md)",
    ]
    assert "README.md:3: https://example.com/x" in result.stdout  # listed, not fetched
