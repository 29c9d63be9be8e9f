"""Create and update mutations with ``AsyncFileInput``: keys accepted, kept, cleared and refused.

Every test runs through the sync view and the async view (the ``gql`` fixture). Every refusal
checks that the record was not created or kept its values, and that the uploaded object is still
at its temporary key, unclaimed, so the client can submit it again.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from async_uploads.models import AsyncTempFile
from tests.conftest import png_bytes, read
from tests.graphql_client import issue, post_file, single_message, upload_key
from tests.testapp.models import Document, Photo, PublicNote

pytestmark = pytest.mark.django_db(transaction=True)

ATTACHMENT = "TESTAPP_DOCUMENT_ATTACHMENT"
EXTRA = "TESTAPP_DOCUMENT_EXTRA"
PHOTO = "TESTAPP_PHOTO_IMAGE"
NOTE = "TESTAPP_PUBLICNOTE_FILE"
PDF = b"%PDF-1.4 the real report"
OTHER_PDF = b"%PDF-1.4 the original report"
LIMIT = 1024 * 1024

FILE = "{ key name url downloadUrl }"
MESSAGES = "... on OperationInfo { messages { kind code field message } }"

CREATE = f"""
mutation($data: DocumentInput!) {{
  createDocument(data: $data) {{
    __typename
    ... on DocumentType {{ id title attachment {FILE} extra {FILE} }}
    {MESSAGES}
  }}
}}
"""

UPDATE = f"""
mutation($data: DocumentPartialInput!) {{
  updateDocument(data: $data) {{
    __typename
    ... on DocumentType {{ id title attachment {FILE} extra {FILE} }}
    {MESSAGES}
  }}
}}
"""

CREATE_PHOTO = f"""
mutation($data: PhotoInput!) {{
  createPhoto(data: $data) {{
    __typename
    ... on PhotoType {{ id image {{ key name url downloadUrl width height }} }}
    {MESSAGES}
  }}
}}
"""

UPDATE_PHOTO = f"""
mutation($data: PhotoPartialInput!) {{
  updatePhoto(data: $data) {{
    __typename
    ... on PhotoType {{ id image {{ key name width height }} }}
    {MESSAGES}
  }}
}}
"""

CREATE_NOTE = f"""
mutation($data: PublicNoteInput!) {{
  createPublicNote(data: $data) {{
    __typename
    ... on PublicNoteType {{ id file {FILE} }}
    {MESSAGES}
  }}
}}
"""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def run(gql, query: str, data: dict[str, Any], name: str) -> dict[str, Any]:
    result = gql.execute(query, {"data": data})
    assert result.errors is None, result.body
    return result.data[name]


def create(gql, **data: Any) -> dict[str, Any]:
    return run(gql, CREATE, data, "createDocument")


def update(gql, pk: Any, **data: Any) -> dict[str, Any]:
    return run(gql, UPDATE, {"id": str(pk), **data}, "updateDocument")


def upload_pdf(gql, filename: str = "report.pdf", content: bytes = PDF, field: str = ATTACHMENT, **extra: Any) -> str:
    return upload_key(gql, field, filename, content, "application/pdf", **extra)


def fetch(url: str, client: Client | None = None) -> bytes:
    """GET a download URL the way a browser would, following redirects; return the bytes."""
    response = (client or Client()).get(url, follow=True)
    assert response.status_code == 200, (url, response.status_code)
    return b"".join(response.streaming_content)


def assert_upload_untouched(key: str, content: bytes) -> None:
    """The upload is still at its key, with its bytes, and free to be submitted again."""
    assert default_storage.exists(key), f"temporary object {key!r} was removed"
    assert read(key) == content
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk is None, f"row was claimed by {row.object_pk}"
    assert row.moved_to_location == ""


def assert_doc(pk: Any, title: str, attachment: str, content: bytes | None = None) -> Document:
    doc = Document.objects.get(pk=pk)
    assert doc.title == title
    assert doc.attachment.name == attachment
    if content is not None:
        assert read(attachment) == content
    return doc


def assert_refused(payload: dict[str, Any], code: str, field: str = "attachment") -> dict[str, Any]:
    message = single_message(payload)
    assert message["kind"] == "VALIDATION", message
    assert message["field"] == field, message
    assert message["code"] == code, message
    return message


def assert_permanent_file(file: dict[str, Any], doc: Document, name: str, content: bytes) -> None:
    """The response's file is the record's permanent one, and both its URLs serve its bytes."""
    assert file["key"] == doc.attachment.name
    assert not file["key"].startswith("async-temp-files/")
    assert file["name"] == name
    assert file["url"] == "http://testserver" + doc.attachment.url
    assert file["url"].startswith("http://testserver" + reverse("async_uploads:download") + "?")
    assert "async-temp-files" not in file["url"]
    assert file["downloadUrl"].startswith("http://testserver/")
    # The temporary object is gone: a URL still naming it could not serve the bytes.
    assert fetch(file["downloadUrl"]) == content


@pytest.fixture
def saved_doc(gql) -> Document:
    """A record that already holds a permanent file, made through the API."""
    key = upload_pdf(gql, "original.pdf", OTHER_PDF)
    payload = create(gql, title="A", attachment={"key": key, "name": "original.pdf"})
    assert payload["__typename"] == "DocumentType", payload
    return assert_doc(payload["id"], "A", f"documents/{payload['id']}/original.pdf", OTHER_PDF)


# --------------------------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------------------------


def test_create_moves_the_upload_and_answers_with_the_permanent_file(gql, user):
    key = upload_pdf(gql)
    payload = create(gql, title="t", attachment={"key": key, "name": "report.pdf"})
    assert payload["__typename"] == "DocumentType", payload
    doc = assert_doc(payload["id"], "t", f"documents/{payload['id']}/report.pdf", PDF)
    assert payload["title"] == "t"
    assert_permanent_file(payload["attachment"], doc, "report.pdf", PDF)
    assert payload["extra"] is None
    assert not default_storage.exists(key)
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk == str(doc.pk)
    assert row.moved_to_location == doc.attachment.name


def test_create_with_two_files(gql):
    attachment = upload_pdf(gql)
    extra = upload_key(gql, EXTRA, "data.bin", b"\x00\x01binary")
    payload = create(gql, title="two", attachment={"key": attachment}, extra={"key": extra, "name": "data.bin"})
    assert payload["__typename"] == "DocumentType", payload
    doc = Document.objects.get(pk=payload["id"])
    assert doc.attachment.name == f"documents/{doc.pk}/report.pdf"
    assert doc.extra.name == "extras/data.bin"
    assert payload["attachment"]["key"] == doc.attachment.name
    assert payload["extra"]["key"] == "extras/data.bin"
    assert payload["extra"]["name"] == "data.bin"
    assert fetch(payload["extra"]["downloadUrl"]) == b"\x00\x01binary"
    assert not default_storage.exists(attachment) and not default_storage.exists(extra)


def test_create_without_a_file(gql):
    payload = create(gql, title="empty")
    assert payload["__typename"] == "DocumentType", payload
    assert payload["attachment"] is None
    assert not Document.objects.get(pk=payload["id"]).attachment


def test_create_with_null_file(gql):
    payload = create(gql, title="empty", attachment=None)
    assert payload["__typename"] == "DocumentType", payload
    assert payload["attachment"] is None
    assert not Document.objects.get(pk=payload["id"]).attachment


def test_anonymous_key_is_bound_to_its_session(make_gql):
    owner, stranger = make_gql(None), make_gql(None)
    key = upload_key(owner, NOTE, "note.txt", b"anon note", "text/plain")

    payload = run(stranger, CREATE_NOTE, {"file": {"key": key}}, "createPublicNote")
    assert_refused(payload, "invalid_key", field="file")
    assert PublicNote.objects.count() == 0
    assert_upload_untouched(key, b"anon note")

    payload = run(owner, CREATE_NOTE, {"file": {"key": key, "name": "note.txt"}}, "createPublicNote")
    assert payload["__typename"] == "PublicNoteType", payload
    note = PublicNote.objects.get(pk=payload["id"])
    assert note.file.name == "notes/note.txt"
    assert payload["file"]["key"] == "notes/note.txt"
    assert fetch(payload["file"]["downloadUrl"]) == b"anon note"


# --------------------------------------------------------------------------------------------
# update
# --------------------------------------------------------------------------------------------


def test_update_replaces_the_file(gql, saved_doc):
    key = upload_pdf(gql, "new.pdf", PDF, instanceId=str(saved_doc.pk))
    payload = update(gql, saved_doc.pk, attachment={"key": key, "name": "new.pdf"})
    assert payload["__typename"] == "DocumentType", payload
    doc = assert_doc(saved_doc.pk, "A", f"documents/{saved_doc.pk}/new.pdf", PDF)
    assert_permanent_file(payload["attachment"], doc, "new.pdf", PDF)
    assert not default_storage.exists(key)
    assert AsyncTempFile.objects.get(key=key).object_pk == str(saved_doc.pk)


def test_update_keeping_the_current_key_changes_nothing(gql, saved_doc):
    name = saved_doc.attachment.name
    rows = AsyncTempFile.objects.count()
    payload = update(gql, saved_doc.pk, title="renamed", attachment={"key": name, "name": "original.pdf"})
    assert payload["__typename"] == "DocumentType", payload
    doc = assert_doc(saved_doc.pk, "renamed", name, OTHER_PDF)
    assert_permanent_file(payload["attachment"], doc, "original.pdf", OTHER_PDF)
    assert AsyncTempFile.objects.count() == rows


def test_update_sending_back_the_key_from_a_query_keeps_the_file(gql, saved_doc):
    result = gql.execute("query($id: ID!) { document(pk: $id) { attachment { key } } }", {"id": str(saved_doc.pk)})
    assert result.errors is None, result.body
    key = result.data["document"]["attachment"]["key"]
    payload = update(gql, saved_doc.pk, attachment={"key": key})
    assert payload["__typename"] == "DocumentType", payload
    assert_doc(saved_doc.pk, "A", saved_doc.attachment.name, OTHER_PDF)


def test_update_with_null_clears_the_field(gql, saved_doc):
    payload = update(gql, saved_doc.pk, attachment=None)
    assert payload["__typename"] == "DocumentType", payload
    assert payload["attachment"] is None
    assert payload["title"] == "A"
    doc = Document.objects.get(pk=saved_doc.pk)
    assert not doc.attachment
    assert doc.title == "A"


def test_update_without_the_field_leaves_it_alone(gql, saved_doc):
    name = saved_doc.attachment.name
    payload = update(gql, saved_doc.pk, title="renamed")
    assert payload["__typename"] == "DocumentType", payload
    assert payload["title"] == "renamed"
    assert payload["attachment"]["key"] == name
    assert_doc(saved_doc.pk, "renamed", name, OTHER_PDF)


def test_update_of_one_field_leaves_the_other_alone(gql, saved_doc):
    key = upload_key(gql, EXTRA, "data.bin", b"extra bytes", instanceId=str(saved_doc.pk))
    payload = update(gql, saved_doc.pk, extra={"key": key})
    assert payload["__typename"] == "DocumentType", payload
    doc = assert_doc(saved_doc.pk, "A", saved_doc.attachment.name, OTHER_PDF)
    assert doc.extra.name == "extras/data.bin"
    assert payload["extra"]["key"] == "extras/data.bin"
    assert payload["attachment"]["key"] == saved_doc.attachment.name


def test_update_fills_an_empty_field(gql):
    doc = Document.objects.create(title="empty")
    key = upload_pdf(gql, instanceId=str(doc.pk))
    payload = update(gql, doc.pk, attachment={"key": key})
    assert payload["__typename"] == "DocumentType", payload
    doc = assert_doc(doc.pk, "empty", f"documents/{doc.pk}/report.pdf", PDF)
    assert_permanent_file(payload["attachment"], doc, "report.pdf", PDF)


# --------------------------------------------------------------------------------------------
# refused keys: on create
# --------------------------------------------------------------------------------------------


def assert_create_refused(gql, value: dict[str, Any], code: str = "invalid_key", **data: Any) -> dict[str, Any]:
    before = set(Document.objects.values_list("pk", flat=True))
    payload = create(gql, title="new", attachment=value, **data)
    message = assert_refused(payload, code)
    assert set(Document.objects.values_list("pk", flat=True)) == before, "a record was created"
    return message


def assert_update_refused(gql, doc: Document, value: dict[str, Any], code: str = "invalid_key") -> dict[str, Any]:
    doc = Document.objects.get(pk=doc.pk)
    old_name, old_bytes = doc.attachment.name, (read(doc.attachment.name) if doc.attachment else None)
    payload = update(gql, doc.pk, title="changed", attachment=value)
    message = assert_refused(payload, code)
    assert_doc(doc.pk, doc.title, old_name, old_bytes)
    return message


def made_up_keys(other: Document) -> list[str]:
    name = other.attachment.name
    return [
        "async-temp-files/2026/01/01/abcdefghijkl-report.pdf",
        name,  # another record's permanent file
        f"async-temp-files/../{name}",
        f"/{name}",
        "../../etc/passwd",
        "report.pdf",
    ]


def test_made_up_key_is_refused_on_create(gql, saved_doc):
    for key in made_up_keys(saved_doc):
        assert_create_refused(gql, {"key": key, "name": "report.pdf"})
    assert_doc(saved_doc.pk, "A", saved_doc.attachment.name, OTHER_PDF)
    assert Document.objects.count() == 1


def test_made_up_key_is_refused_on_update(gql, saved_doc):
    target = Document.objects.create(title="B")
    for key in made_up_keys(saved_doc):
        assert_update_refused(gql, target, {"key": key})
    assert_doc(saved_doc.pk, "A", saved_doc.attachment.name, OTHER_PDF)


def test_key_issued_for_another_field_is_refused(gql):
    extra_key = upload_pdf(gql, field=EXTRA)
    photo_key = upload_key(gql, PHOTO, "p.png", png_bytes(), "image/png")
    assert_create_refused(gql, {"key": extra_key})
    assert_create_refused(gql, {"key": photo_key})
    attachment_key = upload_pdf(gql)
    payload = create(gql, title="new", extra={"key": attachment_key})
    assert_refused(payload, "invalid_key", field="extra")
    assert Document.objects.count() == 0
    for key, content in [(extra_key, PDF), (photo_key, png_bytes()), (attachment_key, PDF)]:
        assert_upload_untouched(key, content)


def test_key_issued_to_another_user_is_refused(gql, make_gql, other_user):
    bob = make_gql(other_user)
    key = upload_pdf(bob)
    assert_create_refused(gql, {"key": key})
    assert_upload_untouched(key, PDF)
    # Its uploader still can.
    payload = create(bob, title="bob's", attachment={"key": key})
    assert payload["__typename"] == "DocumentType", payload
    assert_doc(payload["id"], "bob's", f"documents/{payload['id']}/report.pdf", PDF)


def test_key_issued_to_another_user_is_refused_on_update(gql, make_gql, other_user, saved_doc):
    bob = make_gql(other_user)
    key = upload_pdf(bob, instanceId=str(saved_doc.pk))
    assert_update_refused(gql, saved_doc, {"key": key})
    assert_upload_untouched(key, PDF)


def test_key_issued_for_record_a_is_refused_on_record_b(gql):
    a = Document.objects.create(title="A")
    b = Document.objects.create(title="B")
    key = upload_pdf(gql, instanceId=str(a.pk))
    assert_update_refused(gql, b, {"key": key})
    assert_create_refused(gql, {"key": key})
    assert_upload_untouched(key, PDF)
    assert not Document.objects.get(pk=a.pk).attachment
    # On record A it is accepted.
    payload = update(gql, a.pk, attachment={"key": key})
    assert payload["__typename"] == "DocumentType", payload
    assert_doc(a.pk, "A", f"documents/{a.pk}/report.pdf", PDF)


def test_key_issued_for_a_new_record_is_refused_on_an_existing_one(gql):
    existing = Document.objects.create(title="A")
    key = upload_pdf(gql)
    assert_update_refused(gql, existing, {"key": key})
    assert_upload_untouched(key, PDF)


def test_key_already_saved_to_another_record_is_refused(gql):
    key = upload_pdf(gql)
    first = create(gql, title="A", attachment={"key": key})
    assert first["__typename"] == "DocumentType", first
    final = f"documents/{first['id']}/report.pdf"
    assert_doc(first["id"], "A", final, PDF)

    assert_create_refused(gql, {"key": key})
    other = Document.objects.create(title="B")
    assert_update_refused(gql, other, {"key": key})
    assert_doc(first["id"], "A", final, PDF)
    assert AsyncTempFile.objects.get(key=key).object_pk == str(first["id"])


def test_key_without_an_upload_is_refused(gql):
    issued = issue(gql, ATTACHMENT, "report.pdf", contentType="application/pdf")
    key = issued["key"]
    assert_create_refused(gql, {"key": key})
    assert not default_storage.exists(key)
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk is None and row.moved_to_location == ""
    # The URL still works: upload, then submit again.
    response = post_file(gql, issued, PDF, "report.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    payload = create(gql, title="late", attachment={"key": key})
    assert payload["__typename"] == "DocumentType", payload
    assert_doc(payload["id"], "late", f"documents/{payload['id']}/report.pdf", PDF)


def test_upload_over_max_size_is_refused_by_the_upload_view(gql):
    issued = issue(gql, ATTACHMENT, "big.pdf", contentType="application/pdf")
    response = post_file(gql, issued, b"x" * (LIMIT + LIMIT // 2), "big.pdf", "application/pdf")
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "file_too_large"
    assert not default_storage.exists(issued["key"])
    assert AsyncTempFile.objects.get(key=issued["key"]).uploaded_at is None
    # So the key holds no upload, and a mutation refuses it.
    assert_create_refused(gql, {"key": issued["key"]})


@pytest.fixture
def oversized_key(gql) -> str:
    """A key whose object is over max_size: a storage that enforces no limit at upload (S3's POST
    policy through moto, a custom storage) can end up holding one; the filesystem view refuses it,
    so the object is planted directly."""
    key = issue(gql, ATTACHMENT, "big.pdf", contentType="application/pdf")["key"]
    assert default_storage.save(key, ContentFile(b"x" * (LIMIT + LIMIT // 2))) == key
    return key


def test_object_over_max_size_is_refused_on_create(gql, oversized_key):
    message = assert_create_refused(gql, {"key": oversized_key}, code="file_too_large")
    assert message["message"] == "The uploaded file is 1.5 MB; this field accepts at most 1 MB."
    assert default_storage.size(oversized_key) == LIMIT + LIMIT // 2
    row = AsyncTempFile.objects.get(key=oversized_key)
    assert row.object_pk is None and row.moved_to_location == ""


def test_object_over_max_size_is_refused_on_update(gql, saved_doc):
    key = issue(gql, ATTACHMENT, "big.pdf", contentType="application/pdf", instanceId=str(saved_doc.pk))["key"]
    assert default_storage.save(key, ContentFile(b"x" * (LIMIT + 1))) == key
    assert_update_refused(gql, saved_doc, {"key": key}, code="file_too_large")
    assert default_storage.size(key) == LIMIT + 1


def test_object_at_exactly_max_size_is_accepted(gql):
    key = issue(gql, ATTACHMENT, "max.pdf", contentType="application/pdf")["key"]
    body = b"%PDF-1.7\n" + b"y" * (LIMIT - 9)  # a PDF by its first bytes (uploads are sniffed)
    assert default_storage.save(key, ContentFile(body)) == key
    payload = create(gql, title="max", attachment={"key": key})
    assert payload["__typename"] == "DocumentType", payload
    assert default_storage.size(f"documents/{payload['id']}/max.pdf") == LIMIT


def test_empty_key_is_invalid_input(gql):
    assert_create_refused(gql, {"key": ""}, code="invalid_input")


def test_refusal_of_one_field_saves_nothing_of_the_others(gql):
    good = upload_key(gql, EXTRA, "data.bin", b"extra bytes")
    payload = create(gql, title="new", extra={"key": good}, attachment={"key": "async-temp-files/nope-x.pdf"})
    assert_refused(payload, "invalid_key")
    assert Document.objects.count() == 0
    assert_upload_untouched(good, b"extra bytes")


def test_missing_key_is_a_graphql_error(gql):
    result = gql.execute(CREATE, {"data": {"title": "new", "attachment": {"name": "x.pdf"}}})
    assert result.status < 500
    assert result.errors, result.body
    assert Document.objects.count() == 0


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------


def test_photo_width_and_height_fill_the_columns(gql):
    key = upload_key(gql, PHOTO, "p.png", png_bytes(3, 2), "image/png")
    payload = run(gql, CREATE_PHOTO, {"image": {"key": key, "name": "p.png", "width": 3, "height": 2}}, "createPhoto")
    assert payload["__typename"] == "PhotoType", payload
    photo = Photo.objects.get(pk=payload["id"])
    assert (photo.width, photo.height) == (3, 2)
    assert photo.image.name == "photos/p.png"
    image = payload["image"]
    assert (image["width"], image["height"]) == (3, 2)
    assert image["key"] == "photos/p.png"
    assert image["name"] == "p.png"
    assert fetch(image["downloadUrl"]) == png_bytes(3, 2)


def test_photo_update_with_new_dimensions(gql):
    key = upload_key(gql, PHOTO, "p.png", png_bytes(3, 2), "image/png")
    created = run(gql, CREATE_PHOTO, {"image": {"key": key, "width": 3, "height": 2}}, "createPhoto")
    pk = created["id"]
    key = upload_key(gql, PHOTO, "q.png", png_bytes(5, 4), "image/png", instanceId=pk)
    payload = run(gql, UPDATE_PHOTO, {"id": pk, "image": {"key": key, "width": 5, "height": 4}}, "updatePhoto")
    assert payload["__typename"] == "PhotoType", payload
    assert (payload["image"]["width"], payload["image"]["height"]) == (5, 4)
    photo = Photo.objects.get(pk=pk)
    assert (photo.width, photo.height) == (5, 4)
    assert photo.image.name == payload["image"]["key"] == "photos/q.png"


def test_photo_update_sending_the_current_key_back_never_opens_the_image(gql, monkeypatch):
    key = upload_key(gql, PHOTO, "p.png", png_bytes(3, 2), "image/png")
    created = run(gql, CREATE_PHOTO, {"image": {"key": key, "width": 3, "height": 2}}, "createPhoto")
    current = created["image"]["key"]
    storage = Photo._meta.get_field("image").storage
    monkeypatch.setattr(storage, "open", lambda *a, **k: pytest.fail(f"opened {a!r}: a download on a cloud storage"))
    payload = run(gql, UPDATE_PHOTO, {"id": created["id"], "image": {"key": current}}, "updatePhoto")
    assert payload["__typename"] == "PhotoType", payload
    assert (payload["image"]["key"], payload["image"]["width"], payload["image"]["height"]) == (current, 3, 2)


@pytest.mark.parametrize(
    ("width", "height"), [(0, 2), (3, 0), (-1, 2), (3, -5), (1_000_001, 2)], ids=["w0", "h0", "w-", "h-", "huge"]
)
def test_bad_photo_dimensions_are_invalid_input(gql, width, height):
    key = upload_key(gql, PHOTO, "p.png", png_bytes(3, 2), "image/png")
    value = {"key": key, "width": width, "height": height}
    payload = run(gql, CREATE_PHOTO, {"image": value}, "createPhoto")
    assert_refused(payload, "invalid_input", field="image")
    assert Photo.objects.count() == 0
    assert_upload_untouched(key, png_bytes(3, 2))


def test_bad_photo_dimensions_on_update_change_nothing(gql):
    key = upload_key(gql, PHOTO, "p.png", png_bytes(3, 2), "image/png")
    pk = run(gql, CREATE_PHOTO, {"image": {"key": key, "width": 3, "height": 2}}, "createPhoto")["id"]
    new_key = upload_key(gql, PHOTO, "q.png", png_bytes(5, 4), "image/png", instanceId=pk)
    payload = run(gql, UPDATE_PHOTO, {"id": pk, "image": {"key": new_key, "width": 0, "height": 4}}, "updatePhoto")
    assert_refused(payload, "invalid_input", field="image")
    photo = Photo.objects.get(pk=pk)
    assert (photo.image.name, photo.width, photo.height) == ("photos/p.png", 3, 2)
    assert_upload_untouched(new_key, png_bytes(5, 4))


# --------------------------------------------------------------------------------------------
# other failures and repeats
# --------------------------------------------------------------------------------------------


def test_other_field_error_keeps_the_upload_for_a_retry(gql):
    key = upload_pdf(gql)
    payload = create(gql, title="x" * 101, attachment={"key": key})
    message = single_message(payload)
    assert message["field"] == "title", message
    assert Document.objects.count() == 0
    assert_upload_untouched(key, PDF)
    payload = create(gql, title="fixed", attachment={"key": key})
    assert payload["__typename"] == "DocumentType", payload
    assert_doc(payload["id"], "fixed", f"documents/{payload['id']}/report.pdf", PDF)


def test_update_of_a_missing_record_keeps_the_upload(gql):
    doc = Document.objects.create(title="A")
    key = upload_pdf(gql, instanceId=str(doc.pk))
    payload = update(gql, doc.pk + 1000, attachment={"key": key})
    assert payload["__typename"] == "OperationInfo", payload
    assert_upload_untouched(key, PDF)
    assert not Document.objects.get(pk=doc.pk).attachment


def test_submitting_the_same_key_twice_to_the_same_record_keeps_the_file(gql):
    """A double submit (the form sent again with the temporary key) is harmless."""
    doc = Document.objects.create(title="A")
    key = upload_pdf(gql, instanceId=str(doc.pk))
    first = update(gql, doc.pk, attachment={"key": key})
    assert first["__typename"] == "DocumentType", first
    final = f"documents/{doc.pk}/report.pdf"
    assert first["attachment"]["key"] == final
    second = update(gql, doc.pk, title="again", attachment={"key": key})
    assert second["__typename"] == "DocumentType", second
    doc = assert_doc(doc.pk, "again", final, PDF)
    assert_permanent_file(second["attachment"], doc, "report.pdf", PDF)


def test_long_filename_fits_the_column(gql):
    max_length = Document._meta.get_field("attachment").max_length
    filename = "r" * (max_length + 100) + ".pdf"
    key = upload_pdf(gql, filename)
    assert len(key) <= max_length
    payload = create(gql, title="long", attachment={"key": key, "name": filename})
    assert payload["__typename"] == "DocumentType", payload
    doc = Document.objects.get(pk=payload["id"])
    assert len(doc.attachment.name) <= max_length
    assert doc.attachment.name.startswith(f"documents/{doc.pk}/")
    assert doc.attachment.name.endswith(".pdf")
    assert read(doc.attachment.name) == PDF
    assert payload["attachment"]["key"] == doc.attachment.name
    assert fetch(payload["attachment"]["downloadUrl"]) == PDF


def test_photo_without_dimensions_sent_reads_them_from_the_image(gql):
    key = upload_key(gql, PHOTO, "p.png", png_bytes(3, 2), "image/png")
    payload = run(gql, CREATE_PHOTO, {"image": {"key": key}}, "createPhoto")
    assert payload["__typename"] == "PhotoType", payload
    photo = Photo.objects.get(pk=payload["id"])
    assert (photo.width, photo.height) == (3, 2)
    assert (payload["image"]["width"], payload["image"]["height"]) == (3, 2)
    assert payload["image"]["key"] == photo.image.name == "photos/p.png"


def test_one_key_in_two_mutations_of_one_operation(gql):
    """Mutations run one after the other: the second finds the key taken and changes nothing."""
    key = upload_pdf(gql)
    operation = f"""
    mutation($a: DocumentInput!, $b: DocumentInput!) {{
      first: createDocument(data: $a) {{ __typename ... on DocumentType {{ id attachment {FILE} }} {MESSAGES} }}
      second: createDocument(data: $b) {{ __typename ... on DocumentType {{ id attachment {FILE} }} {MESSAGES} }}
    }}
    """
    result = gql.execute(
        operation, {"a": {"title": "A", "attachment": {"key": key}}, "b": {"title": "B", "attachment": {"key": key}}}
    )
    assert result.errors is None, result.body
    first, second = result.data["first"], result.data["second"]
    assert first["__typename"] == "DocumentType", first
    assert_refused(second, "invalid_key")
    doc = assert_doc(first["id"], "A", f"documents/{first['id']}/report.pdf", PDF)
    assert_permanent_file(first["attachment"], doc, "report.pdf", PDF)
    assert Document.objects.count() == 1


def test_key_of_another_field_of_the_same_record_is_refused(gql, saved_doc):
    key = upload_key(gql, EXTRA, "data.bin", b"extra bytes", instanceId=str(saved_doc.pk))
    assert update(gql, saved_doc.pk, extra={"key": key})["__typename"] == "DocumentType"
    doc = Document.objects.get(pk=saved_doc.pk)
    assert doc.extra.name == "extras/data.bin"
    # The extra field's current key is not a key the attachment field may take.
    assert_update_refused(gql, doc, {"key": doc.extra.name})
    payload = update(gql, doc.pk, extra={"key": doc.attachment.name})
    assert_refused(payload, "invalid_key", field="extra")
    doc = Document.objects.get(pk=saved_doc.pk)
    assert doc.extra.name == "extras/data.bin"
    assert read("extras/data.bin") == b"extra bytes"


def test_inline_literals_work_like_variables(gql, saved_doc):
    key = upload_pdf(gql, "inline.pdf")
    result = gql.execute(
        f'mutation {{ createDocument(data: {{title: "inline", attachment: {{key: "{key}", name: "inline.pdf"}}}}) '
        f"{{ __typename ... on DocumentType {{ id attachment {FILE} }} {MESSAGES} }} }}"
    )
    assert result.errors is None, result.body
    payload = result.data["createDocument"]
    assert payload["__typename"] == "DocumentType", payload
    doc = assert_doc(payload["id"], "inline", f"documents/{payload['id']}/inline.pdf", PDF)
    assert_permanent_file(payload["attachment"], doc, "inline.pdf", PDF)

    result = gql.execute(
        f'mutation {{ updateDocument(data: {{id: "{saved_doc.pk}", attachment: {{key: "documents/1/nope.pdf"}}}}) '
        f"{{ __typename {MESSAGES} }} }}"
    )
    assert result.errors is None, result.body
    assert_refused(result.data["updateDocument"], "invalid_key")
    assert_doc(saved_doc.pk, "A", saved_doc.attachment.name, OTHER_PDF)

    result = gql.execute(
        f'mutation {{ updateDocument(data: {{id: "{saved_doc.pk}", attachment: null}}) '
        "{ __typename ... on DocumentType { attachment { key } } } }"
    )
    assert result.errors is None, result.body
    assert result.data["updateDocument"] == {"__typename": "DocumentType", "attachment": None}
    assert not Document.objects.get(pk=saved_doc.pk).attachment


def test_the_name_sent_does_not_rename_the_file(gql):
    """The permanent name comes from the filename checked when the URL was issued, not from AsyncFileInput.name."""
    key = upload_pdf(gql, "report.pdf")
    payload = create(gql, title="t", attachment={"key": key, "name": "../../evil.exe"})
    assert payload["__typename"] == "DocumentType", payload
    doc = assert_doc(payload["id"], "t", f"documents/{payload['id']}/report.pdf", PDF)
    assert payload["attachment"]["name"] == "report.pdf"
    assert payload["attachment"]["key"] == doc.attachment.name


def test_a_storage_failing_to_check_the_upload_is_a_field_error(gql, monkeypatch):
    key = upload_pdf(gql)
    storage = Document._meta.get_field("attachment").storage

    def broken(*args, **kwargs):
        raise ConnectionError("storage unreachable")

    # Unreachable: every question the check may ask fails (the filesystem backend asks
    # version_and_size, one stat, rather than exists).
    for method in ("exists", "version_and_size", "object_version", "size", "read_range"):
        monkeypatch.setattr(storage, method, broken)
    assert_refused(create(gql, title="new", attachment={"key": key}), "invalid_key")
    assert Document.objects.count() == 0
    monkeypatch.undo()
    assert_upload_untouched(key, PDF)


def test_create_checks_the_upload_in_storage_once(gql, monkeypatch):
    """strawberry_django's create assigns the value to a throwaway instance first: one storage check."""
    key = upload_key(gql, PHOTO, "p.png", png_bytes(3, 2), "image/png")
    storage = Photo._meta.get_field("image").storage
    calls = []
    verify = storage.verify_upload

    def counting(*args, **kwargs):
        calls.append(args)
        return verify(*args, **kwargs)

    monkeypatch.setattr(storage, "verify_upload", counting)
    payload = run(gql, CREATE_PHOTO, {"image": {"key": key}}, "createPhoto")
    assert payload["__typename"] == "PhotoType", payload
    assert (payload["image"]["width"], payload["image"]["height"]) == (3, 2)
    assert len(calls) == 1


# --------------------------------------------------------------------------------------------
# every field error in one answer
# --------------------------------------------------------------------------------------------


def field_codes(payload: dict[str, Any]) -> set[tuple[str, str]]:
    assert payload["__typename"] == "OperationInfo", payload
    return {(m["field"], m["code"]) for m in payload["messages"]}


def test_create_reports_every_field_error_at_once(gql, oversized_key):
    rows = AsyncTempFile.objects.order_by("pk").values_list("key", "object_pk", "moved_to_location")
    rows_before = list(rows)
    payload = create(
        gql, title="x" * 101, attachment={"key": oversized_key}, extra={"key": "async-temp-files/nope-x.bin"}
    )
    assert field_codes(payload) == {("title", "max_length"), ("attachment", "file_too_large"), ("extra", "invalid_key")}
    assert Document.objects.count() == 0
    assert list(rows.all()) == rows_before
    assert default_storage.size(oversized_key) == LIMIT + LIMIT // 2


def test_a_good_file_next_to_two_field_errors_is_kept_for_a_retry(gql):
    good = upload_key(gql, EXTRA, "data.bin", b"extra bytes")
    other = upload_key(gql, EXTRA, "other.bin", b"other bytes")  # issued for another field
    payload = create(gql, title="x" * 101, attachment={"key": other}, extra={"key": good})
    assert field_codes(payload) == {("title", "max_length"), ("attachment", "invalid_key")}
    assert Document.objects.count() == 0
    assert_upload_untouched(good, b"extra bytes")
    assert_upload_untouched(other, b"other bytes")


def test_create_reports_a_malformed_file_value_with_the_other_errors(gql):
    payload = create(gql, title="x" * 101, attachment={"key": ""})
    assert field_codes(payload) == {("title", "max_length"), ("attachment", "invalid_input")}
    assert Document.objects.count() == 0


def test_update_reports_every_field_error_at_once(gql, saved_doc):
    key = upload_pdf(gql, "new.pdf", PDF)  # issued for a new record: refused on this one
    payload = update(gql, saved_doc.pk, title="x" * 101, attachment={"key": key})
    assert field_codes(payload) == {("title", "max_length"), ("attachment", "invalid_key")}
    assert_doc(saved_doc.pk, "A", saved_doc.attachment.name, OTHER_PDF)
    assert_upload_untouched(key, PDF)


def test_a_refused_graphql_value_is_never_saved_without_full_clean(db, user):
    """The model refuses to save a refused API value even when nobody calls full_clean()."""
    from django.test import RequestFactory

    from async_uploads.exceptions import UploadRejected
    from async_uploads.inputs import RawFileInput

    request = RequestFactory().post("/")
    request.user = user
    doc = Document(title="t")
    doc.attachment = RawFileInput({"key": "async-temp-files/nope-x.pdf"}, request=request)  # no error yet
    with pytest.raises(UploadRejected) as raised:
        doc.save()
    assert raised.value.error_dict["attachment"][0].code == "invalid_key"
    assert Document.objects.count() == 0
    doc.attachment = ""  # a new value replaces the refused one
    doc.save()
    assert Document.objects.get(pk=doc.pk).attachment.name == ""
