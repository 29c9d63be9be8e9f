"""The ``generate-upload-url`` view: what a client gets back, and every way it is refused.

Every refusal also checks that no ``AsyncTempFile`` row was written.
"""

from __future__ import annotations

import datetime
import json
import re

import pytest
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from async_uploads.models import AsyncTempFile
from tests.conftest import field_id
from tests.testapp.models import Document, OtherRegistryFile, Photo, PublicNote, other_registry

URL = "async_uploads:generate-upload-url"
ATTACHMENT = field_id(Document, "attachment")
PHOTO = field_id(Photo, "image")
NOTE = field_id(PublicNote, "file")
OTHER = field_id(OtherRegistryFile, "file", registry=other_registry)

pytestmark = pytest.mark.django_db


def post_json(client: Client, data, url_name: str = URL):
    return client.post(reverse(url_name), data=json.dumps(data), content_type="application/json")


def assert_error(response, status: int, code: str, rows: int = 0) -> dict:
    # Checked first: whatever the answer, a refusal must not have recorded a key.
    assert AsyncTempFile.objects.count() == rows
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


def key_dates() -> set[str]:
    # The key's date comes from the server clock; accept today and yesterday around midnight.
    now = timezone.now()
    return {d.strftime("%Y/%m/%d") for d in (now.date(), (now - datetime.timedelta(minutes=1)).date())}


# --------------------------------------------------------------------------------------------
# Success
# --------------------------------------------------------------------------------------------


def test_success_payload_shape(alice, user):
    before = timezone.now()
    response = post_json(
        alice,
        {"field_id": ATTACHMENT, "filename": "report.pdf", "content_type": "application/pdf", "size": 1234},
    )
    after = timezone.now()
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"key", "uploadUrl"}

    key = body["key"]
    match = re.fullmatch(r"async-temp-files/(\d{4}/\d{2}/\d{2})/([A-Za-z0-9]{12})-report\.pdf", key)
    assert match, key
    assert match.group(1) in key_dates()

    upload = body["uploadUrl"]
    assert set(upload) == {"url", "method", "provider", "fields", "headers", "fileFieldName", "expiresAt"}
    assert upload["url"].startswith(reverse("async_uploads:filesystem-upload") + "?token=")
    assert upload["method"] == "POST"
    assert upload["provider"] == "filesystem"
    assert upload["fields"] == {}
    assert upload["headers"] == {}
    assert upload["fileFieldName"] == "file"
    expires = datetime.datetime.fromisoformat(upload["expiresAt"])
    assert expires.tzinfo is not None
    assert before + datetime.timedelta(seconds=3600) - datetime.timedelta(seconds=1) <= expires
    assert expires <= after + datetime.timedelta(seconds=3600) + datetime.timedelta(seconds=1)

    row = AsyncTempFile.objects.get()
    assert row.key == key
    assert row.original_filename == "report.pdf"
    assert row.field_name == "attachment"
    assert row.content_type.model_class() is Document
    assert row.user_id == user.pk
    assert row.session_key == ""
    assert row.instance_pk is None
    assert row.declared_size == 1234
    assert row.declared_content_type == "application/pdf"
    assert row.uploaded_at is None
    assert row.object_pk is None


def test_two_requests_get_distinct_keys(uploader):
    first = uploader.issue(ATTACHMENT, "report.pdf")
    second = uploader.issue(ATTACHMENT, "report.pdf")
    assert first["key"] != second["key"]
    assert first["uploadUrl"]["url"] != second["uploadUrl"]["url"]
    assert AsyncTempFile.objects.count() == 2


def test_without_size_and_content_type_records_none(alice):
    response = post_json(alice, {"field_id": ATTACHMENT, "filename": "report.pdf"})
    assert response.status_code == 200, response.content
    row = AsyncTempFile.objects.get()
    assert row.declared_size is None
    assert row.declared_content_type == ""


def test_upload_url_expiry_setting_is_read_lazily(alice, settings):
    settings.ASYNC_UPLOADS = {"UPLOAD_URL_EXPIRY": 60}
    before = timezone.now()
    response = post_json(alice, {"field_id": ATTACHMENT, "filename": "report.pdf"})
    after = timezone.now()
    assert response.status_code == 200, response.content
    expires = datetime.datetime.fromisoformat(response.json()["uploadUrl"]["expiresAt"])
    assert before + datetime.timedelta(seconds=59) <= expires <= after + datetime.timedelta(seconds=61)


def test_camel_case_field_id_in_json(alice):
    response = post_json(alice, {"fieldId": ATTACHMENT, "filename": "report.pdf", "contentType": "application/pdf"})
    assert response.status_code == 200, response.content
    row = AsyncTempFile.objects.get()
    assert row.field_name == "attachment"
    assert row.declared_content_type == "application/pdf"


def test_form_encoded_body(alice):
    response = alice.post(reverse(URL), data={"fieldId": ATTACHMENT, "filename": "report.pdf", "size": "7"})
    assert response.status_code == 200, response.content
    row = AsyncTempFile.objects.get()
    assert row.key == response.json()["key"]
    assert row.declared_size == 7


def test_urlencoded_body(alice):
    response = alice.post(
        reverse(URL),
        data=f"field_id={ATTACHMENT}&filename=report.pdf",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert AsyncTempFile.objects.get().original_filename == "report.pdf"


def test_size_exactly_at_limit_is_accepted(alice):
    response = post_json(alice, {"field_id": ATTACHMENT, "filename": "report.pdf", "size": 1024 * 1024})
    assert response.status_code == 200, response.content
    assert AsyncTempFile.objects.get().declared_size == 1024 * 1024


def test_image_field_with_image_type(alice):
    response = post_json(alice, {"field_id": PHOTO, "filename": "p.png", "content_type": "image/png"})
    assert response.status_code == 200, response.content
    assert response.json()["key"].endswith("-p.png")


# --------------------------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------------------------


def test_create_needs_add_permission(make_user, client_for):
    client = client_for(make_user("testapp.change_document", "testapp.view_document"))
    response = post_json(client, {"field_id": ATTACHMENT, "filename": "report.pdf"})
    assert_error(response, 403, "permission_denied")
    assert not AsyncTempFile.objects.exists()


def test_create_with_add_permission_only(make_user, client_for):
    client = client_for(make_user("testapp.add_document"))
    response = post_json(client, {"field_id": ATTACHMENT, "filename": "report.pdf"})
    assert response.status_code == 200, response.content
    assert AsyncTempFile.objects.count() == 1


def test_update_needs_change_permission(make_user, client_for):
    doc = Document.objects.create(title="d")
    client = client_for(make_user("testapp.add_document", "testapp.view_document"))
    response = post_json(client, {"field_id": ATTACHMENT, "filename": "report.pdf", "instance_id": doc.pk})
    assert_error(response, 403, "permission_denied")
    assert not AsyncTempFile.objects.exists()


def test_update_with_change_permission_only(make_user, client_for):
    doc = Document.objects.create(title="d")
    client = client_for(make_user("testapp.change_document"))
    response = post_json(client, {"field_id": ATTACHMENT, "filename": "report.pdf", "instance_id": str(doc.pk)})
    assert response.status_code == 200, response.content
    row = AsyncTempFile.objects.get()
    assert row.instance_pk == str(doc.pk)


def test_camel_case_instance_id(make_user, client_for):
    doc = Document.objects.create(title="d")
    client = client_for(make_user("testapp.change_document"))
    response = post_json(client, {"fieldId": ATTACHMENT, "filename": "report.pdf", "instanceId": doc.pk})
    assert response.status_code == 200, response.content
    assert AsyncTempFile.objects.get().instance_pk == str(doc.pk)


def test_anonymous_on_document_is_denied(client_for):
    response = post_json(client_for(None), {"field_id": ATTACHMENT, "filename": "report.pdf"})
    assert_error(response, 403, "permission_denied")
    assert not AsyncTempFile.objects.exists()


def test_anonymous_update_on_document_is_denied(client_for):
    doc = Document.objects.create(title="d")
    response = post_json(client_for(None), {"field_id": ATTACHMENT, "filename": "report.pdf", "instance_id": doc.pk})
    assert_error(response, 403, "permission_denied")
    assert not AsyncTempFile.objects.exists()


def test_anonymous_on_public_field_is_tied_to_its_session(client_for):
    client = client_for(None)
    response = post_json(client, {"field_id": NOTE, "filename": "note.txt"})
    assert response.status_code == 200, response.content
    row = AsyncTempFile.objects.get()
    assert row.key == response.json()["key"]
    assert row.user_id is None
    assert row.session_key
    # The browser must receive that session, or it could never submit its own upload.
    assert client.cookies["sessionid"].value == row.session_key


def test_anonymous_keeps_its_session_across_requests(client_for):
    client = client_for(None)
    assert post_json(client, {"field_id": NOTE, "filename": "a.txt"}).status_code == 200
    assert post_json(client, {"field_id": NOTE, "filename": "b.txt"}).status_code == 200
    keys = set(AsyncTempFile.objects.values_list("session_key", flat=True))
    assert len(keys) == 1 and "" not in keys


def test_logged_in_user_on_public_field_records_user(alice, user):
    response = post_json(alice, {"field_id": NOTE, "filename": "note.txt"})
    assert response.status_code == 200, response.content
    row = AsyncTempFile.objects.get()
    assert row.user_id == user.pk
    assert row.session_key == ""


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"filename": "report.pdf"}, id="missing-field-id"),
        pytest.param({"field_id": "", "filename": "report.pdf"}, id="empty-field-id"),
        pytest.param({"field_id": 123, "filename": "report.pdf"}, id="number-field-id"),
        pytest.param({"field_id": [ATTACHMENT], "filename": "report.pdf"}, id="list-field-id"),
        pytest.param({"field_id": "testapp.Document.nope", "filename": "report.pdf"}, id="unknown-field"),
        pytest.param({"field_id": "testapp.Document.title", "filename": "report.pdf"}, id="non-async-field"),
        pytest.param({"field_id": "auth.User.password", "filename": "report.pdf"}, id="other-model"),
    ],
)
def test_bad_field_id(alice, data):
    body = assert_error(post_json(alice, data), 400, "invalid_input")
    assert "fieldId" in body["errors"]
    assert not AsyncTempFile.objects.exists()


@pytest.mark.parametrize(
    "filename",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(42, id="number"),
        pytest.param("a" * 997 + ".pdf", id="1001-chars"),
        pytest.param("a\x00.pdf", id="nul"),
    ],
)
def test_bad_filename(alice, filename):
    data = {"field_id": ATTACHMENT}
    if filename is not None:
        data["filename"] = filename
    body = assert_error(post_json(alice, data), 400, "invalid_input")
    assert "filename" in body["errors"]
    assert not AsyncTempFile.objects.exists()


def test_filename_of_1000_chars_is_accepted_and_key_fits(alice):
    filename = "a" * 996 + ".pdf"
    response = post_json(alice, {"field_id": ATTACHMENT, "filename": filename})
    assert response.status_code == 200, response.content
    key = response.json()["key"]
    assert len(key) <= Document._meta.get_field("attachment").max_length
    assert key.endswith(".pdf")
    assert AsyncTempFile.objects.get().original_filename == filename


@pytest.mark.parametrize(
    "instance_id",
    ["abc", "1; DROP", "1.5", "99999999999999999999999", 1.5, True, [1], {"pk": 1}],
    ids=["abc", "sql", "decimal-str", "huge", "float", "bool", "list", "object"],
)
def test_bad_instance_id(alice, instance_id):
    Document.objects.create(title="d")  # pk 1 exists: a lenient parse would find it
    data = {"field_id": ATTACHMENT, "filename": "report.pdf", "instance_id": instance_id}
    body = assert_error(post_json(alice, data), 400, "invalid_input")
    assert "instanceId" in body["errors"]
    assert not AsyncTempFile.objects.exists()


def test_bad_instance_id_in_form_body(alice):
    response = alice.post(reverse(URL), data={"field_id": ATTACHMENT, "filename": "report.pdf", "instance_id": "abc"})
    assert_error(response, 400, "invalid_input")
    assert not AsyncTempFile.objects.exists()


def test_instance_id_of_missing_record(alice):
    doc = Document.objects.create(title="d")
    missing = doc.pk + 1000
    data = {"field_id": ATTACHMENT, "filename": "report.pdf", "instance_id": missing}
    body = assert_error(post_json(alice, data), 404, "not_found")
    assert "instanceId" in body["errors"]
    assert not AsyncTempFile.objects.exists()


@pytest.mark.parametrize(
    "filename,content_type",
    [
        ("evil.exe", None),
        ("evil.exe", "application/pdf"),
        ("report.pdf.exe", None),
        ("report", None),
    ],
)
def test_restricted_file_type(alice, filename, content_type):
    data = {"field_id": ATTACHMENT, "filename": filename}
    if content_type:
        data["content_type"] = content_type
    body = assert_error(post_json(alice, data), 400, "invalid_file_type")
    assert "filename" in body["errors"]
    assert not AsyncTempFile.objects.exists()


@pytest.mark.parametrize("filename", ["notes.txt", "REPORT.PDF"])
def test_allowed_extensions(alice, filename):
    assert post_json(alice, {"field_id": ATTACHMENT, "filename": filename}).status_code == 200
    assert AsyncTempFile.objects.count() == 1


@pytest.mark.parametrize(
    "filename,content_type",
    [("p.png", "text/plain"), ("p.txt", "image/png"), ("p.exe", None), ("p.png", "application/x-msdownload")],
)
def test_image_field_rejects_non_images(alice, filename, content_type):
    data = {"field_id": PHOTO, "filename": filename}
    if content_type:
        data["content_type"] = content_type
    assert_error(post_json(alice, data), 400, "invalid_file_type")
    assert not AsyncTempFile.objects.exists()


def test_declared_size_over_max_size(alice):
    data = {"field_id": ATTACHMENT, "filename": "report.pdf", "size": 2 * 1024 * 1024}
    body = assert_error(post_json(alice, data), 413, "file_too_large")
    assert "size" in body["errors"]
    assert not AsyncTempFile.objects.exists()


def test_declared_size_one_byte_over_max_size(alice):
    data = {"field_id": ATTACHMENT, "filename": "report.pdf", "size": 1024 * 1024 + 1}
    assert_error(post_json(alice, data), 413, "file_too_large")
    assert not AsyncTempFile.objects.exists()


@pytest.mark.parametrize("size", [-1, "-5", "abc", "1.5", 1.5, True, [1], {"n": 1}])
def test_bad_size(alice, size):
    data = {"field_id": ATTACHMENT, "filename": "report.pdf", "size": size}
    body = assert_error(post_json(alice, data), 400, "invalid_input")
    assert "size" in body["errors"]
    assert not AsyncTempFile.objects.exists()


@pytest.mark.parametrize("content_type", [123, "x" * 256, ["application/pdf"]])
def test_bad_content_type(alice, content_type):
    data = {"field_id": ATTACHMENT, "filename": "report.pdf", "content_type": content_type}
    assert_error(post_json(alice, data), 400, "invalid_input")
    assert not AsyncTempFile.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"field_id": ', b"\xff\xfe", b"[]", f'["{ATTACHMENT}", "report.pdf"]'.encode(), b'"x"', b"null"],
    ids=["broken", "truncated", "not-utf8", "empty-array", "array", "string", "null"],
)
def test_malformed_or_non_object_json(alice, raw):
    response = alice.post(reverse(URL), data=raw, content_type="application/json")
    assert_error(response, 400, "invalid_input")
    assert not AsyncTempFile.objects.exists()


def test_empty_json_body(alice):
    response = alice.post(reverse(URL), data=b"", content_type="application/json")
    assert_error(response, 400, "invalid_input")
    assert not AsyncTempFile.objects.exists()


# --------------------------------------------------------------------------------------------
# Method and CSRF
# --------------------------------------------------------------------------------------------


def test_get_is_not_allowed(alice):
    response = alice.get(reverse(URL), {"field_id": ATTACHMENT, "filename": "report.pdf"})
    assert response.status_code == 405
    assert "POST" in response["Allow"]
    assert not AsyncTempFile.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_not_allowed(alice, method):
    data = json.dumps({"field_id": ATTACHMENT, "filename": "report.pdf"})
    response = getattr(alice, method)(reverse(URL), data=data, content_type="application/json")
    assert response.status_code == 405
    assert not AsyncTempFile.objects.exists()


@pytest.fixture
def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_csrf_missing_token_is_refused(csrf_client):
    response = post_json(csrf_client, {"field_id": ATTACHMENT, "filename": "report.pdf"})
    assert response.status_code == 403
    assert not AsyncTempFile.objects.exists()


def test_csrf_wrong_token_is_refused(csrf_client):
    csrf_client.cookies["csrftoken"] = _get_new_csrf_string()
    response = csrf_client.post(
        reverse(URL),
        data=json.dumps({"field_id": ATTACHMENT, "filename": "report.pdf"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=_get_new_csrf_string(),
    )
    assert response.status_code == 403
    assert not AsyncTempFile.objects.exists()


def test_csrf_valid_token_is_accepted(csrf_client):
    token = _get_new_csrf_string()
    csrf_client.cookies["csrftoken"] = token
    response = csrf_client.post(
        reverse(URL),
        data=json.dumps({"field_id": ATTACHMENT, "filename": "report.pdf"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200, response.content
    assert AsyncTempFile.objects.get().key == response.json()["key"]


def test_csrf_valid_token_in_form_field(csrf_client):
    token = _get_new_csrf_string()
    csrf_client.cookies["csrftoken"] = token
    response = csrf_client.post(
        reverse(URL), data={"field_id": ATTACHMENT, "filename": "report.pdf", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200, response.content
    assert AsyncTempFile.objects.count() == 1


# --------------------------------------------------------------------------------------------
# Filename path tricks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename,base",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\x.pdf", "x.pdf"),
        ("/abs/x.pdf", "x.pdf"),
        ("C:\\Users\\me\\x.pdf", "x.pdf"),
        ("a/./b/../x.pdf", "x.pdf"),
        ("....//x.pdf", "x.pdf"),
    ],
)
def test_filename_path_tricks_do_not_reach_the_key(alice, filename, base):
    response = post_json(alice, {"field_id": ATTACHMENT, "filename": filename})
    assert response.status_code == 200, response.content
    key = response.json()["key"]
    assert ".." not in key
    assert not key.startswith("/")
    assert "\\" not in key
    assert "//" not in key
    assert key.startswith("async-temp-files/")
    assert key.count("/") == 4, key  # async-temp-files/YYYY/MM/DD/<secret>-<name>
    assert key.endswith("-" + base)
    row = AsyncTempFile.objects.get()
    assert row.key == key


# --------------------------------------------------------------------------------------------
# Another registry
# --------------------------------------------------------------------------------------------


def test_other_registry_field_is_unknown_to_default_view(alice):
    body = assert_error(post_json(alice, {"field_id": OTHER, "filename": "x.bin"}), 400, "invalid_input")
    assert "fieldId" in body["errors"]
    assert not AsyncTempFile.objects.exists()


def test_default_field_is_unknown_to_other_view(alice):
    response = post_json(
        alice, {"field_id": ATTACHMENT, "filename": "report.pdf"}, url_name="async_uploads_other:generate-upload-url"
    )
    assert_error(response, 400, "invalid_input")
    assert not AsyncTempFile.objects.exists()


def test_other_registry_works_on_its_own_view(alice, user):
    assert reverse("async_uploads_other:generate-upload-url").startswith("/other-uploads/")
    response = post_json(
        alice, {"field_id": OTHER, "filename": "x.bin"}, url_name="async_uploads_other:generate-upload-url"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["uploadUrl"]["url"].startswith("/other-uploads/upload-file-direct/?token=")
    row = AsyncTempFile.objects.get()
    assert row.key == body["key"]
    assert row.content_type.model_class() is OtherRegistryFile
    assert row.user_id == user.pk


def test_other_registry_upload_completes_on_its_own_endpoint(make_uploader, alice):
    from django.core.files.storage import default_storage

    other = make_uploader(alice, url_name="async_uploads_other:generate-upload-url")
    key = other.upload(OTHER, "x.bin", b"other bytes")
    assert default_storage.open(key).read() == b"other bytes"


def test_other_registry_upload_url_is_refused_by_default_upload_endpoint(make_uploader, alice):
    from urllib.parse import urlsplit

    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile

    other = make_uploader(alice, url_name="async_uploads_other:generate-upload-url")
    issued = other.issue(OTHER, "x.bin")
    query = urlsplit(issued["uploadUrl"]["url"]).query
    response = Client().post(
        reverse("async_uploads:filesystem-upload") + "?" + query,
        data={"file": SimpleUploadedFile("x.bin", b"data", "application/octet-stream")},
    )
    assert_error(response, 400, "invalid_input", rows=1)
    assert not default_storage.exists(issued["key"])
    assert AsyncTempFile.objects.get().uploaded_at is None


@pytest.mark.django_db
def test_params_reach_the_storage_as_upload_fields(alice, monkeypatch):
    from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage

    seen = {}
    original = FileSystemAsyncUploadStorage.sign_upload

    def spy(self, request):
        seen["fields"] = dict(request.fields)
        return original(self, request)

    monkeypatch.setattr(FileSystemAsyncUploadStorage, "sign_upload", spy)
    response = post_json(alice, {"field_id": ATTACHMENT, "filename": "a.pdf", "params": {"acl": "private"}})
    assert response.status_code == 200
    assert seen["fields"] == {"acl": "private"}
    # As a form field, the seed sent params as a JSON string.
    response = alice.post(reverse(URL), {"field_id": ATTACHMENT, "filename": "a.pdf", "params": '{"x": "1"}'})
    assert response.status_code == 200
    assert seen["fields"] == {"x": "1"}


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{"acl": 1}, ["acl"], "not an object"])
def test_malformed_params_are_invalid_input(alice, params):
    assert_error(
        post_json(alice, {"field_id": ATTACHMENT, "filename": "a.pdf", "params": params}), 400, "invalid_input"
    )


@pytest.mark.django_db
def test_params_that_are_not_json_in_a_form_are_invalid_input(alice):
    response = alice.post(reverse(URL), {"field_id": ATTACHMENT, "filename": "a.pdf", "params": "{nope"})
    assert_error(response, 400, "invalid_input")


@pytest.mark.django_db
def test_a_storage_that_fails_to_sign_leaves_no_key_behind(alice, monkeypatch):
    from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage

    def broken(*args, **kwargs):
        raise RuntimeError("signing service down")

    monkeypatch.setattr(FileSystemAsyncUploadStorage, "sign_upload", broken)
    with pytest.raises(RuntimeError, match="signing service down"):
        post_json(alice, {"field_id": ATTACHMENT, "filename": "a.pdf"})
    assert AsyncTempFile.objects.count() == 0
