"""The filesystem storage's own upload and download endpoints.

Every refused upload also checks that nothing was written: no object at the key, no
``.part`` leftover anywhere under MEDIA_ROOT, and (where it matters) the URL still usable.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from tests.conftest import field_id, png_bytes
from tests.testapp.models import Document, Photo

pytestmark = pytest.mark.django_db

ATTACHMENT = field_id(Document, "attachment")
PHOTO = field_id(Photo, "image")
EXTRA = field_id(Document, "extra")
MB = 1024 * 1024
UPLOAD_URL = "async_uploads:filesystem-upload"
DOWNLOAD_URL = "async_uploads:filesystem-download"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def media_files(settings) -> list[str]:
    """Every file under MEDIA_ROOT, relative, sorted (the autouse fixture makes MEDIA_ROOT per test)."""
    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def part_files(settings) -> list[str]:
    return [f for f in media_files(settings) if f.endswith(".part") or os.path.basename(f).startswith(".upload-")]


@pytest.fixture
def browser() -> Client:
    """A client with no session: the signed URL alone must authorise the upload.

    Server errors come back as 500 responses instead of exceptions, so a failing test shows the
    status the user would have seen.
    """
    return Client(raise_request_exception=False)


def send(client: Client, url: str, content: bytes, filename: str, content_type: str, part: str = "file"):
    return client.post(url, data={part: SimpleUploadedFile(filename, content, content_type=content_type)})


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    if code is not None:
        assert response.json()["code"] == code, response.content


def assert_nothing_stored(settings, key: str) -> None:
    assert not default_storage.exists(key)
    assert not os.path.exists(os.path.join(settings.MEDIA_ROOT, key))
    assert part_files(settings) == []
    assert media_files(settings) == []


def with_token(url_name: str, token: str | None) -> str:
    base = reverse(url_name)
    return base if token is None else base + "?" + urlencode({"token": token})


def advance(monkeypatch, delta: datetime.timedelta) -> None:
    """Move the clock the upload and download views read forward by ``delta``."""
    real_now = timezone.now()
    monkeypatch.setattr("async_uploads.views.filesystem.timezone.now", lambda: real_now + delta)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def save_document(user, key: str, name: str) -> Document:
    """Create a Document holding the uploaded ``key``, and run the move to its permanent name."""
    req = RequestFactory().post("/")
    req.user = user
    doc = Document(title="t")
    doc.attachment = AsyncFileInputData.create_from_user_input({"key": key, "name": name}, request=req)
    doc.save()
    return doc


# --------------------------------------------------------------------------------------------
# Successful upload
# --------------------------------------------------------------------------------------------


def test_upload_stores_bytes_at_key(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf", content_type="application/pdf")
    key = issued["key"]
    response = send(browser, issued["uploadUrl"]["url"], b"%PDF-1.4 hello", "report.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    assert response.json() == {"key": key, "size": len(b"%PDF-1.4 hello")}
    with default_storage.open(key) as fh:
        assert fh.read() == b"%PDF-1.4 hello"
    assert media_files(settings) == [key]  # no .part leftovers beside it


def test_upload_sets_uploaded_at(uploader, browser):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    row = AsyncTempFile.objects.get(key=issued["key"])
    assert row.uploaded_at is None
    before = timezone.now()
    response = send(browser, issued["uploadUrl"]["url"], b"abc", "report.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    row.refresh_from_db()
    assert row.uploaded_at is not None
    assert before <= row.uploaded_at <= timezone.now()


def test_upload_of_empty_file(uploader, browser):
    issued = uploader.issue(ATTACHMENT, "empty.txt")
    response = send(browser, issued["uploadUrl"]["url"], b"", "empty.txt", "text/plain")
    assert response.status_code == 201, response.content
    assert response.json() == {"key": issued["key"], "size": 0}
    assert default_storage.open(issued["key"]).read() == b""


def test_upload_with_matching_declared_size(uploader, browser):
    issued = uploader.issue(ATTACHMENT, "report.pdf", size=10)
    response = send(browser, issued["uploadUrl"]["url"], b"0123456789", "report.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    assert default_storage.open(issued["key"]).read() == b"0123456789"


def test_image_upload(uploader, browser):
    data = png_bytes()
    issued = uploader.issue(PHOTO, "p.png", content_type="image/png")
    response = send(browser, issued["uploadUrl"]["url"], data, "p.png", "image/png")
    assert response.status_code == 201, response.content
    assert default_storage.open(issued["key"]).read() == data


def test_upload_binary_content_is_kept_exactly(uploader, browser):
    data = bytes(range(256)) * 300 + b"\r\n--boundary-lookalike\r\n" + bytes(range(256))
    issued = uploader.issue(EXTRA, "blob.bin")
    response = send(browser, issued["uploadUrl"]["url"], data, "blob.bin", "application/octet-stream")
    assert response.status_code == 201, response.content
    assert default_storage.open(issued["key"]).read() == data


def test_upload_ignores_plain_form_fields_beside_the_file(uploader, browser):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    response = browser.post(
        issued["uploadUrl"]["url"],
        data={"note": "hello", "file": SimpleUploadedFile("report.pdf", b"pdf!", content_type="application/pdf")},
    )
    assert response.status_code == 201, response.content
    assert default_storage.open(issued["key"]).read() == b"pdf!"


# --------------------------------------------------------------------------------------------
# Single use
# --------------------------------------------------------------------------------------------


def test_second_upload_to_same_url_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    url = issued["uploadUrl"]["url"]
    assert send(browser, url, b"first", "report.pdf", "application/pdf").status_code == 201
    response = send(browser, url, b"second upload", "report.pdf", "application/pdf")
    assert_error(response, 409, "upload_url_used")
    assert default_storage.open(issued["key"]).read() == b"first"
    assert media_files(settings) == [issued["key"]]


def test_failed_upload_does_not_burn_the_url_size_mismatch(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf", size=5)
    url = issued["uploadUrl"]["url"]
    refused = send(browser, url, b"123456", "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(refused, 400, "invalid_input")
    response = send(browser, url, b"12345", "report.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    assert default_storage.open(issued["key"]).read() == b"12345"


def test_failed_upload_does_not_burn_the_url_wrong_type(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "a.pdf")
    url = issued["uploadUrl"]["url"]
    refused = send(browser, url, b"MZ...", "a.exe", "application/x-msdownload")
    assert_nothing_stored(settings, issued["key"])
    assert_error(refused, 415, "invalid_file_type")
    response = send(browser, url, b"%PDF", "a.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    assert default_storage.open(issued["key"]).read() == b"%PDF"


# --------------------------------------------------------------------------------------------
# Size limits
# --------------------------------------------------------------------------------------------


def test_upload_one_byte_over_max_size_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "big.pdf")
    response = send(browser, issued["uploadUrl"]["url"], b"x" * (MB + 1), "big.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 413, "file_too_large")
    assert AsyncTempFile.objects.get(key=issued["key"]).uploaded_at is None


def test_upload_far_over_max_size_is_refused_from_content_length(uploader, browser, settings):
    # A truthful Content-Length beyond max_size + multipart overhead is refused before reading the body.
    issued = uploader.issue(ATTACHMENT, "big.pdf")
    response = send(browser, issued["uploadUrl"]["url"], b"x" * (2 * MB), "big.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 413, "file_too_large")
    # The refusal did not use up the URL.
    ok = send(browser, issued["uploadUrl"]["url"], b"%PDF small", "big.pdf", "application/pdf")
    assert ok.status_code == 201, ok.content


def test_upload_exactly_at_max_size_is_accepted(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "big.pdf")
    response = send(browser, issued["uploadUrl"]["url"], b"y" * MB, "big.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    assert response.json()["size"] == MB
    assert default_storage.size(issued["key"]) == MB
    assert part_files(settings) == []


def test_declared_size_mismatch_larger(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf", size=10)
    response = send(browser, issued["uploadUrl"]["url"], b"x" * 11, "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 400, "invalid_input")


def test_declared_size_mismatch_smaller(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf", size=10)
    response = send(browser, issued["uploadUrl"]["url"], b"x" * 9, "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 400, "invalid_input")


# --------------------------------------------------------------------------------------------
# File type restrictions
# --------------------------------------------------------------------------------------------


def test_part_with_forbidden_extension_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "a.pdf", content_type="application/pdf")
    response = send(browser, issued["uploadUrl"]["url"], b"MZ\x90\x00", "a.exe", "application/x-msdownload")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 415, "invalid_file_type")


def test_image_field_part_with_text_content_type_is_refused(uploader, browser, settings):
    issued = uploader.issue(PHOTO, "p.png", content_type="image/png")
    response = send(browser, issued["uploadUrl"]["url"], b"just text", "p.png", "text/plain")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 415, "invalid_file_type")


def test_image_field_part_renamed_to_non_image_is_refused(uploader, browser, settings):
    issued = uploader.issue(PHOTO, "p.png", content_type="image/png")
    response = send(browser, issued["uploadUrl"]["url"], b"<html>", "p.html", "image/png")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 415, "invalid_file_type")


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------


def test_expired_upload_url(uploader, browser, settings, monkeypatch):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    advance(monkeypatch, datetime.timedelta(hours=2))
    response = send(browser, issued["uploadUrl"]["url"], b"%PDF", "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 403, "url_expired")
    assert AsyncTempFile.objects.get(key=issued["key"]).uploaded_at is None


def test_upload_url_still_valid_before_expiry(uploader, browser, monkeypatch):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    advance(monkeypatch, datetime.timedelta(minutes=59))
    response = send(browser, issued["uploadUrl"]["url"], b"%PDF", "report.pdf", "application/pdf")
    assert response.status_code == 201, response.content


def test_short_upload_expiry_setting(uploader, browser, settings, monkeypatch):
    settings.ASYNC_UPLOADS = {"UPLOAD_URL_EXPIRY": 60}
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    advance(monkeypatch, datetime.timedelta(seconds=120))
    response = send(browser, issued["uploadUrl"]["url"], b"%PDF", "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 403, "url_expired")


def _tamper(token: str, index: int) -> str:
    ch = token[index]
    replacement = "A" if ch != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


@pytest.mark.parametrize("where", ["signature", "payload", "timestamp"])
def test_tampered_upload_token(uploader, browser, settings, where):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    token = token_of(issued["uploadUrl"]["url"])
    payload = token.split(":")[0]
    index = {"signature": len(token) - 1, "payload": 3, "timestamp": len(payload) + 1}[where]
    bad = _tamper(token, index)
    assert bad != token
    response = send(browser, with_token(UPLOAD_URL, bad), b"%PDF", "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 403, "invalid_signature")
    assert AsyncTempFile.objects.get(key=issued["key"]).uploaded_at is None


@pytest.mark.parametrize("token", [None, ""], ids=["absent", "empty"])
def test_missing_upload_token(uploader, browser, settings, token):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    response = send(browser, with_token(UPLOAD_URL, token), b"%PDF", "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 400, "invalid_input")


def test_garbage_upload_token(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    response = send(browser, with_token(UPLOAD_URL, "not-a-token"), b"%PDF", "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 403, "invalid_signature")


def test_upload_token_for_deleted_temp_file(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    AsyncTempFile.objects.filter(key=issued["key"]).delete()
    response = send(browser, issued["uploadUrl"]["url"], b"%PDF", "report.pdf", "application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 404, "not_found")


def test_download_token_on_upload_endpoint_does_not_overwrite(
    uploader, browser, user, settings, django_capture_on_commit_callbacks
):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF original", "application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        doc = save_document(user, key, "report.pdf")
    doc.refresh_from_db()
    permanent = doc.attachment.name
    assert permanent == f"documents/{doc.pk}/report.pdf"
    before = media_files(settings)

    download_url = default_storage.generate_download_url(permanent, ATTACHMENT)
    response = send(
        browser, with_token(UPLOAD_URL, token_of(download_url)), b"%PDF attacker", "report.pdf", "application/pdf"
    )
    assert default_storage.open(permanent).read() == b"%PDF original"
    assert media_files(settings) == before
    assert_error(response, 403, "invalid_signature")


def test_upload_token_on_download_endpoint_is_refused(uploader, browser):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    url = issued["uploadUrl"]["url"]
    assert send(browser, url, b"%PDF", "report.pdf", "application/pdf").status_code == 201
    response = browser.get(with_token(DOWNLOAD_URL, token_of(url)))
    assert_error(response, 403, "invalid_signature")


def test_upload_endpoint_refuses_get(uploader, browser):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    assert browser.get(issued["uploadUrl"]["url"]).status_code == 405


# --------------------------------------------------------------------------------------------
# Malformed bodies
# --------------------------------------------------------------------------------------------


def test_non_multipart_body_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    url = issued["uploadUrl"]["url"]
    response = browser.post(url, data=b"%PDF raw body", content_type="application/pdf")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 400, "invalid_input")
    # Not used up.
    assert send(browser, url, b"%PDF", "report.pdf", "application/pdf").status_code == 201


def test_urlencoded_body_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    response = browser.post(
        issued["uploadUrl"]["url"], data="file=abc", content_type="application/x-www-form-urlencoded"
    )
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 400, "invalid_input")


def test_multipart_with_only_text_fields_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    url = issued["uploadUrl"]["url"]
    response = browser.post(url, data={"file": "not a file part", "other": "x"})
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 400, "invalid_input")
    assert send(browser, url, b"%PDF", "report.pdf", "application/pdf").status_code == 201


def test_multipart_with_file_part_under_another_name_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    url = issued["uploadUrl"]["url"]
    response = send(browser, url, b"%PDF", "report.pdf", "application/pdf", part="upload")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 400, "invalid_input")
    assert send(browser, url, b"%PDF", "report.pdf", "application/pdf").status_code == 201


def test_multipart_with_a_second_file_part_keeps_the_first(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    response = browser.post(
        issued["uploadUrl"]["url"],
        data={
            "file": SimpleUploadedFile("report.pdf", b"%PDF one", content_type="application/pdf"),
            "zzz": SimpleUploadedFile("other.pdf", b"%PDF two", content_type="application/pdf"),
        },
    )
    assert response.status_code == 201, response.content
    assert default_storage.open(issued["key"]).read() == b"%PDF one"
    assert media_files(settings) == [issued["key"]]


def test_multipart_without_boundary_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    response = browser.post(issued["uploadUrl"]["url"], data=b"garbage", content_type="multipart/form-data")
    assert_nothing_stored(settings, issued["key"])
    assert_error(response, 400, "invalid_input")
    assert AsyncTempFile.objects.get(key=issued["key"]).uploaded_at is None


def test_truncated_multipart_body_is_refused(uploader, browser, settings):
    issued = uploader.issue(ATTACHMENT, "report.pdf")
    body = (
        b"--BoUnDaRy\r\n"
        b'Content-Disposition: form-data; name="file"; filename="report.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n"
        b"%PDF never finished"
    )
    response = browser.post(
        issued["uploadUrl"]["url"], data=body, content_type="multipart/form-data; boundary=BoUnDaRy"
    )
    assert_nothing_stored(settings, issued["key"])
    assert response.status_code == 400, (response.status_code, response.content[:300])


# --------------------------------------------------------------------------------------------
# Download view
# --------------------------------------------------------------------------------------------


def _read(response) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


def test_download_serves_bytes_as_attachment(uploader, browser, user, django_capture_on_commit_callbacks):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF downloadable", "application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        doc = save_document(user, key, "report.pdf")
    doc.refresh_from_db()
    url = default_storage.generate_download_url(doc.attachment.name, ATTACHMENT)
    assert url.startswith(reverse(DOWNLOAD_URL) + "?token=")
    response = browser.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert _read(response) == b"%PDF downloadable"


def test_download_inline_with_custom_filename(uploader, browser):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF inline", "application/pdf")
    url = default_storage.generate_download_url(key, ATTACHMENT, as_attachment=False, filename="nice name.pdf")
    response = browser.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("inline")
    assert "nice name.pdf" in response["Content-Disposition"]
    # Shown inline on the site's origin, a user's file must not be able to run scripts.
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert _read(response) == b"%PDF inline"


def test_download_needs_no_session(uploader):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF x", "application/pdf")
    url = default_storage.generate_download_url(key, ATTACHMENT)
    response = Client().get(url)
    assert response.status_code == 200
    assert _read(response) == b"%PDF x"


def test_expired_download_url(uploader, browser, monkeypatch):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF x", "application/pdf")
    url = default_storage.generate_download_url(key, ATTACHMENT)
    advance(monkeypatch, datetime.timedelta(hours=2))
    assert_error(browser.get(url), 403, "url_expired")


def test_download_url_valid_before_expiry(uploader, browser, monkeypatch):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF x", "application/pdf")
    url = default_storage.generate_download_url(key, ATTACHMENT)
    advance(monkeypatch, datetime.timedelta(minutes=59))
    response = browser.get(url)
    assert response.status_code == 200
    assert _read(response) == b"%PDF x"


def test_download_of_missing_file(browser):
    url = default_storage.generate_download_url("documents/404/missing.pdf", ATTACHMENT)
    assert_error(browser.get(url), 404, "not_found")


def test_download_of_a_directory_is_not_found(uploader, browser):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF x", "application/pdf")
    directory = key.rsplit("/", 1)[0]
    url = default_storage.generate_download_url(directory, ATTACHMENT)
    assert_error(browser.get(url), 404, "not_found")


def test_download_tampered_token(uploader, browser):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF x", "application/pdf")
    token = token_of(default_storage.generate_download_url(key, ATTACHMENT))
    assert_error(browser.get(with_token(DOWNLOAD_URL, _tamper(token, len(token) - 1))), 403, "invalid_signature")


def test_download_missing_token(browser):
    assert_error(browser.get(reverse(DOWNLOAD_URL)), 400, "invalid_input")


def test_download_refuses_post(uploader, browser):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF x", "application/pdf")
    url = default_storage.generate_download_url(key, ATTACHMENT)
    assert browser.post(url).status_code == 405


# --------------------------------------------------------------------------------------------
# Durability: synced before the 201, written back in the background while it arrives
# --------------------------------------------------------------------------------------------


def _record_syncs(monkeypatch) -> list[tuple[str, str]]:
    """Record fsync / fdatasync (with the file they sync) and the rename into place, in order."""
    events: list[tuple[str, str]] = []
    real = {name: getattr(os, name) for name in ("fsync", "fdatasync", "replace")}

    def syncing(name):
        def call(fd):
            events.append((name, os.readlink(f"/proc/self/fd/{fd}")))
            return real[name](fd)

        return call

    def replace(src, dst):
        events.append(("replace", str(src)))
        return real["replace"](src, dst)

    monkeypatch.setattr(os, "fsync", syncing("fsync"))
    monkeypatch.setattr(os, "fdatasync", syncing("fdatasync"))
    monkeypatch.setattr(os, "replace", replace)
    return events


def _sync_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == "async-uploads-sync"]


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="reads the synced file's name from /proc")
def test_upload_is_written_back_while_it_arrives_and_synced_before_the_201(uploader, browser, settings, monkeypatch):
    from async_uploads.views import filesystem

    monkeypatch.setattr(filesystem, "SYNC_EVERY", 128 * 1024)
    events = _record_syncs(monkeypatch)
    real_request = filesystem._BackgroundSync.request

    def request(self):
        events.append(("write-back asked", ""))
        real_request(self)

    monkeypatch.setattr(filesystem._BackgroundSync, "request", request)
    content = os.urandom(MB)
    issued = uploader.issue(ATTACHMENT, "big.pdf")
    response = send(browser, issued["uploadUrl"]["url"], content, "big.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    with default_storage.open(issued["key"]) as fh:
        assert fh.read() == content
    assert part_files(settings) == []
    kinds = [kind for kind, _ in events]
    # The write-back was asked for while the body arrived (the thread may not have got to it
    # before the end: the final fsync does it then).
    assert kinds[0] == "write-back asked", kinds
    # The last sync is a full fsync of the part file, and it comes before the rename into place.
    part = next(name for kind, name in events if kind == "replace")
    assert events[kinds.index("replace") - 1] == ("fsync", part)
    assert all(name == part for kind, name in events if kind in ("fsync", "fdatasync"))
    assert _sync_threads() == []


def test_upload_refused_mid_stream_stops_the_background_sync_and_stores_nothing(
    uploader, browser, settings, monkeypatch
):
    monkeypatch.setattr("async_uploads.views.filesystem.SYNC_EVERY", 128 * 1024)
    issued = uploader.issue(ATTACHMENT, "big.pdf")
    response = send(browser, issued["uploadUrl"]["url"], b"x" * (MB + 1), "big.pdf", "application/pdf")
    assert_error(response, 413, "file_too_large")
    assert_nothing_stored(settings, issued["key"])
    assert AsyncTempFile.objects.get(key=issued["key"]).uploaded_at is None
    assert _sync_threads() == []
