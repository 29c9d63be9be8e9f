"""``FieldFile.url`` and the permission-checked ``download`` redirect view."""

from __future__ import annotations

import datetime
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from async_uploads.inputs import AsyncFileInputData
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage
from tests.conftest import field_id
from tests.testapp.models import Document, OtherRegistryFile, PublicNote, other_registry

ATTACHMENT = field_id(Document, "attachment")
REDIRECT = "async_uploads:download"
DIRECT = "async_uploads:filesystem-download"


def _read(response) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response.json()["code"] == code, response.content


def assign(doc: Document, user, key: str, name: str) -> None:
    req = RequestFactory().post("/")
    req.user = user
    doc.attachment = AsyncFileInputData.create_from_user_input({"key": key, "name": name}, request=req)


@pytest.fixture
def make_document(uploader, user, django_capture_on_commit_callbacks):
    """Create a Document holding ``content`` through the real flow (issue, upload, assign, save, move)."""

    def make(content: bytes = b"%PDF-1.4 doc", name: str = "report.pdf") -> Document:
        key = uploader.upload(ATTACHMENT, name, content, "application/pdf")
        doc = Document(title="d")
        assign(doc, user, key, name)
        with django_capture_on_commit_callbacks(execute=True):
            doc.save()
        doc.refresh_from_db()
        assert not default_storage.is_temporary_path(doc.attachment.name)
        return doc

    return make


@pytest.fixture
def viewer(make_user, client_for) -> Client:
    return client_for(make_user("testapp.view_document"))


# --------------------------------------------------------------------------------------------
# The full flow, in autocommit
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_url_redirects_to_signed_download(uploader, user, make_user, client_for):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF-1.4 the bytes", "application/pdf")
    doc = Document(title="x")
    assign(doc, user, key, "report.pdf")
    doc.save()
    doc.refresh_from_db()
    assert doc.attachment.name == f"documents/{doc.pk}/report.pdf"
    assert not default_storage.exists(key)  # moved, not copied

    url = doc.attachment.url
    parts = urlsplit(url)
    assert parts.path == "/async-uploads/download-file/"
    query = parse_qs(parts.query)
    assert set(query) == {"field_id", "instance_id", "_"}
    assert query["field_id"] == [ATTACHMENT]
    assert query["instance_id"] == [str(doc.pk)]
    assert re.fullmatch(r"[0-9a-f]{16}", query["_"][0])
    assert "report" not in query["_"][0]

    client = client_for(make_user("testapp.view_document"))
    response = client.get(url)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/async-uploads/download-file-direct/?token=")
    assert "no-store" in response["Cache-Control"]

    final = client.get(location)
    assert final.status_code == 200
    assert final["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert _read(final) == b"%PDF-1.4 the bytes"


@pytest.mark.django_db(transaction=True)
def test_follow_redirect_serves_bytes(uploader, user, make_user, client_for):
    key = uploader.upload(ATTACHMENT, "notes.txt", b"plain text", "text/plain")
    doc = Document(title="x")
    assign(doc, user, key, "notes.txt")
    doc.save()
    doc.refresh_from_db()
    response = client_for(make_user("testapp.view_document")).get(doc.attachment.url, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain and response.redirect_chain[0][1] == 302
    assert _read(response) == b"plain text"


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_view_permission(make_document, make_user, client_for):
    doc = make_document()
    client = client_for(make_user("testapp.add_document", "testapp.change_document"))
    response = client.get(doc.attachment.url)
    assert_error(response, 403, "permission_denied")
    assert "Location" not in response


@pytest.mark.django_db
def test_anonymous_is_denied(make_document, client_for):
    doc = make_document()
    response = client_for(None).get(doc.attachment.url)
    assert_error(response, 403, "permission_denied")
    assert "Location" not in response


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"field_id": ATTACHMENT},
        {"instance_id": "1"},
        {"field_id": "", "instance_id": "1"},
        {"field_id": ATTACHMENT, "instance_id": ""},
    ],
    ids=["none", "no-instance", "no-field", "empty-field", "empty-instance"],
)
def test_missing_params(make_document, viewer, params):
    make_document()
    assert_error(viewer.get(reverse(REDIRECT), params), 400, "invalid_input")


@pytest.mark.django_db
@pytest.mark.parametrize("instance_id", ["abc", "1; DROP", "1.5", "99999999999999999999999"])
def test_non_numeric_instance_id(make_document, viewer, instance_id):
    make_document()
    assert_error(
        viewer.get(reverse(REDIRECT), {"field_id": ATTACHMENT, "instance_id": instance_id}), 400, "invalid_input"
    )


@pytest.mark.django_db
def test_unknown_field(make_document, viewer):
    doc = make_document()
    response = viewer.get(reverse(REDIRECT), {"field_id": "testapp.Document.nope", "instance_id": doc.pk})
    assert_error(response, 400, "invalid_input")


@pytest.mark.django_db
def test_unknown_record(make_document, viewer):
    doc = make_document()
    response = viewer.get(reverse(REDIRECT), {"field_id": ATTACHMENT, "instance_id": doc.pk + 100})
    assert_error(response, 404, "not_found")


@pytest.mark.django_db
def test_record_with_empty_file(viewer):
    doc = Document.objects.create(title="empty")
    response = viewer.get(reverse(REDIRECT), {"field_id": ATTACHMENT, "instance_id": doc.pk})
    assert_error(response, 404, "not_found")


@pytest.mark.django_db
def test_record_whose_file_is_gone(make_document, viewer):
    doc = make_document()
    default_storage.delete(doc.attachment.name)
    response = viewer.get(doc.attachment.url)
    assert response.status_code == 302
    assert_error(viewer.get(response["Location"]), 404, "not_found")


@pytest.mark.django_db
def test_post_is_not_allowed(make_document, viewer):
    doc = make_document()
    assert viewer.post(doc.attachment.url).status_code == 405


# --------------------------------------------------------------------------------------------
# Details of the URL
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_camel_case_query_params(make_document, viewer):
    doc = make_document()
    response = viewer.get(reverse(REDIRECT), {"fieldId": ATTACHMENT, "instanceId": doc.pk})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse(DIRECT) + "?token=")


@pytest.mark.django_db
def test_url_cache_buster_changes_with_the_file(
    make_document, uploader, user, viewer, django_capture_on_commit_callbacks
):
    doc = make_document(b"%PDF first", "first.pdf")
    first_url = doc.attachment.url
    assert doc.attachment.url == first_url  # stable while the file is the same

    key = uploader.upload(ATTACHMENT, "second.pdf", b"%PDF second", "application/pdf", instance_id=doc.pk)
    assign(doc, user, key, "second.pdf")
    with django_capture_on_commit_callbacks(execute=True):
        doc.save()
    doc.refresh_from_db()
    assert doc.attachment.name == f"documents/{doc.pk}/second.pdf"
    second_url = doc.attachment.url

    first_q, second_q = parse_qs(urlsplit(first_url).query), parse_qs(urlsplit(second_url).query)
    assert first_q["_"] != second_q["_"]
    assert first_q["field_id"] == second_q["field_id"] and first_q["instance_id"] == second_q["instance_id"]

    response = viewer.get(second_url, follow=True)
    assert response.status_code == 200
    assert _read(response) == b"%PDF second"


@pytest.mark.django_db
def test_url_needs_a_file_and_a_saved_record():
    with pytest.raises(ValueError):
        Document(title="x").attachment.url  # noqa: B018
    unsaved = Document(title="x", attachment="documents/x.pdf")
    with pytest.raises(ValueError):
        unsaved.attachment.url  # noqa: B018


@pytest.mark.django_db
def test_public_field_downloads_for_anonymous(client_for):
    name = default_storage.save("notes/hello.txt", ContentFile(b"hello"))
    note = PublicNote.objects.create(file=name)
    anonymous = client_for(None)
    response = anonymous.get(note.file.url)
    assert response.status_code == 302
    final = anonymous.get(response["Location"])
    assert final.status_code == 200
    assert _read(final) == b"hello"


@pytest.mark.django_db
def test_other_registry_url_and_redirect(alice):
    name = default_storage.save("other/o.bin", ContentFile(b"other"))
    obj = OtherRegistryFile.objects.create(file=name)
    url = obj.file.url
    assert url.startswith("/other-uploads/download-file/?")
    response = alice.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/other-uploads/download-file-direct/?token=")
    final = alice.get(response["Location"])
    assert final.status_code == 200
    assert _read(final) == b"other"
    # The default registry's redirect view does not know this field.
    fid = field_id(OtherRegistryFile, "file", registry=other_registry)
    assert_error(alice.get(reverse(REDIRECT), {"field_id": fid, "instance_id": obj.pk}), 400, "invalid_input")


# --------------------------------------------------------------------------------------------
# Download expiry
# --------------------------------------------------------------------------------------------


def _advance(monkeypatch, seconds: float) -> None:
    real_now = timezone.now()
    monkeypatch.setattr(
        "async_uploads.views.filesystem.timezone.now", lambda: real_now + datetime.timedelta(seconds=seconds)
    )


@pytest.mark.django_db
def test_download_url_with_expire_param(uploader, monkeypatch):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF e", "application/pdf")
    storage = FileSystemAsyncUploadStorage()
    short = storage.generate_download_url(key, ATTACHMENT, expire=5)
    default = storage.generate_download_url(key, ATTACHMENT)
    client = Client()

    _advance(monkeypatch, 4)
    ok = client.get(short)
    assert ok.status_code == 200
    assert _read(ok) == b"%PDF e"

    _advance(monkeypatch, 6)
    assert_error(client.get(short), 403, "url_expired")
    still = client.get(default)
    assert still.status_code == 200
    assert _read(still) == b"%PDF e"


@pytest.mark.django_db
def test_default_download_expiry_is_an_hour(uploader, monkeypatch):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF e", "application/pdf")
    url = FileSystemAsyncUploadStorage().generate_download_url(key, ATTACHMENT)
    _advance(monkeypatch, 3600 + 2)
    assert_error(Client().get(url), 403, "url_expired")


@pytest.mark.django_db
def test_download_expiry_setting_is_read_lazily(uploader, settings, monkeypatch):
    key = uploader.upload(ATTACHMENT, "report.pdf", b"%PDF e", "application/pdf")
    settings.ASYNC_UPLOADS = {"DOWNLOAD_URL_EXPIRY": 5}
    url = FileSystemAsyncUploadStorage().generate_download_url(key, ATTACHMENT)
    _advance(monkeypatch, 6)
    assert_error(Client().get(url), 403, "url_expired")


@pytest.mark.django_db
def test_redirect_target_expires(make_document, viewer, monkeypatch):
    doc = make_document(b"%PDF r")
    location = viewer.get(doc.attachment.url)["Location"]
    _advance(monkeypatch, 3600 + 2)
    assert_error(viewer.get(location), 403, "url_expired")


@pytest.mark.django_db
@pytest.mark.parametrize("filename", ["../../etc/passwd.txt", "..\\..\\x.pdf", "/abs/x.pdf"])
def test_path_trick_filename_saves_under_upload_to(
    uploader, user, viewer, django_capture_on_commit_callbacks, filename
):
    body = b"tricky" if filename.endswith(".txt") else b"%PDF tricky"  # the content must fit the name's type
    key = uploader.upload(ATTACHMENT, filename, body, "application/pdf")
    doc = Document(title="d")
    assign(doc, user, key, filename)
    with django_capture_on_commit_callbacks(execute=True):
        doc.save()
    doc.refresh_from_db()
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    assert doc.attachment.name == f"documents/{doc.pk}/{base}"
    response = viewer.get(doc.attachment.url, follow=True)
    assert response.status_code == 200
    assert _read(response) == body


@pytest.mark.django_db(transaction=True)
def test_field_download_params_reach_the_signed_url(uploader, user, monkeypatch):
    from django.core.files.storage import default_storage
    from django.test import Client, RequestFactory

    from async_uploads.inputs import AsyncFileInputData
    from tests.conftest import png_bytes
    from tests.testapp.models import Photo

    key = uploader.upload(field_id(Photo, "image"), "p.png", png_bytes(3, 2), "image/png")
    request = RequestFactory().post("/")
    request.user = user
    photo = Photo()
    photo.image = AsyncFileInputData.create_from_user_input({"key": key, "name": "p.png"}, request=request)
    photo.save()
    client = Client()
    client.force_login(user)
    target = client.get(photo.image.url)["Location"]
    served = client.get(target)
    assert served.status_code == 200
    assert served["Content-Disposition"].startswith("inline")  # download_params: as_attachment=False
    real_now = timezone.now()
    monkeypatch.setattr(
        "async_uploads.views.filesystem.timezone.now", lambda: real_now + datetime.timedelta(seconds=121)
    )
    assert client.get(target).status_code == 403  # download_params: expire=120
    assert default_storage.exists(photo.image.name)
