"""Bypasses of the acceptance and download rules, each driven over real HTTP / real storage (moto's
S3 server, Azurite, the filesystem views): content types browsers read as HTML, sizes that differ
from the declared one, cleanup claiming re-uploaded bytes, a refused save leaving a row, and the
error codes each surface answers."""

from __future__ import annotations

import io
import json
import struct
import uuid
import zlib
from typing import Any

import pytest
import requests
from django.core.exceptions import ValidationError
from django.urls import reverse
from PIL import Image

from async_uploads.inputs import AsyncFileInputData
from tests.cloudapp.models import AzureDoc, AzureImage, S3Doc, S3Image, azure_storage, cloud_registry, s3_storage
from tests.conftest import request_for

SCRIPT = b"<script>document.title='PWNED'</script>"


def png_with_text(extra: bytes) -> bytes:
    """A valid 3x2 PNG with ``extra`` in a tEXt chunk (any browser parsing it as HTML runs it)."""
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), (1, 2, 3)).save(buf, format="PNG")
    data = buf.getvalue()
    body = b"Comment\x00" + extra
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return data[:33] + chunk + data[33:]  # after the IHDR chunk (8 + 25 bytes)


class Cloud:
    """One cloud backend (moto's S3 server or Azurite) behind the cloud_registry's REST views."""

    def __init__(self, name: str, doc: Any, image: Any, storage: Any, client: Any):
        self.name, self.doc, self.image, self.storage, self.client = name, doc, image, storage, client

    def field(self, model: Any) -> Any:
        return model._meta.get_field("image" if model is self.image else "file")

    def request_url(self, model: Any, filename: str, **extra: Any):
        data = {"field_id": cloud_registry.generate_id(self.field(model)), "filename": filename, **extra}
        return self.client.post(
            reverse(f"{cloud_registry.url_namespace}:generate-upload-url"),
            data=json.dumps(data),
            content_type="application/json",
        )

    def send(self, issued: dict[str, Any], body: bytes, filename: str, content_type: str, **headers: str) -> int:
        target = issued["uploadUrl"]
        if target["provider"] == "s3":
            r = requests.post(
                target["url"], data=target["fields"], files={"file": (filename, body, content_type)}, timeout=30
            )
        else:
            r = requests.put(target["url"], data=body, headers={**target["headers"], **headers}, timeout=30)
        return r.status_code


@pytest.fixture(params=["s3", "azure"])
def cloud(request, user, client_for) -> Cloud:
    client = client_for(user)
    if request.param == "s3":
        request.getfixturevalue("s3_server")
        return Cloud("s3", S3Doc, S3Image, s3_storage, client)
    request.getfixturevalue("azurite")
    return Cloud("azure", AzureDoc, AzureImage, azure_storage, client)


def issue_filesystem_upload(client: Any, filename: str) -> dict[str, Any]:
    """Ask the cloud registry's REST view for an upload URL of the filesystem-backed ``FsDoc.file``."""
    from tests.cloudapp.models import FsDoc

    field = FsDoc._meta.get_field("file")
    return client.post(
        reverse(f"{cloud_registry.url_namespace}:generate-upload-url"),
        data=json.dumps({"field_id": cloud_registry.generate_id(field), "filename": filename}),
        content_type="application/json",
    ).json()


def unique(ext: str) -> str:
    return f"{uuid.uuid4().hex[:10]}{ext}"


# ---------------------------------------------------------------------------
# A declared content type that is a comma-separated list ("image/png,text/html") passes the active-type
# rule (mime_base keeps the whole string, which is no active type), is bound into the S3 policy /
# sent as x-ms-blob-content-type, stored, and served as the object's Content-Type. Browsers take the
# last type of such a list (Fetch "extract a MIME type"): the PNG is rendered as an HTML page, inline.


@pytest.mark.django_db(transaction=True)
def test_a_comma_list_content_type_never_serves_active_content_inline(cloud, user, monkeypatch):
    field = cloud.field(cloud.image)
    monkeypatch.setattr(field, "_download_params", {"as_attachment": False})  # image previews inline
    filename = unique(".png")
    ctype = "image/png,text/html"
    response = cloud.request_url(cloud.image, filename, content_type=ctype)
    if response.status_code == 400:
        # Refused when the URL is asked for: a list is no MIME type (a browser reads its last member).
        assert response.json()["code"] == "invalid_input"
        return
    issued = response.json()
    body = png_with_text(SCRIPT)
    assert cloud.send(issued, body, filename, ctype) in (201, 204)
    obj = cloud.image()
    obj.image = AsyncFileInputData(issued["key"], filename, request=request_for(user))
    obj.save()
    obj.refresh_from_db()
    url = cloud.storage.generate_download_url(obj.image.name, "x", as_attachment=False)
    served = requests.get(url, timeout=10)
    assert served.status_code == 200
    disposition = served.headers.get("Content-Disposition", "")
    # Served as a list whose last member is text/html: it must be an attachment.
    assert "text/html" not in served.headers["Content-Type"] or disposition.startswith("attachment"), (
        served.headers["Content-Type"],
        disposition,
    )


# A declared type that is no active type but makes browsers sniff ("unknown/unknown",
# "application/unknown", "*/*") passes an extension rule (".txt" binds no type), is stored and served;
# the body opens with "<b " (an HTML tag the WHATWG sniffer knows, not in sniffing._HTML_STARTS), so
# verification reads it as text/plain and must_download_as_attachment sees nothing active: Chromium
# sniffs the response as text/html and runs the script, inline.
SNIFFED_HTML = b"<b onmouseover=alert(1)>hello</b>" + SCRIPT


@pytest.mark.django_db(transaction=True)
def test_a_sniffable_declared_type_never_serves_html_inline(cloud, user, monkeypatch):
    field = cloud.field(cloud.doc)
    monkeypatch.setattr(field, "_download_params", {"as_attachment": False})
    filename = unique(".txt")
    ctype = "unknown/unknown"
    response = cloud.request_url(cloud.doc, filename, content_type=ctype)
    assert response.status_code == 200, response.content  # accepted: ".txt" binds no type
    issued = response.json()
    assert cloud.send(issued, SNIFFED_HTML, filename, ctype) in (201, 204)
    obj = cloud.doc()
    try:
        obj.file = AsyncFileInputData(issued["key"], filename, request=request_for(user))
    except ValidationError:
        return  # fixed at verification: the content is HTML
    obj.save()
    obj.refresh_from_db()
    served = requests.get(cloud.storage.generate_download_url(obj.file.name, "x", as_attachment=False), timeout=10)
    assert served.status_code == 200 and served.content == SNIFFED_HTML
    # Chromium renders this response as text/html (a sniffable type, a body its sniffer calls HTML).
    assert served.headers.get("Content-Disposition", "").startswith("attachment"), (
        served.headers["Content-Type"],
        served.headers.get("Content-Disposition"),
    )


def test_chromium_renders_such_responses_as_html(browser):
    """The browser half of F1 / F1b, against a plain server sending the headers moto / Azurite sent."""
    import http.server
    import threading

    bodies = {"/comma": ("image/png,text/html", png_with_text(SCRIPT)), "/sniff": ("unknown/unknown", SNIFFED_HTML)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ctype, body = bodies.get(self.path, ("text/plain", b""))
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Disposition", 'inline; filename="x.png"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        for path in bodies:
            page.goto(f"http://127.0.0.1:{server.server_port}{path}")
            # This is a fact about the browser, which the package must assume: it passes today.
            assert page.evaluate("document.contentType") == "text/html"
            assert page.title() == "PWNED"
        page.close()
    finally:
        server.shutdown()


# ---------------------------------------------------------------------------
# The declared size is enforced by the filesystem upload view (400 "bytes arrived but ... declared")
# and, on real S3, by the policy's content-length-range [size, size]; verify_upload never compares
# the object with it. Azure SAS cannot bind a length, and moto enforces no policy: a client declares
# size=10 (so MAX_PENDING_BYTES counts 10 bytes), uploads ~900 KB, and the key is accepted.

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@pytest.mark.django_db(transaction=True)
def test_the_declared_size_is_verified_so_the_byte_quota_holds(cloud, user, settings):
    settings.ASYNC_UPLOADS = {"MAX_PENDING_BYTES": 1000}
    big = PDF + b"x" * (900 * 1024)  # under the field's max_size (1 MB), far over the quota
    keys = []
    for _ in range(3):
        filename = unique(".pdf")
        response = cloud.request_url(cloud.doc, filename, content_type="application/pdf", size=10)
        assert response.status_code == 200, response.content  # each counts as 10 bytes
        issued = response.json()
        assert cloud.send(issued, big, filename, "application/pdf") in (201, 204)
        keys.append((issued["key"], filename))
    stored = sum(cloud.storage.size(k) for k, _ in keys)
    assert stored > 2_700_000  # the uploader parked ~2.7 MB against a 1000-byte quota
    key, filename = keys[0]
    obj = cloud.doc()
    with pytest.raises(ValidationError):  # 921 KB arrived where 10 bytes were declared
        obj.file = AsyncFileInputData(key, filename, request=request_for(user))


# ---------------------------------------------------------------------------
# "The codes are one enum; every surface and the docs' table derive from it": nothing imports
# async_uploads.codes. The REST views keep their own status table (views/__init__.py _STATUS), the
# filesystem upload view its own statuses, the DRF fields their own codes and messages. They disagree
# with the enum and the table written from it (docs/errors.md).


@pytest.mark.django_db(transaction=True)
def test_per_request_bound_code_is_the_one_the_error_table_names(settings, gql):
    from async_uploads.codes import ErrorCode
    from tests.test_limits import aliased_request, answers_in_order

    settings.ASYNC_UPLOADS = {"MAX_UPLOAD_URLS_PER_REQUEST": 1}
    answers = answers_in_order(gql.execute(aliased_request(batches=0, batch_size=0, singles=2)).data)
    code = answers[1]["messages"][0]["code"]
    # docs/errors.md is written from the enum: the code answered is the one whose entry names the bound.
    assert "MAX_UPLOAD_URLS_PER_REQUEST" in ErrorCode(code).meaning, code


@pytest.mark.django_db(transaction=True)
def test_filesystem_upload_view_status_is_the_documented_one(user, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from async_uploads.codes import ErrorCode

    client = client_for(user)
    issued = issue_filesystem_upload(client, "a.pdf")
    response = client.post(
        issued["uploadUrl"]["url"], {"file": SimpleUploadedFile("a.exe", b"MZ\x90\x00", "application/x-msdownload")}
    )
    assert response.json()["code"] == "invalid_file_type"
    # The one status that differs from the code's own is documented in its entry (docs/errors.md).
    assert response.status_code == 415
    assert ErrorCode.INVALID_FILE_TYPE.status == 400 and "415" in ErrorCode.INVALID_FILE_TYPE.meaning


# ---------------------------------------------------------------------------
# A key accepted through the descriptor (verified, version recorded on the in-memory row) but saved
# without post_save (bulk_create; likewise a crash between the INSERT and the claim in autocommit)
# is later claimed by cleanup_async_temp_files through recovery.claim_for_holder, which stores no
# verified_version: complete_move then copies whatever is at the key, unbound. On S3 the presigned
# POST is reusable for UPLOAD_URL_EXPIRY, so the uploader replaces the verified PDF with HTML, and
# the cleanup moves the HTML into the record.


@pytest.mark.django_db(transaction=True)
def test_cleanup_never_moves_an_unverified_replacement_for_a_bulk_created_record(s3_server, user, client_for):
    from io import StringIO

    from django.core.management import call_command

    cloud = Cloud("s3", S3Doc, S3Image, s3_storage, client_for(user))
    filename = unique(".pdf")
    issued = cloud.request_url(cloud.doc, filename).json()
    assert cloud.send(issued, PDF, filename, "application/pdf") == 204
    key = issued["key"]
    doc = S3Doc(file=AsyncFileInputData(key, filename, request=request_for(user)))  # verified here
    S3Doc.objects.bulk_create([doc])
    evil = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
    assert cloud.send(issued, evil, filename, "text/html") == 204  # the same POST again
    call_command("cleanup_async_temp_files", "--age", "0", stdout=StringIO(), stderr=StringIO())
    record = S3Doc.objects.get()
    name = record.file.name
    assert not (name and s3_storage.exists(name) and s3_storage.open(name).read() == evil), (
        f"the record now holds {name!r}: the HTML uploaded after verification, moved by the cleanup"
    )


# ---------------------------------------------------------------------------
# A double submission of one create form in autocommit (a plain view, no ATOMIC_REQUESTS): both
# requests validate the unclaimed key, the first saves and claims it, the second's INSERT commits
# before its claim loses. _reject_lost_claims (moves.py) then blanks the file and raises, but the
# second record stays: the refusal wrote a row (a Document without its file).


@pytest.mark.django_db(transaction=True)
def test_a_lost_claim_in_autocommit_leaves_no_refused_record(user, client_for):
    from tests.cloudapp.models import FsDoc

    client = client_for(user)
    issued = issue_filesystem_upload(client, "a.pdf")
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert (
        client.post(
            issued["uploadUrl"]["url"], {"file": SimpleUploadedFile("a.pdf", PDF, "application/pdf")}
        ).status_code
        == 201
    )
    key = issued["key"]
    first, second = FsDoc(), FsDoc()
    first.file = AsyncFileInputData(key, "a.pdf", request=request_for(user))  # request 1 validates
    second.file = AsyncFileInputData(key, "a.pdf", request=request_for(user))  # request 2 validates
    first.save()
    with pytest.raises(ValidationError):
        second.save()  # the refusal
    assert FsDoc.objects.count() == 1, list(FsDoc.objects.values_list("pk", "file"))
