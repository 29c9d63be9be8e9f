"""The whole flow over real HTTP, against pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.core.files.storage import default_storage
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client, RequestFactory
from django.urls import reverse

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from tests.conftest import ALL_PERMS, field_id
from tests.testapp.models import Document

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ATTACHMENT = field_id(Document, "attachment")
MB = 1024 * 1024
TIMEOUT = 30


def media_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


class Browser:
    """A logged-in ``requests`` session that talks to the live server like a browser would."""

    def __init__(self, base: str, user):
        self.base = base
        self.user = user
        django_client = Client()
        django_client.force_login(user)
        self.session = requests.Session()
        self.session.cookies.set("sessionid", django_client.cookies["sessionid"].value)
        self.csrf = _get_new_csrf_string()
        self.session.cookies.set("csrftoken", self.csrf)

    def issue(self, filename: str, **extra) -> dict:
        response = self.session.post(
            self.base + reverse("async_uploads:generate-upload-url"),
            json={"field_id": ATTACHMENT, "filename": filename, **extra},
            headers={"X-CSRFToken": self.csrf, "Origin": self.base, "Referer": self.base + "/"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def browser(live_server, make_user) -> Browser:
    return Browser(live_server.url, make_user(*ALL_PERMS))


def save_document(user, key: str, name: str) -> Document:
    req = RequestFactory().post("/")
    req.user = user
    doc = Document(title="live")
    doc.attachment = AsyncFileInputData.create_from_user_input({"key": key, "name": name}, request=req)
    doc.save()  # autocommit: the move runs on commit, right here
    doc.refresh_from_db()
    return doc


def test_full_flow_over_http(browser, settings):
    content = b"%PDF-1.4 over the wire\n" + os.urandom(2048)
    issued = browser.issue("report.pdf", content_type="application/pdf", size=len(content))
    upload = issued["uploadUrl"]
    assert upload["method"] == "POST" and upload["provider"] == "filesystem"

    # The upload URL carries its own authority: a bare session without cookies can use it.
    response = requests.post(
        browser.base + upload["url"],
        files={upload["fileFieldName"]: ("report.pdf", content, "application/pdf")},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"key": issued["key"], "size": len(content)}
    assert default_storage.open(issued["key"]).read() == content

    doc = save_document(browser.user, issued["key"], "report.pdf")
    assert doc.attachment.name == f"documents/{doc.pk}/report.pdf"

    download = browser.session.get(browser.base + doc.attachment.url, allow_redirects=True, timeout=TIMEOUT)
    assert download.status_code == 200
    assert [r.status_code for r in download.history] == [302]
    assert "no-store" in download.history[0].headers["Cache-Control"]
    assert download.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert download.content == content

    # Without a session the redirect view refuses.
    anonymous = requests.get(browser.base + doc.attachment.url, allow_redirects=False, timeout=TIMEOUT)
    assert anonymous.status_code == 403
    assert anonymous.json()["code"] == "permission_denied"


def test_generate_without_csrf_token_is_refused(browser):
    response = browser.session.post(
        browser.base + reverse("async_uploads:generate-upload-url"),
        json={"field_id": ATTACHMENT, "filename": "report.pdf"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    assert not AsyncTempFile.objects.exists()


def test_second_upload_over_http_is_refused(browser):
    issued = browser.issue("report.pdf")
    url = browser.base + issued["uploadUrl"]["url"]
    first = requests.post(url, files={"file": ("report.pdf", b"%PDF one", "application/pdf")}, timeout=TIMEOUT)
    assert first.status_code == 201, first.text
    second = requests.post(url, files={"file": ("report.pdf", b"%PDF two", "application/pdf")}, timeout=TIMEOUT)
    assert second.status_code == 409
    assert second.json()["code"] == "upload_url_used"
    assert default_storage.open(issued["key"]).read() == b"%PDF one"


def _multipart(boundary: str, filename: str, content_type: str) -> tuple[bytes, bytes]:
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail


def test_large_streamed_upload_under_the_limit(browser, settings):
    content = os.urandom(900 * 1024)
    issued = browser.issue("big.pdf", size=len(content))
    boundary = "asyncuploadsBoundary900k"
    head, tail = _multipart(boundary, "big.pdf", "application/pdf")

    class Body:
        """A file-like body read in small blocks (with a known length, so Content-Length is sent)."""

        def __init__(self, data: bytes):
            self.data = data
            self.pos = 0

        def __len__(self) -> int:
            return len(self.data) - self.pos

        def read(self, n: int = -1) -> bytes:
            n = 8192 if n is None or n < 0 or n > 8192 else n
            chunk = self.data[self.pos : self.pos + n]
            self.pos += len(chunk)
            return chunk

    body = head + content + tail
    response = requests.post(
        browser.base + issued["uploadUrl"]["url"],
        data=Body(body),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(body))},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(content)
    assert default_storage.open(issued["key"]).read() == content
    assert media_files(settings) == [issued["key"]]


def test_oversize_upload_with_content_length_is_refused(browser, settings):
    issued = browser.issue("big.pdf")
    response = requests.post(
        browser.base + issued["uploadUrl"]["url"],
        files={"file": ("big.pdf", b"x" * (3 * MB), "application/pdf")},
        timeout=TIMEOUT,
    )
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "file_too_large"
    assert not default_storage.exists(issued["key"])
    assert media_files(settings) == []


def test_chunked_upload_without_length_is_refused_and_the_url_stays_usable(browser, settings):
    # Under WSGI a body without Content-Length reads as empty, so the view asks for a length (411).
    issued = browser.issue("big.pdf")
    boundary = "asyncuploadsBoundaryChunked"
    head, tail = _multipart(boundary, "big.pdf", "application/pdf")

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(3 * 16):  # 3 MB in 64 KB blocks
            yield b"x" * (64 * 1024)
        yield tail

    response = requests.post(
        browser.base + issued["uploadUrl"]["url"],
        data=body(),  # a generator: requests sends Transfer-Encoding: chunked, no Content-Length
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=TIMEOUT,
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert not default_storage.exists(issued["key"])
    assert media_files(settings) == []
    assert response.status_code == 411, (response.status_code, response.text[:300])
    assert response.json()["code"] == "length_required"
    retry = requests.post(
        browser.base + issued["uploadUrl"]["url"],
        files={"file": ("big.pdf", b"%PDF small", "application/pdf")},
        timeout=TIMEOUT,
    )
    assert retry.status_code == 201, retry.text
    assert default_storage.open(issued["key"]).read() == b"%PDF small"
