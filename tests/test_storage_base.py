import datetime
import re

import pytest
from django.core.exceptions import SuspiciousFileOperation

from async_uploads.names import is_clean_key, safe_basename
from async_uploads.storage.base import AsyncUploadStorage
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage


class Bare(AsyncUploadStorage):
    pass


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("generate_upload_url", ("k", "f")),
        ("sign_upload", (None,)),
        ("generate_download_url", ("k", "f")),
        ("copy_file", ("a", "b")),
    ],
)
def test_missing_hooks_fail_by_name(method, args):
    with pytest.raises(NotImplementedError, match=f"subclasses of AsyncUploadStorage must provide a {method}"):
        getattr(Bare(), method)(*args)


def test_move_without_copy_or_move_fails_by_name():
    with pytest.raises(NotImplementedError, match="move_file\\(\\) or a copy_file\\(\\)"):
        Bare().move_file("a", "b")


def test_temporary_path_shape():
    key = Bare().generate_temporary_path("test.png")
    today = datetime.date.today().strftime("%Y/%m/%d")
    assert re.fullmatch(rf"async-temp-files/{today}/[A-Za-z0-9]{{12}}-test\.png", key)
    assert Bare().generate_temporary_path("test.png") != key


def test_temporary_path_truncates_the_name_but_keeps_the_extension():
    storage = Bare()
    prefix_len = len("async-temp-files/2021/03/03/fVy5cSVBQpOb-")
    key = storage.generate_temporary_path("a" * 100 + ".png", max_length=prefix_len + 10)
    assert len(key) == prefix_len + 10
    assert key.endswith("-aaaaaa.png")


def test_temporary_path_exactly_fitting_keeps_only_the_extension():
    prefix_len = len("async-temp-files/2021/03/03/fVy5cSVBQpOb-")
    key = Bare().generate_temporary_path("name.png", max_length=prefix_len + 4)
    assert key.endswith("-.png")


def test_temporary_path_without_room_for_prefix_and_extension_raises():
    prefix_len = len("async-temp-files/2021/03/03/fVy5cSVBQpOb-")
    with pytest.raises(SuspiciousFileOperation, match="raise the field's max_length"):
        Bare().generate_temporary_path("name.png", max_length=prefix_len + 3)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\x.pdf", "x.pdf"),
        ("/abs/path/x.pdf", "x.pdf"),
        ("my report (final).pdf", "my_report_final.pdf"),
        ("..", "file"),
        ("", "file"),
    ],
)
def test_filenames_lose_directories_and_unsafe_characters(filename, expected):
    assert safe_basename(filename) == expected
    key = Bare().generate_temporary_path(filename)
    assert key.endswith("-" + expected)
    assert is_clean_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "async-temp-files/../x",
        "async-temp-files/a/../../x",
        "/async-temp-files/x",
        "async-temp-files//x",
        "async-temp-files/x%2F..",
        "async-temp-files\\x",
        " async-temp-files/x",
        "async-temp-files/x\x00",
        "",
    ],
)
def test_keys_with_path_tricks_are_not_temporary_paths(key):
    assert not Bare().is_temporary_path(key)


def test_is_temporary_path():
    storage = Bare()
    assert storage.is_temporary_path("async-temp-files/2024/01/01/abc-x.png")
    assert not storage.is_temporary_path("async-temp-filesx/2024/x.png")
    assert not storage.is_temporary_path("documents/1/x.png")
    assert not storage.is_temporary_path(None)


def test_filesystem_storage_deconstructs_to_its_own_path():
    path, args, kwargs = FileSystemAsyncUploadStorage(location="/tmp/x", base_url="/m/").deconstruct()
    assert path == "async_uploads.storage.filesystem.FileSystemAsyncUploadStorage"
    assert args == ()
    assert kwargs == {"location": "/tmp/x", "base_url": "/m/"}


def test_copy_file_never_overwrites(tmp_path):
    storage = FileSystemAsyncUploadStorage(location=str(tmp_path))
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "b.txt").write_bytes(b"b")
    with pytest.raises(FileExistsError):
        storage.copy_file("a.txt", "b.txt")
    assert (tmp_path / "b.txt").read_bytes() == b"b"
    storage.copy_file("a.txt", "sub/dir/c.txt")
    assert (tmp_path / "sub/dir/c.txt").read_bytes() == b"a"
    assert (tmp_path / "a.txt").exists()
    storage.move_file("a.txt", "moved/a.txt")
    assert not (tmp_path / "a.txt").exists()
    assert (tmp_path / "moved/a.txt").read_bytes() == b"a"


# --------------------------------------------------------------------------- the typed contract


def test_upload_request_from_the_alliance_platform_storage_keywords():
    from async_uploads.storage.base import UploadRequest

    request = UploadRequest.from_kwargs(
        "async-temp-files/a.pdf", "app.Model.file", content_type="application/pdf", size=3, max_size=10, expire=60
    )
    assert (request.key, request.field_id, request.content_type, request.size, request.max_size) == (
        "async-temp-files/a.pdf",
        "app.Model.file",
        "application/pdf",
        3,
        10,
    )
    assert request.expires_in == 60
    assert request.as_kwargs() == {
        "registry": None,
        "fields": {},
        "content_type": "application/pdf",
        "size": 3,
        "max_size": 10,
        "expire": 60,
    }
    with pytest.raises(AttributeError):
        request.size = 4  # type: ignore[misc]


def test_upload_request_expiry_defaults_to_the_setting_at_call_time(settings):
    from async_uploads.storage.base import UploadRequest

    settings.ASYNC_UPLOADS = {"UPLOAD_URL_EXPIRY": 42}
    assert UploadRequest("k", "f").expires_in == 42


def test_backends_declare_their_capabilities():
    from async_uploads.storage.azure import AzureAsyncUploadStorage
    from async_uploads.storage.base import Capabilities
    from async_uploads.storage.memory import InMemoryAsyncUploadStorage
    from async_uploads.storage.s3 import S3AsyncUploadStorage

    assert Bare.capabilities == Capabilities()
    for cls in (S3AsyncUploadStorage, AzureAsyncUploadStorage, FileSystemAsyncUploadStorage):
        assert cls.capabilities.multipart and cls.capabilities.server_side_copy
    assert S3AsyncUploadStorage.capabilities.cors and AzureAsyncUploadStorage.capabilities.cors
    assert not FileSystemAsyncUploadStorage.capabilities.cors
    assert InMemoryAsyncUploadStorage.capabilities == Capabilities()
    assert InMemoryAsyncUploadStorage().supports_copy(), "copy_file without a declaration still counts"
    assert not Bare().supports_copy()


def test_the_base_never_overwrites_when_naming(tmp_path):
    class Named(FileSystemAsyncUploadStorage):
        get_available_name = AsyncUploadStorage.get_available_name

    storage = Named(location=str(tmp_path))
    (tmp_path / "a.txt").write_bytes(b"x")
    name = storage.get_available_name("a.txt")
    assert name != "a.txt" and name.startswith("a_") and name.endswith(".txt")


class LegacyStorage(FileSystemAsyncUploadStorage):
    """A backend written against alliance-platform-storage: only ``generate_upload_url(name, field_id, **kwargs)``."""

    seen: list = []

    sign_upload = AsyncUploadStorage.sign_upload

    def generate_upload_url(self, name, field_id, *args, **kwargs):
        self.seen.append((name, field_id, kwargs))
        return f"https://legacy.example/{name}"


def test_a_backend_with_only_the_alliance_platform_storage_method_is_called_with_its_keywords():
    from async_uploads.storage.base import UploadRequest

    storage = LegacyStorage()
    LegacyStorage.seen = []
    upload = storage.sign_upload(UploadRequest("async-temp-files/x.pdf", "app.M.f", size=5, content_md5="abc"))
    assert upload == {"url": "https://legacy.example/async-temp-files/x.pdf", "fields": {}}
    ((name, fid, kwargs),) = LegacyStorage.seen
    assert (name, fid) == ("async-temp-files/x.pdf", "app.M.f")
    assert kwargs == {
        "registry": None,
        "fields": {},
        "content_type": None,
        "size": 5,
        "max_size": None,
        "content_md5": "abc",
    }


def test_content_disposition_is_an_attachment_for_active_content(tmp_path):
    storage = FileSystemAsyncUploadStorage(location=str(tmp_path))
    (tmp_path / "page.html").write_bytes(b"<!DOCTYPE html><html></html>")
    (tmp_path / "doc.txt").write_bytes(b"hello")
    assert storage.content_disposition("doc.txt", as_attachment=False).startswith("inline")
    assert storage.content_disposition("page.html", as_attachment=False).startswith("attachment")
    assert storage.content_disposition("doc.txt", filename="r.txt") == 'attachment; filename="r.txt"'
    assert storage.content_disposition("doc.txt", requested="inline") == "inline"
