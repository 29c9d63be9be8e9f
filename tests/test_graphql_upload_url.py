"""``generateUploadUrl`` / ``generateUploadUrls``: what a GraphQL client gets back, and every refusal.

Every test runs through the sync view and the async view (the ``gql`` fixture). Every refusal
also checks that no ``AsyncTempFile`` row was recorded.
"""

from __future__ import annotations

import datetime
import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from async_uploads.models import AsyncTempFile
from async_uploads.registry import default_async_field_registry
from tests.graphql_client import ISSUE, issue, messages, post_file, single_message
from tests.testapp.models import Document, Photo, PublicNote, other_registry

pytestmark = pytest.mark.django_db(transaction=True)

ATTACHMENT = "TESTAPP_DOCUMENT_ATTACHMENT"
EXTRA = "TESTAPP_DOCUMENT_EXTRA"
PHOTO = "TESTAPP_PHOTO_IMAGE"
NOTE = "TESTAPP_PUBLICNOTE_FILE"
LIMIT = 1024 * 1024  # Document.attachment max_size=1 (MB)

BATCH = """
mutation($input: [GenerateUploadUrlInput!]!) {
  generateUploadUrls(input: $input) {
    __typename
    ... on IssuedUpload { key upload { url method provider fileFieldName } }
    ... on OperationInfo { messages { kind code field message } }
  }
}
"""


def key_dates() -> set[str]:
    now = timezone.now()
    return {d.strftime("%Y/%m/%d") for d in (now.date(), (now - datetime.timedelta(minutes=1)).date())}


def assert_refused(payload: dict, code: str, field: str | None, kind: str = "VALIDATION") -> dict:
    # Checked first: whatever the answer, a refusal must not have recorded a key.
    assert AsyncTempFile.objects.count() == 0
    message = single_message(payload)
    assert message["code"] == code, message
    assert message["field"] == field, message
    assert message["kind"] == kind, message
    return message


def assert_graphql_error(result) -> None:
    """A request the schema refuses: an errors list, no data, no crash, nothing recorded."""
    assert result.status < 500
    assert result.errors, result.body
    assert not result.data or result.data.get("generateUploadUrl") is None, result.body
    assert AsyncTempFile.objects.count() == 0


# --------------------------------------------------------------------------------------------
# Success
# --------------------------------------------------------------------------------------------


def test_success_payload_shape(gql, user):
    before = timezone.now()
    payload = issue(gql, ATTACHMENT, "report.pdf", contentType="application/pdf", size=1234)
    after = timezone.now()
    assert payload["__typename"] == "IssuedUpload", payload
    assert set(payload) == {"__typename", "key", "upload"}

    key = payload["key"]
    match = re.fullmatch(r"async-temp-files/(\d{4}/\d{2}/\d{2})/([A-Za-z0-9]{12})-report\.pdf", key)
    assert match, key
    assert match.group(1) in key_dates()

    upload = payload["upload"]
    assert set(upload) == {"url", "method", "provider", "fileFieldName", "expiresAt", "fields", "headers"}
    parts = urlsplit(upload["url"])
    assert parts.scheme == "http" and parts.netloc == "testserver", upload["url"]
    assert parts.path == reverse("async_uploads:filesystem-upload")
    assert parts.query.startswith("token=")
    assert upload["method"] == "POST"
    assert upload["provider"] == "FILESYSTEM"
    assert upload["fileFieldName"] == "file"
    assert upload["fields"] == []
    assert upload["headers"] == []
    expires = datetime.datetime.fromisoformat(upload["expiresAt"])
    assert expires.tzinfo is not None
    hour, margin = datetime.timedelta(seconds=3600), datetime.timedelta(seconds=2)
    assert before + hour - margin <= expires <= after + hour + margin

    row = AsyncTempFile.objects.get()
    assert row.key == key
    assert row.original_filename == "report.pdf"
    assert row.field_name == "attachment"
    assert row.content_type.model_class() is Document
    assert row.user_id == user.pk
    assert row.instance_pk is None
    assert row.declared_size == 1234
    assert row.declared_content_type == "application/pdf"
    assert row.uploaded_at is None


def test_issued_url_takes_the_upload(gql):
    payload = issue(gql, ATTACHMENT, "report.pdf", contentType="application/pdf", size=5)
    response = post_file(gql, payload, b"%PDF!", "report.pdf", "application/pdf")
    assert response.status_code == 201, response.content
    assert response.json() == {"key": payload["key"], "size": 5}
    assert AsyncTempFile.objects.get().uploaded_at is not None


def test_upload_url_expiry_setting_is_honoured(gql, settings):
    settings.ASYNC_UPLOADS = {"UPLOAD_URL_EXPIRY": 60}
    before = timezone.now()
    payload = issue(gql, ATTACHMENT, "report.pdf")
    after = timezone.now()
    expires = datetime.datetime.fromisoformat(payload["upload"]["expiresAt"])
    assert before + datetime.timedelta(seconds=58) <= expires <= after + datetime.timedelta(seconds=62)


def test_without_optional_inputs(gql):
    payload = issue(gql, ATTACHMENT, "report.pdf")
    assert payload["__typename"] == "IssuedUpload", payload
    row = AsyncTempFile.objects.get()
    assert row.declared_size is None
    assert row.declared_content_type == ""


def test_two_requests_get_distinct_keys(gql):
    first = issue(gql, ATTACHMENT, "report.pdf")
    second = issue(gql, ATTACHMENT, "report.pdf")
    assert first["key"] != second["key"]
    assert first["upload"]["url"] != second["upload"]["url"]
    assert AsyncTempFile.objects.count() == 2


def test_size_exactly_at_limit_is_accepted(gql):
    payload = issue(gql, ATTACHMENT, "report.pdf", size=LIMIT)
    assert payload["__typename"] == "IssuedUpload", payload
    assert AsyncTempFile.objects.get().declared_size == LIMIT


def test_image_field_with_an_image_type(gql):
    payload = issue(gql, PHOTO, "p.png", contentType="image/png")
    assert payload["__typename"] == "IssuedUpload", payload
    assert payload["key"].endswith("-p.png")
    assert AsyncTempFile.objects.get().content_type.model_class() is Photo


def test_instance_id_is_recorded(gql):
    doc = Document.objects.create(title="d")
    payload = issue(gql, ATTACHMENT, "report.pdf", instanceId=str(doc.pk))
    assert payload["__typename"] == "IssuedUpload", payload
    assert AsyncTempFile.objects.get().instance_pk == str(doc.pk)


def test_instance_id_as_an_integer_literal(gql):
    """``ID`` accepts an integer too, as GraphQL specifies."""
    doc = Document.objects.create(title="d")
    query = (
        'mutation { generateUploadUrl(input: {field: TESTAPP_DOCUMENT_ATTACHMENT, filename: "r.pdf", '
        f"instanceId: {doc.pk}}}) {{ __typename ... on IssuedUpload {{ key }} }} }}"
    )
    result = gql.execute(query)
    assert result.errors is None, result.body
    assert result.data["generateUploadUrl"]["__typename"] == "IssuedUpload"
    assert AsyncTempFile.objects.get().instance_pk == str(doc.pk)


# --------------------------------------------------------------------------------------------
# The AsyncUploadField enum
# --------------------------------------------------------------------------------------------


def expected_enum_names(registry) -> set[str]:
    return {re.sub(r"[^0-9A-Za-z]+", "_", fid).upper() for fid in registry.fields_by_id}


def test_enum_has_one_value_per_field_of_the_default_registry(gql):
    result = gql.execute('{ __type(name: "AsyncUploadField") { kind enumValues { name } } }')
    assert result.errors is None, result.body
    assert result.data["__type"]["kind"] == "ENUM"
    names = {v["name"] for v in result.data["__type"]["enumValues"]}
    assert names == expected_enum_names(default_async_field_registry)
    assert {
        "TESTAPP_DOCUMENT_ATTACHMENT",
        "TESTAPP_DOCUMENT_EXTRA",
        "TESTAPP_PHOTO_IMAGE",
        "TESTAPP_PUBLICNOTE_FILE",
        "TESTAPP_MEMORYNOTE_FILE",
        "TESTAPP_CONCRETEFROMABSTRACT_FILE",
    } <= names
    assert "TESTAPP_OTHERREGISTRYFILE_FILE" not in names
    assert expected_enum_names(other_registry) == {"TESTAPP_OTHERREGISTRYFILE_FILE"}


@pytest.mark.parametrize("name", sorted(expected_enum_names(default_async_field_registry)))
def test_every_enum_value_issues_a_url_for_its_field(gql, name):
    filename = "x.pdf" if name in (ATTACHMENT, "TESTAPP_PROFILE_RESUME") else "x.png"
    payload = issue(gql, name, filename, contentType="image/png" if name == PHOTO else None)
    assert payload["__typename"] == "IssuedUpload", payload
    row = AsyncTempFile.objects.get()
    fid = f"{row.content_type.app_label}.{row.content_type.model_class().__name__}.{row.field_name}"
    assert re.sub(r"[^0-9A-Za-z]+", "_", fid).upper() == name


def test_field_of_another_registry_is_a_graphql_error(gql):
    result = gql.execute(ISSUE, {"input": {"field": "TESTAPP_OTHERREGISTRYFILE_FILE", "filename": "a.txt"}})
    assert_graphql_error(result)
    assert "TESTAPP_OTHERREGISTRYFILE_FILE" in result.errors[0]["message"]


@pytest.mark.parametrize("field", ["testapp.Document.attachment", "testapp_document_attachment", "", None])
def test_field_that_is_no_enum_value_is_a_graphql_error(gql, field):
    result = gql.execute(ISSUE, {"input": {"field": field, "filename": "a.txt"}})
    assert_graphql_error(result)


# --------------------------------------------------------------------------------------------
# permission_denied / not_found
# --------------------------------------------------------------------------------------------


def test_anonymous_is_denied(make_gql):
    payload = issue(make_gql(None), ATTACHMENT, "report.pdf")
    assert_refused(payload, "permission_denied", None, kind="PERMISSION")


def test_user_without_add_permission_is_denied(make_gql, make_user):
    gql = make_gql(make_user("testapp.change_document", "testapp.view_document"))
    payload = issue(gql, ATTACHMENT, "report.pdf")
    assert_refused(payload, "permission_denied", None, kind="PERMISSION")


def test_user_with_add_permission_only_may_upload_for_a_new_record(make_gql, make_user):
    gql = make_gql(make_user("testapp.add_document"))
    payload = issue(gql, ATTACHMENT, "report.pdf")
    assert payload["__typename"] == "IssuedUpload", payload
    assert AsyncTempFile.objects.count() == 1


def test_instance_id_without_change_permission_is_denied(make_gql, make_user):
    doc = Document.objects.create(title="d")
    gql = make_gql(make_user("testapp.add_document", "testapp.view_document"))
    payload = issue(gql, ATTACHMENT, "report.pdf", instanceId=str(doc.pk))
    assert_refused(payload, "permission_denied", None, kind="PERMISSION")


def test_instance_id_with_change_permission_only(make_gql, make_user):
    doc = Document.objects.create(title="d")
    gql = make_gql(make_user("testapp.change_document"))
    payload = issue(gql, ATTACHMENT, "report.pdf", instanceId=str(doc.pk))
    assert payload["__typename"] == "IssuedUpload", payload
    assert AsyncTempFile.objects.get().instance_pk == str(doc.pk)


def test_anonymous_may_upload_to_a_public_field(make_gql):
    payload = issue(make_gql(None), NOTE, "note.txt")
    assert payload["__typename"] == "IssuedUpload", payload
    row = AsyncTempFile.objects.get()
    assert row.user_id is None
    assert row.session_key


def test_missing_record_is_not_found_for_a_user_with_the_permission(gql):
    payload = issue(gql, ATTACHMENT, "report.pdf", instanceId="987654")
    message = assert_refused(payload, "not_found", "instanceId")
    assert "987654" in message["message"]


def test_missing_record_is_permission_denied_without_the_permission(make_gql, make_user):
    gql = make_gql(make_user("testapp.add_document"))
    payload = issue(gql, ATTACHMENT, "report.pdf", instanceId="987654")
    assert_refused(payload, "permission_denied", None, kind="PERMISSION")


def test_missing_record_is_permission_denied_for_anonymous(make_gql):
    payload = issue(make_gql(None), ATTACHMENT, "report.pdf", instanceId="987654")
    assert_refused(payload, "permission_denied", None, kind="PERMISSION")


# --------------------------------------------------------------------------------------------
# invalid_file_type / file_too_large
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "filename", "content_type"),
    [
        (ATTACHMENT, "evil.exe", None),
        (ATTACHMENT, "report.doc", "application/msword"),
        (ATTACHMENT, "report", None),
        (PHOTO, "notes.txt", None),
        (PHOTO, "evil.exe", "image/png"),
        (PHOTO, "photo.png", "text/html"),
    ],
)
def test_bad_file_type(gql, field, filename, content_type):
    payload = issue(gql, field, filename, contentType=content_type)
    assert_refused(payload, "invalid_file_type", "filename")


def test_size_over_max_size(gql):
    payload = issue(gql, ATTACHMENT, "report.pdf", size=LIMIT + 1)
    message = assert_refused(payload, "file_too_large", "size")
    # In the units of the field's hint; one byte over still reads as more than the limit.
    assert message["message"] == "The file is 1.000001 MB; this field accepts at most 1 MB."


def test_size_far_over_max_size_beyond_int32(gql):
    payload = issue(gql, ATTACHMENT, "report.pdf", size=5_000_000_000)
    assert_refused(payload, "file_too_large", "size")


@pytest.fixture
def note_without_max_size(monkeypatch, settings):
    """PublicNote.file has the default max_size (100 MB); these tests need a field with no limit."""
    # The sizes these tests declare are over the default byte quota (1 GiB) too: switch it off.
    settings.ASYNC_UPLOADS = {"MAX_PENDING_BYTES": None}
    field = PublicNote._meta.get_field("file")
    assert field.max_size_bytes == 100 * 1024 * 1024
    monkeypatch.setattr(field, "max_size", None)
    assert field.max_size_bytes is None
    return field


def test_file_size_beyond_int32_is_checked_against_the_default_max_size(gql):
    """The value reaches the check intact (not wrapped or clipped to 32 bits)."""
    payload = issue(gql, NOTE, "big.bin", size=5_000_000_000)
    message = assert_refused(payload, "file_too_large", "size")
    # 5,000,000,000 bytes; cut to 32 bits it would read 672.4 MB
    assert message["message"] == "The file is 4.7 GB; this field accepts at most 100 MB."


@pytest.mark.parametrize("size", [5_000_000_000, 2**53 - 1])
def test_file_size_beyond_int32_is_accepted_for_a_field_without_max_size(gql, note_without_max_size, size):
    payload = issue(gql, NOTE, "big.bin", size=size)
    assert payload["__typename"] == "IssuedUpload", payload
    assert AsyncTempFile.objects.get().declared_size == size


def test_file_size_literal_beyond_int32(gql, note_without_max_size):
    query = (
        'mutation { generateUploadUrl(input: {field: TESTAPP_PUBLICNOTE_FILE, filename: "big.bin", '
        "size: 5000000000}) { __typename ... on IssuedUpload { key } } }"
    )
    result = gql.execute(query)
    assert result.errors is None, result.body
    assert result.data["generateUploadUrl"]["__typename"] == "IssuedUpload"
    assert AsyncTempFile.objects.get().declared_size == 5_000_000_000


def test_file_size_as_a_whole_float(gql, note_without_max_size):
    """A JSON number written with an exponent (5e9) is a whole number of bytes."""
    payload = issue(gql, NOTE, "big.bin", size=5e9)
    assert payload["__typename"] == "IssuedUpload", payload
    assert AsyncTempFile.objects.get().declared_size == 5_000_000_000


def test_file_size_as_a_string_of_digits(gql, note_without_max_size):
    payload = issue(gql, NOTE, "big.bin", size="5000000000")
    assert payload["__typename"] == "IssuedUpload", payload
    assert AsyncTempFile.objects.get().declared_size == 5_000_000_000


@pytest.mark.parametrize(
    "size", [-1, 1.5, 2**53, 2**64, 1e300, float("inf"), float("nan"), "12a", "-5", "1e3", "", True, [1], {"n": 1}]
)
def test_bad_file_size_is_a_graphql_error(gql, size):
    result = gql.execute(ISSUE, {"input": {"field": NOTE, "filename": "a.txt", "size": size}})
    assert_graphql_error(result)


@pytest.mark.parametrize("literal", ["-1", "1.5", str(2**53), '"abc"', "true"])
def test_bad_file_size_literal_is_a_graphql_error(gql, literal):
    query = (
        'mutation { generateUploadUrl(input: {field: TESTAPP_PUBLICNOTE_FILE, filename: "a.txt", '
        f"size: {literal}}}) {{ __typename }} }}"
    )
    assert_graphql_error(gql.execute(query))


# --------------------------------------------------------------------------------------------
# invalid_input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("instance_id", ["abc", "1.5", "-", "99999999999999999999999999"])
def test_bad_instance_id(gql, instance_id):
    payload = issue(gql, ATTACHMENT, "report.pdf", instanceId=instance_id)
    assert_refused(payload, "invalid_input", "instanceId")


@pytest.mark.parametrize("filename", ["", "   ", "a\x00.pdf", "x" * 1001 + ".pdf"])
def test_bad_filename(gql, filename):
    payload = issue(gql, ATTACHMENT, filename)
    assert_refused(payload, "invalid_input", "filename")


@pytest.mark.parametrize("content_type", ["application/pdf\x00", "a" * 256])
def test_bad_content_type(gql, content_type):
    payload = issue(gql, ATTACHMENT, "report.pdf", contentType=content_type)
    assert_refused(payload, "invalid_input", "contentType")


def test_missing_filename_is_a_graphql_error(gql):
    assert_graphql_error(gql.execute(ISSUE, {"input": {"field": ATTACHMENT}}))


def test_the_first_failed_check_is_reported_alone(gql):
    """A bad filename and a bad size: one message, for the filename, and nothing recorded."""
    payload = issue(gql, ATTACHMENT, "", size=LIMIT + 1)
    assert_refused(payload, "invalid_input", "filename")


# --------------------------------------------------------------------------------------------
# generateUploadUrls (batch)
# --------------------------------------------------------------------------------------------


def test_batch_answers_each_item_on_its_own_in_order(gql):
    doc = Document.objects.create(title="d")
    items = [
        {"field": ATTACHMENT, "filename": "one.pdf"},
        {"field": ATTACHMENT, "filename": "evil.exe"},
        {"field": PHOTO, "filename": "two.png", "contentType": "image/png"},
        {"field": ATTACHMENT, "filename": "big.pdf", "size": LIMIT + 1},
        {"field": ATTACHMENT, "filename": "r.pdf", "instanceId": "abc"},
        {"field": ATTACHMENT, "filename": "r.pdf", "instanceId": "987654"},
        {"field": EXTRA, "filename": "three.bin", "instanceId": str(doc.pk)},
    ]
    result = gql.execute(BATCH, {"input": items})
    assert result.errors is None, result.body
    answers = result.data["generateUploadUrls"]
    assert [a["__typename"] for a in answers] == [
        "IssuedUpload",
        "OperationInfo",
        "IssuedUpload",
        "OperationInfo",
        "OperationInfo",
        "OperationInfo",
        "IssuedUpload",
    ]
    assert answers[0]["key"].endswith("-one.pdf")
    assert answers[2]["key"].endswith("-two.png")
    assert answers[6]["key"].endswith("-three.bin")
    for a in (answers[0], answers[2], answers[6]):
        assert a["upload"]["url"].startswith("http://testserver/")
        assert a["upload"]["method"] == "POST"
        assert a["upload"]["provider"] == "FILESYSTEM"
        assert a["upload"]["fileFieldName"] == "file"
    assert [(m["code"], m["field"]) for m in messages(answers[1])] == [("invalid_file_type", "filename")]
    assert [(m["code"], m["field"]) for m in messages(answers[3])] == [("file_too_large", "size")]
    assert [(m["code"], m["field"]) for m in messages(answers[4])] == [("invalid_input", "instanceId")]
    assert [(m["code"], m["field"]) for m in messages(answers[5])] == [("not_found", "instanceId")]

    rows = {row.key: row for row in AsyncTempFile.objects.all()}
    assert set(rows) == {answers[0]["key"], answers[2]["key"], answers[6]["key"]}
    assert rows[answers[0]["key"]].field_name == "attachment"
    assert rows[answers[2]["key"]].field_name == "image"
    assert rows[answers[6]["key"]].field_name == "extra"
    assert rows[answers[6]["key"]].instance_pk == str(doc.pk)


def test_batch_of_an_anonymous_user_refuses_each_protected_item(make_gql):
    items = [{"field": ATTACHMENT, "filename": "a.pdf"}, {"field": NOTE, "filename": "n.txt"}]
    result = make_gql(None).execute(BATCH, {"input": items})
    assert result.errors is None, result.body
    first, second = result.data["generateUploadUrls"]
    assert [(m["code"], m["kind"]) for m in messages(first)] == [("permission_denied", "PERMISSION")]
    assert second["__typename"] == "IssuedUpload"
    assert list(AsyncTempFile.objects.values_list("key", flat=True)) == [second["key"]]


def test_empty_batch(gql):
    result = gql.execute(BATCH, {"input": []})
    assert result.errors is None, result.body
    assert result.data["generateUploadUrls"] == []
    assert AsyncTempFile.objects.count() == 0


def test_batch_of_the_largest_size(gql):
    # Declared sizes: 50 undeclared uploads to EXTRA (max_size 100 MB) would be over the byte quota.
    items = [{"field": EXTRA, "filename": f"f{i}.bin", "size": 10} for i in range(50)]
    result = gql.execute(BATCH, {"input": items})
    assert result.errors is None, result.body
    answers = result.data["generateUploadUrls"]
    assert [a["__typename"] for a in answers] == ["IssuedUpload"] * 50
    assert [a["key"].rsplit("-", 1)[1] for a in answers] == [f"f{i}.bin" for i in range(50)]
    assert AsyncTempFile.objects.count() == 50


def test_batch_over_the_largest_size_is_an_error_and_records_nothing(gql):
    items = [{"field": EXTRA, "filename": f"f{i}.bin"} for i in range(51)]
    result = gql.execute(BATCH, {"input": items})
    assert result.status < 500
    assert result.errors, result.body
    assert result.errors[0]["extensions"]["code"] == "invalid_input", result.errors
    assert "50" in result.errors[0]["message"]
    assert result.data is None
    assert AsyncTempFile.objects.count() == 0


# --------------------------------------------------------------------------------------------
# filenames
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "suffix"),
    [
        ("résumé.pdf", "-résumé.pdf"),
        ("../../etc/report.pdf", "-report.pdf"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
    ],
)
def test_filename_is_reduced_to_a_safe_name(gql, filename, suffix):
    payload = issue(gql, ATTACHMENT, filename)
    assert payload["__typename"] == "IssuedUpload", payload
    key = payload["key"]
    assert key.startswith("async-temp-files/")
    assert key.endswith(suffix), key
    assert ".." not in key and "\\" not in key
    assert AsyncTempFile.objects.get().key == key
