"""The rules a submitted key must pass before a field accepts it (AsyncFileInputData.validate_key).

Every rejection must leave everything as it was: the record unsaved or on its old value, the
uploaded object still at its temporary key, and its AsyncTempFile row unclaimed so the upload can
be submitted again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from async_uploads.exceptions import UploadRejected
from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from tests.conftest import Uploader, field_id, png_bytes, read, request_for
from tests.testapp.models import Document, Photo, PublicNote

PDF = b"%PDF-1.4 the real report"
OTHER_PDF = b"%PDF-1.4 someone else's report"

pytestmark = pytest.mark.django_db(transaction=True)


# --------------------------------------------------------------------------- helpers / fixtures


def data(key: str, name: str = "report.pdf", request=None, **extra: Any) -> AsyncFileInputData:
    return AsyncFileInputData.create_from_user_input({"key": key, "name": name, **extra}, request=request)


def error_code(exc: pytest.ExceptionInfo, field: str = "attachment") -> str:
    assert hasattr(exc.value, "error_dict"), exc.value
    assert field in exc.value.error_dict, exc.value.error_dict
    return exc.value.error_dict[field][0].code


def assert_upload_untouched(key: str, content: bytes) -> None:
    """The upload is still at its key, with its bytes, and free to be submitted again."""
    assert default_storage.exists(key), f"temporary object {key!r} was removed"
    with default_storage.open(key, "rb") as fh:
        assert fh.read() == content
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk is None, f"row was claimed by {row.object_pk}"
    assert row.moved_to_location == ""
    assert row.error is None


@pytest.fixture
def alice_req(user):
    return request_for(user)


@pytest.fixture
def bob_req(other_user):
    return request_for(other_user)


@pytest.fixture
def upload_pdf(uploader) -> Callable[..., str]:
    def upload(filename: str = "report.pdf", content: bytes = PDF, **extra: Any) -> str:
        return uploader.upload(field_id(Document, "attachment"), filename, content, "application/pdf", **extra)

    return upload


@pytest.fixture
def saved_doc(upload_pdf, alice_req) -> Document:
    """A record that already holds a permanent file."""
    key = upload_pdf("original.pdf", OTHER_PDF)
    doc = Document(title="A")
    doc.attachment = data(key, "original.pdf", alice_req)
    doc.save()
    doc = Document.objects.get(pk=doc.pk)
    assert doc.attachment.name == f"documents/{doc.pk}/original.pdf"
    return doc


def assert_doc_file(doc: Document, name: str, content: bytes) -> None:
    doc = Document.objects.get(pk=doc.pk)
    assert doc.attachment.name == name
    assert default_storage.exists(name)
    assert read(name) == content


def assert_rejected_on_new(value: AsyncFileInputData, code: str = "invalid_key", field: str = "attachment"):
    """Assigning ``value`` to a new Document fails; the instance keeps no trace of it."""
    before = Document.objects.count()
    doc = Document(title="new")
    with pytest.raises(ValidationError) as exc:
        setattr(doc, field, value)
    assert error_code(exc, field) == code
    assert not getattr(doc, field), "the rejected key stayed on the instance"
    assert Document.objects.count() == before
    return exc


def assert_rejected_on_existing(doc: Document, value: AsyncFileInputData, code: str = "invalid_key"):
    """Assigning ``value`` to ``doc`` fails; it keeps its file, even when saved afterwards."""
    doc = Document.objects.get(pk=doc.pk)
    old_name = doc.attachment.name
    old_bytes = read(old_name) if old_name else None
    with pytest.raises(ValidationError) as exc:
        doc.attachment = value
    assert error_code(exc) == code
    assert doc.attachment.name == old_name
    doc.save()  # a view that ignores the error must still not change the file
    if old_name:
        assert_doc_file(doc, old_name, old_bytes)
    else:
        assert not Document.objects.get(pk=doc.pk).attachment
    return exc


# --------------------------------------------------------------------------- path tricks


def _malformed_keys(key: str, other_pk: int) -> list[str]:
    """Keys with path tricks: not even shaped like a temporary key."""
    directory, base = key.rsplit("/", 1)
    secret = base.partition("-")[0]
    return [
        f"async-temp-files/../documents/{other_pk}/original.pdf",
        f"{directory}/{secret}-../../original.pdf",
        f"{directory}/{secret}-../../../documents/{other_pk}/original.pdf",
        f"{directory}/../{base}",
        f"{directory}/./{base}",
        f"{directory}//{base}",
        f"/{key}",
        f"/async-temp-files/../documents/{other_pk}/original.pdf",
        f"async-temp-files%2F..%2Fdocuments%2F{other_pk}%2Foriginal.pdf",
        f"async-temp-files/%2E%2E/documents/{other_pk}/original.pdf",
        key.replace("/", "%2F"),
        key.replace("/", "\\"),
        f"async-temp-files\\..\\documents\\{other_pk}\\original.pdf",
        f"{key} ",
        f" {key}",
        f"{key}\n",
        f"{key}\x00",
        key.upper(),
        # Another record's permanent file.
        f"documents/{other_pk}/original.pdf",
    ]


def _lookalike_keys(key: str) -> list[str]:
    """Well-formed keys that differ from an issued one only by letter case."""
    directory, base = key.rsplit("/", 1)
    secret, _, filename = base.partition("-")
    return [f"{directory}/{secret.swapcase()}-{filename}", f"{directory}/{secret}-{filename.upper()}"]


def _path_tricks(key: str, other_pk: int) -> list[str]:
    return _malformed_keys(key, other_pk) + _lookalike_keys(key)


def test_path_tricks_are_rejected_on_a_new_record(upload_pdf, saved_doc, alice_req):
    key = upload_pdf()
    for bad in _path_tricks(key, saved_doc.pk):
        assert_rejected_on_new(data(bad, request=alice_req))
    assert_upload_untouched(key, PDF)
    assert_doc_file(saved_doc, f"documents/{saved_doc.pk}/original.pdf", OTHER_PDF)
    assert Document.objects.count() == 1


def test_path_tricks_are_rejected_on_an_existing_record(upload_pdf, saved_doc, alice_req):
    target = Document.objects.create(title="B")
    key = upload_pdf(instance_id=target.pk)
    for bad in _path_tricks(key, saved_doc.pk):
        assert_rejected_on_existing(target, data(bad, request=alice_req))
    assert_upload_untouched(key, PDF)
    assert_doc_file(saved_doc, f"documents/{saved_doc.pk}/original.pdf", OTHER_PDF)


def test_another_records_permanent_name_is_rejected_without_request(saved_doc, upload_pdf):
    """Even without a request to check the user against, another record's file is never taken."""
    name = saved_doc.attachment.name
    assert_rejected_on_new(AsyncFileInputData(key=name, name="x.pdf"))
    other = Document.objects.create(title="B")
    assert_rejected_on_existing(other, AsyncFileInputData(key=name, name="x.pdf"))
    assert_doc_file(saved_doc, name, OTHER_PDF)


def test_case_variant_of_an_issued_key_is_rejected_even_if_the_database_matches_it(upload_pdf, alice_req):
    """The Python-side comparison guards MySQL/MariaDB collations; prove it on any database."""
    key = upload_pdf()
    directory, base = key.rsplit("/", 1)
    variant = f"{directory}/{base.swapcase()}"
    # Simulate a case-insensitive collation: store the row under the variant's spelling lookup.
    from django.db.models import QuerySet

    real_filter = QuerySet.filter

    def ci_filter(self, *args, **kwargs):
        if self.model is AsyncTempFile and kwargs.get("key") == variant:
            kwargs = {**kwargs, "key": key}
        return real_filter(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(QuerySet, "filter", ci_filter)
        assert_rejected_on_new(data(variant, request=alice_req))
    assert_upload_untouched(key, PDF)


def test_storage_never_takes_a_tricky_key_for_a_temporary_one(upload_pdf):
    key = upload_pdf()
    assert default_storage.is_temporary_path(key)
    for bad in _malformed_keys(key, 1):
        assert not default_storage.is_temporary_path(bad), bad


def test_a_row_holding_a_tricky_key_is_still_rejected(saved_doc, user, alice_req):
    """Even if a row with a path-trick key existed (older version, manual insert), it is never taken."""
    from django.contrib.contenttypes.models import ContentType

    name = saved_doc.attachment.name
    for bad in [f"async-temp-files/../{name}", f"async-temp-files/2024/01/01/abc-../../../{name}"]:
        AsyncTempFile.objects.create(
            key=bad,
            original_filename="x.pdf",
            content_type=ContentType.objects.get_for_model(Document),
            field_name="attachment",
            user=user,
        )
        assert_rejected_on_new(data(bad, request=alice_req))
        doc = Document(title="server side")
        doc.attachment = bad  # trusted server code: stored as given, but never moved
        doc.save()
        assert Document.objects.get(pk=doc.pk).attachment.name == bad
        assert AsyncTempFile.objects.get(key=bad).object_pk is None
    assert_doc_file(saved_doc, name, OTHER_PDF)


# --------------------------------------------------------------------------- field, user, record


def test_key_issued_for_another_field_is_rejected(uploader, upload_pdf, alice_req):
    extra_key = uploader.upload(field_id(Document, "extra"), "report.pdf", PDF, "application/pdf")
    photo_key = uploader.upload(field_id(Photo, "image"), "a.png", png_bytes(), "image/png")
    assert_rejected_on_new(data(extra_key, request=alice_req))
    assert_rejected_on_new(data(photo_key, "a.png", request=alice_req))
    attachment_key = upload_pdf()
    assert_rejected_on_new(data(attachment_key, request=alice_req), field="extra")
    for key, content in [(extra_key, PDF), (photo_key, png_bytes()), (attachment_key, PDF)]:
        assert_upload_untouched(key, content)
    # Without a request (server-side code) the field is still checked.
    assert_rejected_on_new(AsyncFileInputData(key=extra_key, name="report.pdf"))
    assert_upload_untouched(extra_key, PDF)


def test_key_issued_to_another_user_is_rejected(upload_pdf, bob_req, alice_req):
    key = upload_pdf()
    assert_rejected_on_new(data(key, request=bob_req))
    assert_upload_untouched(key, PDF)
    # An anonymous request cannot take a user's key either.
    assert_rejected_on_new(data(key, request=request_for(None, Client().session)))
    assert_upload_untouched(key, PDF)
    # Its owner still can.
    doc = Document(title="mine")
    doc.attachment = data(key, request=alice_req)
    doc.save()
    assert_doc_file(doc, f"documents/{doc.pk}/report.pdf", PDF)
    assert not default_storage.exists(key)


def _public_note_key(client: Client) -> str:
    return Uploader(client).upload(field_id(PublicNote, "file"), "note.txt", b"anon note", "text/plain")


def test_anonymous_key_is_bound_to_its_session():
    owner, stranger = Client(), Client()
    key = _public_note_key(owner)
    assert AsyncTempFile.objects.get(key=key).user_id is None

    note = PublicNote()
    with pytest.raises(ValidationError) as exc:
        note.file = data(key, "note.txt", request_for(None, stranger.session))
    assert error_code(exc, "file") == "invalid_key"
    # A request that has no session at all is not the owner either.
    with pytest.raises(ValidationError) as exc:
        note.file = data(key, "note.txt", request_for(None))
    assert error_code(exc, "file") == "invalid_key"
    assert not note.file
    assert PublicNote.objects.count() == 0
    assert_upload_untouched(key, b"anon note")

    note.file = data(key, "note.txt", request_for(None, owner.session))
    note.save()
    note.refresh_from_db()
    assert note.file.name == "notes/note.txt"
    assert note.file.read() == b"anon note"
    assert not default_storage.exists(key)


def test_anonymous_key_is_rejected_for_a_logged_in_user(user):
    key = _public_note_key(Client())
    note = PublicNote()
    with pytest.raises(ValidationError) as exc:
        note.file = data(key, "note.txt", request_for(user))
    assert error_code(exc, "file") == "invalid_key"
    assert_upload_untouched(key, b"anon note")


def test_key_issued_for_record_a_is_rejected_on_record_b(upload_pdf, alice_req):
    a = Document.objects.create(title="A")
    b = Document.objects.create(title="B")
    key = upload_pdf(instance_id=a.pk)
    assert AsyncTempFile.objects.get(key=key).instance_pk == str(a.pk)
    assert_rejected_on_existing(b, data(key, request=alice_req))
    # Nor on a new record.
    assert_rejected_on_new(data(key, request=alice_req))
    assert_upload_untouched(key, PDF)
    assert not Document.objects.get(pk=a.pk).attachment


def test_key_issued_for_a_new_record_is_rejected_on_an_existing_one(upload_pdf, alice_req):
    existing = Document.objects.create(title="A")
    key = upload_pdf()
    exc = assert_rejected_on_existing(existing, data(key, request=alice_req))
    assert "record's id" in exc.value.error_dict["attachment"][0].message
    assert_upload_untouched(key, PDF)


def test_key_issued_for_record_a_is_accepted_on_a(upload_pdf, alice_req):
    a = Document.objects.create(title="A")
    key = upload_pdf(instance_id=a.pk)
    a = Document.objects.get(pk=a.pk)
    a.attachment = data(key, request=alice_req)
    a.save()
    assert_doc_file(a, f"documents/{a.pk}/report.pdf", PDF)
    assert not default_storage.exists(key)
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk == str(a.pk)
    assert row.moved_to_location == f"documents/{a.pk}/report.pdf"


# --------------------------------------------------------------------------- the object itself


def test_key_without_an_upload_is_rejected(uploader, alice_req):
    issued = uploader.issue(field_id(Document, "attachment"), "report.pdf", content_type="application/pdf")
    key = issued["key"]
    assert_rejected_on_new(data(key, request=alice_req))
    assert not default_storage.exists(key)
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk is None and row.moved_to_location == ""
    # The URL is still usable: upload, then submit again.
    response = uploader.put_bytes(issued["uploadUrl"], PDF, "report.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    doc = Document(title="late")
    doc.attachment = data(key, request=alice_req)
    doc.save()
    assert_doc_file(doc, f"documents/{doc.pk}/report.pdf", PDF)


def test_object_planted_past_max_size_is_rejected(uploader, alice_req):
    issued = uploader.issue(field_id(Document, "attachment"), "report.pdf", content_type="application/pdf")
    key = issued["key"]
    limit = Document._meta.get_field("attachment").max_size_bytes
    assert limit == 1024 * 1024
    big = b"x" * (limit + 1)
    assert default_storage.save(key, ContentFile(big)) == key
    assert_rejected_on_new(data(key, request=alice_req), code="file_too_large")
    assert default_storage.exists(key)
    assert default_storage.size(key) == limit + 1
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk is None and row.moved_to_location == ""


def test_object_planted_at_exactly_max_size_is_accepted(uploader, alice_req):
    key = uploader.issue(field_id(Document, "attachment"), "report.pdf", content_type="application/pdf")["key"]
    limit = Document._meta.get_field("attachment").max_size_bytes
    body = b"%PDF-1.4 " + b"y" * (limit - 9)
    assert default_storage.save(key, ContentFile(body)) == key
    doc = Document(title="max")
    doc.attachment = data(key, request=alice_req)
    doc.save()
    assert_doc_file(doc, f"documents/{doc.pk}/report.pdf", body)


# --------------------------------------------------------------------------- reuse of a key


def test_key_saved_to_a_is_rejected_for_new_record_b(upload_pdf, alice_req):
    key = upload_pdf()
    a = Document(title="A")
    a.attachment = data(key, request=alice_req)
    a.save()
    final = f"documents/{a.pk}/report.pdf"
    assert_doc_file(a, final, PDF)

    assert_rejected_on_new(data(key, request=alice_req))
    b = Document.objects.create(title="B")
    assert_rejected_on_existing(b, data(key, request=alice_req))
    assert_doc_file(a, final, PDF)
    assert not Document.objects.get(pk=b.pk).attachment
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk == str(a.pk) and row.moved_to_location == final


def test_double_submit_of_the_same_key_for_the_same_record_keeps_its_file(upload_pdf, alice_req, media_files):
    existing = Document.objects.create(title="A")
    key = upload_pdf(instance_id=existing.pk)
    first = Document.objects.get(pk=existing.pk)
    first.attachment = data(key, request=alice_req)
    first.save()
    final = f"documents/{existing.pk}/report.pdf"
    assert_doc_file(existing, final, PDF)
    files_before = media_files()

    # The form is submitted again with the same key, for a freshly loaded record.
    again = Document.objects.get(pk=existing.pk)
    again.attachment = data(key, request=alice_req)
    assert again.attachment.name == final
    again.title = "A2"
    again.save()

    assert_doc_file(existing, final, PDF)
    assert Document.objects.get(pk=existing.pk).title == "A2"
    assert media_files() == files_before, "a second move happened"
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk == str(existing.pk) and row.moved_to_location == final and row.error is None


def test_double_submit_for_a_record_created_with_the_key(upload_pdf, alice_req, media_files):
    key = upload_pdf()
    doc = Document(title="A")
    doc.attachment = data(key, request=alice_req)
    doc.save()
    final = f"documents/{doc.pk}/report.pdf"
    files_before = media_files()
    again = Document.objects.get(pk=doc.pk)
    again.attachment = data(key, request=alice_req)
    again.save()
    assert_doc_file(doc, final, PDF)
    assert media_files() == files_before


def test_current_value_is_always_accepted(saved_doc, bob_req, media_files):
    name = saved_doc.attachment.name
    files_before = media_files()
    # Even from another user, and even though it is not a temporary key: it is already the record's.
    for request in (bob_req, None):
        doc = Document.objects.get(pk=saved_doc.pk)
        doc.attachment = data(name, "original.pdf", request)
        assert doc.attachment.name == name
        doc.save()
        assert_doc_file(doc, name, OTHER_PDF)
    assert media_files() == files_before


@pytest.fixture
def media_files(_media_root) -> Callable[[], dict[str, int]]:
    def snapshot() -> dict[str, int]:
        root = _media_root
        if not root.exists():
            return {}
        return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}

    return snapshot


# --------------------------------------------------------------------------- create_from_user_input


@pytest.mark.parametrize(
    "values",
    [
        None,
        "async-temp-files/2024/01/01/abc-x.pdf",
        ["async-temp-files/2024/01/01/abc-x.pdf"],
        42,
        {"key": "k", "name": "x", "evil": 1},
        {"key": "k", "__class__": "x"},
        {},
        {"name": "x.pdf"},
        {"key": ""},
        {"key": None},
        {"key": 123},
        {"key": ["a"]},
        {"key": {"a": 1}},
        {"key": "k", "name": 5},
        {"key": "k", "name": ["x"]},
        {"key": "k", "error": 5},
        {"key": "k", "width": -1, "height": 2},
        {"key": "k", "width": 3, "height": -2},
        {"key": "k", "width": 0, "height": 2},
        {"key": "k", "width": 3, "height": 0},
        {"key": "k", "width": "abc", "height": 2},
        {"key": "k", "width": 3, "height": "2px"},
        {"key": "k", "width": True, "height": 2},
        {"key": "k", "width": 3, "height": False},
        {"key": "k", "width": 2.5, "height": 2},
        {"key": "k", "width": 3, "height": 1.1},
        {"key": "k", "width": 1_000_001, "height": 2},
        {"key": "k", "width": 3, "height": 10**30},
        {"key": "k", "width": [3], "height": 2},
        {"key": "k", "width": float("nan"), "height": 2},
        {"key": "k", "width": float("inf"), "height": 2},
    ],
)
def test_create_from_user_input_rejects(values):
    with pytest.raises(ValidationError) as exc:
        AsyncFileInputData.create_from_user_input(values)
    assert isinstance(exc.value, UploadRejected)
    codes = (
        {e.code for e in exc.value.error_list}
        if not hasattr(exc.value, "error_dict")
        else {e.code for errors in exc.value.error_dict.values() for e in errors}
    )
    assert codes == {"invalid_input"}


def test_create_from_user_input_accepts_and_normalises():
    value = AsyncFileInputData.create_from_user_input(
        {"key": "k", "name": "a.png", "width": "3", "height": 2.0, "url": "https://ignored.example/x"}
    )
    assert (value.key, value.name, value.width, value.height, value.error) == ("k", "a.png", 3, 2, None)
    assert value.request is None
    value = AsyncFileInputData.create_from_user_input({"key": "k", "width": 1_000_000, "height": 1})
    assert (value.name, value.width, value.height) == ("", 1_000_000, 1)
    value = AsyncFileInputData.create_from_user_input({"key": "k", "width": None, "height": ""})
    assert (value.width, value.height) == (None, None)


def test_client_error_is_rejected_at_assignment(upload_pdf, alice_req, saved_doc):
    key = upload_pdf()
    value = data(key, request=alice_req, error="network down")
    assert value.error == "network down"
    assert_rejected_on_new(value, code="invalid_input")
    assert_rejected_on_existing(saved_doc, data(key, request=alice_req, error="network down"), code="invalid_input")
    assert_upload_untouched(key, PDF)


def test_temporary_key_secrets_are_letters_and_digits_of_the_asked_length_and_all_differ():
    import string
    from collections import Counter

    from async_uploads.names import temporary_key

    keys = [temporary_key("a.txt", prefix="p", secret_length=12) for _ in range(5000)]
    secrets = [key.split("/")[-1].split("-", 1)[0] for key in keys]
    assert len(set(secrets)) == len(secrets)
    assert all(len(s) == 12 for s in secrets)
    counts = Counter("".join(secrets))
    # Every one of the 62 characters turns up, none far more often than the others: 60,000 draws are
    # about 968 each (standard deviation 31); b % 62 over all 256 byte values would give 8 of them
    # about 1,170.
    assert set(counts) == set(string.ascii_letters + string.digits)
    assert max(counts.values()) < 1110 and min(counts.values()) > 830, counts.most_common(3)
