"""The one file-type rule: issuing, verifying and downloading agree on what a field accepts.

The rule itself (``async_uploads.restrictions``), then the same cases through the REST view, the
GraphQL mutation and verification of a real upload; active content (HTML, SVG, …) refused unless
named exactly and always downloaded as an attachment; and bounded image dimensions. Uploads and
downloads are real HTTP requests to the filesystem views (a live server), moto's S3 server and
Azurite.
"""

from __future__ import annotations

import io
import json
import mimetypes
import uuid
from typing import Any

import pytest
import requests
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from async_uploads.restrictions import content_satisfies, filename_allowed, name_satisfies
from async_uploads.sniffing import sniff
from tests.cloudapp.models import (
    AzureDoc,
    AzureImage,
    FsDoc,
    FsImage,
    S3Doc,
    S3Image,
    azure_storage,
    cloud_registry,
    fs_storage,
    s3_storage,
)
from tests.conftest import Uploader, field_id, png_bytes, request_for
from tests.graphql_client import issue
from tests.testapp.models import Document


def image_bytes(fmt: str, size: tuple[int, int] = (5, 3)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA" if fmt in ("PNG", "WEBP") else "RGB", size, (1, 2, 3)).save(buf, format=fmt)
    return buf.getvalue()


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
SVG_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
HTML_THEN_PDF = b"<!DOCTYPE html><html><body><script>alert(1)</script>" + b" " * 300 + b"\n%PDF-1.7\n%%EOF\n"
POLYGLOT = b"\xef\xbb\xbf" + SVG_SCRIPT + b"\n%PDF-1.7\n1 0 obj << >> endobj\n%%EOF\n"
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"

# --------------------------------------------------------------------------- the rule itself

RULES = [
    # restriction, content, accepted
    (".pdf", b"%PDF-1.4", True),
    (".pdf", b"  \n%PDF-1.4", True),
    (".pdf", b"\xef\xbb\xbf%PDF-1.4", True),
    (".pdf", image_bytes("PNG"), False),
    (".pdf", b"<html><script>x</script>", False),
    (".pdf", HTML_THEN_PDF, False),
    (".pdf", POLYGLOT, False),
    (".pdf", b"plain words", False),
    (".pdf", b"junk before the header %PDF-1.4", False),
    ("application/pdf", b"\x00\x01binary", False),
    (".txt", b"plain words", True),
    (".txt", b"", True),
    (".txt", b"<html>markup in a text file</html>", False),  # HTML is active: .txt does not name it
    (".txt", SVG_SCRIPT, False),
    (".txt", b'<?xml version="1.0"?><note/>', False),
    (".txt", b"%PDF-1.4", False),
    (".txt", b"\x00\x01binary", False),
    ("text/*", HTML, False),
    (".csv", b"a,b\n1,2\n", True),
    (".csv", b"BMW,320i\nMZ,ETZ 250\n", True),
    (".txt", b"MZ is a motorcycle brand", True),
    ("image/*", image_bytes("JPEG"), True),
    ("image/*", b"not an image", False),
    ("image/*", SVG_SCRIPT, False),
    ("image/*", POLYGLOT, False),
    ("image/png", image_bytes("GIF"), False),
    ("image/svg+xml", SVG_SCRIPT, True),
    ("IMAGE/SVG+XML; charset=utf-8", SVG_SCRIPT, True),
    (".svg", POLYGLOT, True),
    (".html", HTML, True),
    ("text/html", SVG_SCRIPT, False),
    (".xml", b'<?xml version="1.0"?><note/>', True),
    (".docx", b"PK\x03\x04word/document.xml", True),
    (".docx", b"%PDF-1.4", False),
    (".doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", True),
    (".json", b'{"a": 1}', True),
    (".zzz-unknown", b"\x00\x01anything", True),
    (".zzz-unknown", b"<!doctype html><script>", False),
    ("*/*", b"\x00\x01anything", True),
    ("*", PDF, True),
    ("*/*", HTML, False),
    ("*", SVG_SCRIPT, False),
    ("*/*", b"MZ\x90\x00", False),
    (".exe", b"MZ\x90\x00", True),
    ("application/octet-stream", b"MZ\x90\x00", False),
    ("application/octet-stream", b"\x00\x01", True),
    ("application/vnd.custom-binary", b"\x00\x01\x02", True),
    # "<!--ftyp" is text, not an MP4 box
    ("video/*", b"<!--ftypisom--><script>alert(1)</script>", False),
    # UTF-16 markup is still markup
    ("image/*", "\ufeff<svg><script>alert(1)</script></svg>".encode("utf-16-le"), False),
]


@pytest.mark.parametrize(("restriction", "content", "accepted"), RULES)
def test_content_satisfies(restriction, content, accepted):
    assert content_satisfies(restriction, sniff(content)) is accepted


def test_name_satisfies_follows_the_field_rule():
    assert name_satisfies(".pdf", "dir/Report.PDF")
    assert name_satisfies("pdf", "report.pdf")
    assert name_satisfies("image/*", "x.png")
    assert not name_satisfies("image/*", "x.pdf")


ACCEPTED = [
    (["*/*"], "report.pdf", "application/pdf"),
    (["*/*"], "archive.zzz", None),
    (["*"], "notes.txt", "text/plain"),
    (["*"], "README", None),
    (["image/*"], "photo.PNG", "image/png"),
    (["IMAGE/*"], "photo.jpg", "IMAGE/JPEG"),
    ([".pdf"], "REPORT.PDF", "application/pdf"),
    (["pdf"], "report.pdf", None),
    (["PDF"], "report.pdf", None),
    ([" .Pdf "], "report.pdf", None),
    (["Application/PDF; charset=binary"], "report.pdf", "application/pdf"),
    (["text/plain"], "notes.txt", "text/plain; charset=UTF-8"),
    (["image/svg+xml"], "drawing.svg", "image/svg+xml"),
    ([".svg"], "drawing.SVG", None),
    (["html"], "page.html", "text/html; charset=utf-8"),
]
REFUSED = [
    (["image/*"], "report.pdf", None),
    (["image/*"], "evil.png", "application/x-msdownload"),
    ([".pdf"], "report.txt", None),
    (["*/*"], "page.html", "text/html"),
    (["*/*"], "drawing.svg", None),
    (["*"], "tool.exe", None),
    (["image/*"], "drawing.svg", "image/svg+xml"),
    (["image/*"], "photo.png", "image/svg+xml"),
    ([".txt"], "notes.txt", "text/html"),
    ([".zzz"], "x.zzz", "text/html"),
    (["text/*"], "page.html", None),
    (["application/*"], "page.xhtml", None),
]


@pytest.mark.parametrize(("rules", "filename", "content_type"), ACCEPTED)
def test_the_rule_accepts(rules, filename, content_type):
    assert filename_allowed(rules, filename, content_type)


@pytest.mark.parametrize(("rules", "filename", "content_type"), REFUSED)
def test_the_rule_refuses(rules, filename, content_type):
    assert not filename_allowed(rules, filename, content_type)


def test_is_valid_filetype_is_the_rule(monkeypatch):
    field = Document._meta.get_field("extra")
    for rules, filename, content_type in ACCEPTED + REFUSED:
        monkeypatch.setattr(field, "file_restrictions", rules)
        assert field.is_valid_filetype(filename, content_type) is filename_allowed(rules, filename, content_type)
        assert field.is_valid_filetype(filename) is filename_allowed(rules, filename)


# --------------------------------------------------------------------------- issuing: REST and GraphQL

EXTRA = field_id(Document, "extra")


@pytest.fixture
def extra_rules(monkeypatch):
    field = Document._meta.get_field("extra")

    def set_rules(rules: list[str]) -> None:
        monkeypatch.setattr(field, "file_restrictions", rules)

    return set_rules


def _body_for(filename: str) -> bytes:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return {
        "pdf": PDF,
        "txt": b"plain notes\n",
        "png": png_bytes(),
        "jpg": image_bytes("JPEG"),
        "svg": SVG_SCRIPT,
        "html": HTML,
    }.get(ext, b"\x00\x01\x02 opaque bytes")


@pytest.mark.django_db(transaction=True)  # the move runs on commit
@pytest.mark.parametrize(("rules", "filename", "content_type"), ACCEPTED)
def test_rest_issues_verifies_and_saves_what_the_rule_accepts(alice, user, extra_rules, rules, filename, content_type):
    extra_rules(rules)
    uploader = Uploader(alice)
    sent_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    key = uploader.upload(EXTRA, filename, _body_for(filename), sent_type)
    doc = Document(title="rules")
    doc.extra = AsyncFileInputData(key, filename, request=request_for(user))  # verified here
    doc.save()
    doc.refresh_from_db()
    assert doc.extra.name.startswith("extras/")
    assert AsyncTempFile.objects.get(key=key).moved_to_location == doc.extra.name


@pytest.mark.django_db
@pytest.mark.parametrize(("rules", "filename", "content_type"), REFUSED)
def test_rest_refuses_what_the_rule_refuses(alice, extra_rules, rules, filename, content_type):
    extra_rules(rules)
    response = Uploader(alice).request_url(EXTRA, filename, content_type=content_type)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_file_type"
    assert not AsyncTempFile.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("rules", "filename", "content_type"), ACCEPTED[:12])
def test_graphql_issues_what_the_rule_accepts(gql, extra_rules, rules, filename, content_type):
    extra_rules(rules)
    extra = {"contentType": content_type} if content_type else {}
    payload = issue(gql, "TESTAPP_DOCUMENT_EXTRA", filename, **extra)
    assert payload["__typename"] == "IssuedUpload", payload
    assert AsyncTempFile.objects.filter(key=payload["key"]).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("rules", "filename", "content_type"), REFUSED[:8])
def test_graphql_refuses_what_the_rule_refuses(gql, extra_rules, rules, filename, content_type):
    extra_rules(rules)
    extra = {"contentType": content_type} if content_type else {}
    payload = issue(gql, "TESTAPP_DOCUMENT_EXTRA", filename, **extra)
    assert payload["__typename"] == "OperationInfo", payload
    assert [(m["code"], m["field"]) for m in payload["messages"]] == [("invalid_file_type", "filename")]
    assert not AsyncTempFile.objects.exists()


# --------------------------------------------------------------------------- backends over real HTTP

BROAD = [".pdf", ".txt", "image/*"]
EXACT = [*BROAD, "image/svg+xml", ".html"]


class Site:
    """One backend driven over HTTP: the Django views of ``cloud_registry`` plus the storage's own server."""

    def __init__(self, name: str, doc: Any, image: Any, storage: Any, client: Client, base: str):
        self.name, self.doc, self.image, self.storage, self.client, self.base = name, doc, image, storage, client, base

    def field(self, model: Any) -> Any:
        return model._meta.get_field("image" if model is self.image else "file")

    def request_url(self, model: Any, filename: str, **extra: Any):
        data = {"field_id": cloud_registry.generate_id(self.field(model)), "filename": filename, **extra}
        return self.client.post(
            reverse(f"{cloud_registry.url_namespace}:generate-upload-url"),
            data=json.dumps(data),
            content_type="application/json",
        )

    def upload(self, model: Any, filename: str, body: bytes, content_type: str) -> str:
        response = self.request_url(model, filename, content_type=content_type)
        assert response.status_code == 200, response.content
        issued = response.json()
        target = issued["uploadUrl"]
        if target["provider"] == "s3":
            sent = requests.post(
                target["url"], data=target["fields"], files={"file": (filename, body, content_type)}, timeout=30
            )
        elif target["provider"] == "azure":
            sent = requests.put(target["url"], data=body, headers=target["headers"], timeout=30)
        else:
            sent = requests.post(self.base + target["url"], files={"file": (filename, body, content_type)}, timeout=30)
        assert sent.status_code in (200, 201, 204), sent.text
        return issued["key"]

    def download(self, obj: Any) -> requests.Response:
        query = f"?field_id={cloud_registry.generate_id(self.field(type(obj)))}&instance_id={obj.pk}"
        response = requests.get(
            self.base + reverse(f"{cloud_registry.url_namespace}:download") + query, allow_redirects=True, timeout=30
        )
        assert response.status_code == 200, response.text
        return response


@pytest.fixture(params=["filesystem", "s3", "azure"])
def site(request, user, client_for, live_server) -> Site:
    client = client_for(user)
    if request.param == "s3":
        request.getfixturevalue("s3_server")
        return Site("s3", S3Doc, S3Image, s3_storage, client, live_server.url)
    if request.param == "azure":
        request.getfixturevalue("azurite")
        return Site("azure", AzureDoc, AzureImage, azure_storage, client, live_server.url)
    return Site("filesystem", FsDoc, FsImage, fs_storage, client, live_server.url)


@pytest.fixture
def doc_field(site, monkeypatch):
    """The site's document field with ``rules`` and inline ``download_params``."""
    field = site.field(site.doc)

    def configure(rules: list[str], **download_params: Any) -> Any:
        monkeypatch.setattr(field, "file_restrictions", rules)
        monkeypatch.setattr(field, "_download_params", download_params)
        return field

    return configure


def unique(name: str) -> str:
    root, ext = name.rsplit(".", 1)
    return f"{root}-{uuid.uuid4().hex[:8]}.{ext}"


def assert_refused(site: Site, model: Any, attr: str, key: str, filename: str, code: str, user) -> None:
    before = model.objects.count()
    obj = model()
    with pytest.raises(ValidationError) as info:
        setattr(obj, attr, AsyncFileInputData(key, filename, request=request_for(user)))
    assert info.value.error_dict[attr][0].code == code, info.value
    assert model.objects.count() == before
    record = AsyncTempFile.objects.get(key=key)
    assert record.object_pk is None and not record.moved_to_location, "the key was not claimed"
    prefix = "docs/" if attr == "file" else "images/"
    assert not site.storage.exists(prefix + filename), "nothing was moved into place"


ACTIVE_UPLOADS = {
    "SVG with a script named .png": ("x.png", "image/png", SVG_SCRIPT),
    "HTML with %PDF- later named .pdf": ("x.pdf", "application/pdf", HTML_THEN_PDF),
    "BOM + SVG + %PDF- polyglot named .pdf": ("x.pdf", "application/pdf", POLYGLOT),
    "BOM + SVG + %PDF- polyglot named .png": ("x.png", "image/png", POLYGLOT),
}


@pytest.mark.django_db(transaction=True)
def test_an_svg_name_is_refused_by_broad_rules_when_the_url_is_issued(site, doc_field):
    doc_field(BROAD)
    for filename, content_type in [("x.svg", "image/svg+xml"), ("x.svg", None), ("x.png", "image/svg+xml")]:
        extra = {"content_type": content_type} if content_type else {}
        response = site.request_url(site.doc, filename, **extra)
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "invalid_file_type"
    assert not AsyncTempFile.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_svg_key_is_refused_by_broad_rules_at_verification(site, doc_field, user):
    field = doc_field(BROAD)
    filename = unique("x.svg")
    # A key recorded for the name (by a surface that did not check it): verification holds anyway.
    record = AsyncTempFile.create_for_field(field, filename, request=request_for(user))
    assert site.storage.save(record.key, ContentFile(SVG_SCRIPT)) == record.key
    assert_refused(site, site.doc, "file", record.key, filename, "invalid_file_type", user)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(ACTIVE_UPLOADS))
def test_active_content_under_a_harmless_name_is_refused_at_verification(site, doc_field, user, case):
    doc_field(BROAD)
    name, content_type, body = ACTIVE_UPLOADS[case]
    filename = unique(name)
    key = site.upload(site.doc, filename, body, content_type)
    assert_refused(site, site.doc, "file", key, filename, "invalid_file_type", user)


def _save(site: Site, model: Any, attr: str, key: str, filename: str, user) -> Any:
    obj = model()
    setattr(obj, attr, AsyncFileInputData(key, filename, request=request_for(user)))
    obj.save()
    obj.refresh_from_db()
    return obj


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "content_type", "body"),
    [("drawing.svg", "image/svg+xml", SVG_SCRIPT), ("page.html", "text/html", HTML)],
    ids=["svg", "html"],
)
def test_active_content_named_exactly_is_accepted_and_downloaded_as_an_attachment(
    site, doc_field, user, name, content_type, body
):
    # The field asks for inline downloads; active content is an attachment anyway.
    inline = {"content_disposition": "inline"} if site.name != "filesystem" else {}
    doc_field(EXACT, as_attachment=False, parameters=inline)
    filename = unique(name)
    key = site.upload(site.doc, filename, body, content_type)
    doc = _save(site, site.doc, "file", key, filename, user)
    assert doc.file.name.startswith("docs/")
    response = site.download(doc)
    assert response.content == body
    assert response.headers["Content-Disposition"].startswith("attachment"), response.headers
    if site.name == "filesystem":
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db(transaction=True)
def test_a_harmless_name_with_active_content_downloads_as_an_attachment(site, doc_field, user):
    """A file accepted before these rules (or through a field without restrictions): the bytes decide."""
    doc_field([], as_attachment=False)
    filename = unique("notes.txt")
    key = site.upload(site.doc, filename, HTML, "text/plain")
    doc = _save(site, site.doc, "file", key, filename, user)
    response = site.download(doc)
    assert response.headers["Content-Disposition"].startswith("attachment"), response.headers


@pytest.mark.django_db(transaction=True)
def test_inline_active_content_types_lets_a_named_type_show_inline(site, doc_field, user, settings):
    settings.ASYNC_UPLOADS = {"INLINE_ACTIVE_CONTENT_TYPES": ["image/svg+xml"]}
    doc_field(EXACT, as_attachment=False)
    filename = unique("drawing.svg")
    key = site.upload(site.doc, filename, SVG_SCRIPT, "image/svg+xml")
    doc = _save(site, site.doc, "file", key, filename, user)
    assert site.download(doc).headers["Content-Disposition"].startswith("inline")
    # HTML is not named: still an attachment.
    filename = unique("page.html")
    key = site.upload(site.doc, filename, HTML, "text/html")
    doc = _save(site, site.doc, "file", key, filename, user)
    assert site.download(doc).headers["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db(transaction=True)
def test_harmless_content_still_downloads_inline_when_asked(site, doc_field, user):
    doc_field(BROAD, as_attachment=False)
    filename = unique("report.pdf")
    key = site.upload(site.doc, filename, PDF, "application/pdf")
    doc = _save(site, site.doc, "file", key, filename, user)
    assert site.download(doc).headers["Content-Disposition"].startswith("inline")


def test_a_stored_active_content_type_forces_an_attachment(s3_server, azurite):
    """On the cloud the type the object is stored with is served: a PNG stored as text/html is active."""
    for storage in (s3_storage, azure_storage):
        name = f"docs/{uuid.uuid4().hex[:8]}-photo.png"
        if storage is s3_storage:
            storage.client.put_object(Bucket=storage.bucket_name, Key=name, Body=png_bytes(), ContentType="text/html")
        else:
            from azure.storage.blob import ContentSettings

            storage.client.get_blob_client(storage.blob_name(name)).upload_blob(
                png_bytes(), content_settings=ContentSettings(content_type="text/html")
            )
        response = requests.get(storage.generate_download_url(name, "x", as_attachment=False), timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment"), (storage, response.headers)


# --------------------------------------------------------------------------- image dimensions


def png_claiming(width: int, height: int) -> bytes:
    data = bytearray(png_bytes(3, 2))
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    return bytes(data)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("width", "height"),
    [(4294967295, 4294967295), (2**31, 1), (1_000_001, 1), (50_000, 50_000)],
    ids=["max-uint32", "past-int32", "past-max-dimension", "past-max-pixels"],
)
def test_header_dimensions_out_of_bounds_are_refused(site, user, width, height):
    filename = unique("huge.png")
    key = site.upload(site.image, filename, png_claiming(width, height), "image/png")
    assert_refused(site, site.image, "image", key, filename, "invalid_image", user)


@pytest.mark.django_db(transaction=True)
def test_pillows_pixel_limit_is_read_when_checking(user, client_for, live_server, monkeypatch):
    site = Site("filesystem", FsDoc, FsImage, fs_storage, client_for(user), live_server.url)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30)
    filename = unique("small.png")
    key = site.upload(site.image, filename, png_bytes(7, 5), "image/png")  # 35 pixels
    assert_refused(site, site.image, "image", key, filename, "invalid_image", user)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # the project turned the limit off
    filename = unique("wide.png")
    key = site.upload(site.image, filename, png_claiming(50_000, 50_000), "image/png")
    photo = _save(site, FsImage, "image", key, filename, user)
    assert (photo.width, photo.height) == (50_000, 50_000)


@pytest.mark.parametrize(
    "dims", [{"width": 50_000, "height": 50_000}, {"width": 2**31, "height": 1}, {"width": 1, "height": 1_000_001}]
)
def test_client_sent_dimensions_obey_the_same_bound(dims):
    with pytest.raises(ValidationError) as info:
        AsyncFileInputData.create_from_user_input({"key": "k", **dims})
    assert info.value.error_list[0].code == "invalid_input"
