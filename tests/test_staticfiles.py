"""ExcludingManifestStaticFilesStorage, through the real collectstatic over tests/static_fixture/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, staticfiles_storage
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.template import Context, Template

from async_uploads.staticfiles import ExcludingManifestStaticFilesStorage

FIXTURE = Path(__file__).parent / "static_fixture"
BACKEND = "async_uploads.staticfiles.ExcludingManifestStaticFilesStorage"
PATTERNS = ["frontend/build/*", "*.pdf"]
EXCLUDED = ["docs/manual.pdf", "frontend/build/app.css", "frontend/build/app.js", "frontend/build/chunks/worker.js"]
HASHED = re.compile(r"^(?P<stem>.+)\.[0-9a-f]{12}(?P<ext>\.\w+)$")


def use_storage(settings, root: Path, options: dict | None) -> None:
    settings.STATIC_ROOT = str(root)
    settings.STATICFILES_DIRS = [str(FIXTURE)]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    entry = {"BACKEND": BACKEND} if options is None else {"BACKEND": BACKEND, "OPTIONS": options}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": entry}


@pytest.fixture
def root(settings, tmp_path) -> Path:
    """STATIC_ROOT after a real ``collectstatic`` with the patterns of the seed's documentation."""
    static_root = tmp_path / "static"
    use_storage(settings, static_root, {"exclude_patterns": PATTERNS})
    call_command("collectstatic", interactive=False, verbosity=0)
    return static_root


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def manifest(root: Path) -> dict:
    return json.loads((root / "staticfiles.json").read_text())


def hashed(root: Path, name: str) -> str:
    """The one hashed copy of ``name`` in ``root``."""
    stem, dot, ext = name.rpartition(".")
    (match,) = [f for f in files(root) if (m := HASHED.match(f)) and m["stem"] == stem and m["ext"] == dot + ext]
    return match


def test_excluded_files_keep_their_names_and_the_others_are_hashed(root):
    on_disk = files(root)
    for name in EXCLUDED:
        assert name in on_disk
        assert (root / name).read_bytes() == (FIXTURE / name).read_bytes()
        # No hashed copy either.
        stem = name.rpartition(".")[0]
        assert not any(HASHED.match(f) and HASHED.match(f)["stem"] == stem for f in on_disk), name
    for name in ["css/site.css", "img/logo.png", "js/main.js"]:
        assert hashed(root, name) in on_disk


def test_a_css_file_keeps_references_to_excluded_files_unhashed(root):
    css = (root / hashed(root, "css/site.css")).read_text()
    assert f'url("../{hashed(root, "img/logo.png")}")' in css
    assert '@import url("../frontend/build/app.css");' in css
    assert 'url("../frontend/build/chunks/worker.js?v=2#main")' in css
    assert 'url("../docs/manual.pdf")' in css


def test_an_excluded_css_file_is_not_post_processed(root):
    assert (root / "frontend/build/app.css").read_text() == (FIXTURE / "frontend/build/app.css").read_text()
    assert 'url("../../img/logo.png")' in (root / "frontend/build/app.css").read_text()


def test_the_saved_manifest_lists_excluded_files_as_themselves(root):
    saved = manifest(root)
    paths = saved["paths"]
    for name in EXCLUDED:
        assert paths[name] == name
    assert paths["img/logo.png"] == hashed(root, "img/logo.png")
    assert paths["css/site.css"] == hashed(root, "css/site.css")
    # The manifest's hash covers the identity entries too (Django computes it from the paths).
    storage = ManifestStaticFilesStorage(location=str(root))
    expected = storage.file_hash(None, ContentFile(json.dumps(sorted(paths.items())).encode()))
    assert saved["hash"] == expected


def test_a_fresh_instance_in_strict_mode_finds_every_file(root, settings):
    fresh = ExcludingManifestStaticFilesStorage(exclude_patterns=PATTERNS)
    assert fresh.manifest_strict
    assert fresh.location == settings.STATIC_ROOT
    assert fresh.url("frontend/build/app.js") == "/static/frontend/build/app.js"
    assert fresh.url("docs/manual.pdf") == "/static/docs/manual.pdf"
    assert fresh.url("img/logo.png") == f"/static/{hashed(root, 'img/logo.png')}"
    with pytest.raises(ValueError, match=re.escape("Missing staticfiles manifest entry for 'nope.js'")):
        fresh.url("nope.js")
    # The entries come from the manifest, not from the patterns of the process that reads it.
    other = ExcludingManifestStaticFilesStorage(exclude_patterns=[])
    assert other.url("frontend/build/chunks/worker.js") == "/static/frontend/build/chunks/worker.js"


def test_the_static_tag_with_a_storage_that_only_read_the_manifest(root, settings):
    collecting = staticfiles_storage._wrapped
    settings.STORAGES = {**settings.STORAGES}  # setting_changed: a new instance, as in another process
    template = Template("{% load static %}{% static 'frontend/build/app.js' %} {% static 'img/logo.png' %}")
    assert template.render(Context()) == f"/static/frontend/build/app.js /static/{hashed(root, 'img/logo.png')}"
    assert staticfiles_storage._wrapped is not collecting


def test_exclude_patterns_are_required(settings, tmp_path):
    with pytest.raises(ImproperlyConfigured) as error:
        ExcludingManifestStaticFilesStorage()
    assert 'STORAGES["staticfiles"]["OPTIONS"]["exclude_patterns"]' in str(error.value)
    use_storage(settings, tmp_path / "static", None)
    with pytest.raises(ImproperlyConfigured, match="exclude_patterns"):
        storages["staticfiles"]


@pytest.mark.parametrize("patterns", ["*.pdf", ["*.pdf", 3]])
def test_exclude_patterns_must_be_a_list_of_strings(patterns):
    with pytest.raises(ImproperlyConfigured, match="must be a list of fnmatch patterns"):
        ExcludingManifestStaticFilesStorage(exclude_patterns=patterns)


def test_an_empty_list_excludes_nothing(settings, tmp_path):
    static_root = tmp_path / "static"
    use_storage(settings, static_root, {"exclude_patterns": []})
    call_command("collectstatic", interactive=False, verbosity=0)
    paths = manifest(static_root)["paths"]
    assert paths["docs/manual.pdf"] == hashed(static_root, "docs/manual.pdf")
    assert paths["frontend/build/app.js"] == hashed(static_root, "frontend/build/app.js")


@pytest.mark.parametrize(
    ("name", "excluded"),
    [
        ("frontend/build/app.js", True),
        ("frontend/build/chunks/worker.js", True),  # fnmatch's * also matches /
        ("frontend/build/app.js?v=2#main", True),  # as a CSS reference gives it
        ("frontend/app.js", False),
        ("other/frontend/build/app.js", False),  # patterns match the whole relative path
        ("docs/manual.pdf", True),
        ("manual.pdf", True),
        ("manual.PDF", False),  # case-sensitive on every OS, as staticfiles' ignore patterns
        ("manual.pdf.js", False),
    ],
)
def test_patterns_match_the_collected_relative_path(tmp_path, name, excluded):
    storage = ExcludingManifestStaticFilesStorage(exclude_patterns=PATTERNS, location=str(tmp_path))
    assert storage.is_excluded(name) is excluded


def test_deconstruct():
    storage = ExcludingManifestStaticFilesStorage(exclude_patterns=PATTERNS, location="/srv/static")
    assert storage.deconstruct() == (BACKEND, (), {"exclude_patterns": PATTERNS, "location": "/srv/static"})
