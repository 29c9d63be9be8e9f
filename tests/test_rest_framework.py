"""DRF serializer fields: tables of valid inputs, invalid inputs and outputs, then real views end to end."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import FileExtensionValidator
from django.db.models.fields.files import FieldFile
from rest_framework import serializers

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from async_uploads.rest_framework import (
    ASYNC_FIELD_MAPPING,
    NO_REQUEST_MESSAGE,
    AsyncFileField,
    AsyncFileSerializerMixin,
    AsyncImageField,
)
from tests.conftest import Uploader, field_id, png_bytes, read, request_for
from tests.drf_views import (
    DocumentBatchSerializer,
    DocumentLink,
    DocumentLinkSerializer,
    DocumentSerializer,
    PhotoSerializer,
    PlainDocumentSerializer,
)
from tests.testapp.models import Document, Photo, PlainModel, PublicNote

PDF = b"%PDF-1.4 quarterly numbers"
LIMIT = 1024 * 1024  # Document.attachment: max_size=1 (MB)
ATTACHMENT = field_id(Document, "attachment")
EXTRA = field_id(Document, "extra")
IMAGE = field_id(Photo, "image")


# --------------------------------------------------------------------------- helpers and fixtures


def fill(value: Any, keys: dict[str, str]) -> Any:
    """``value`` with every ``<name>`` placeholder replaced by ``keys[name]`` (also inside JSON text)."""
    if isinstance(value, str):
        for name, key in keys.items():
            value = value.replace(f"<{name}>", key)
        return value
    if isinstance(value, dict):
        return {k: fill(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, keys) for v in value]
    return value


def send(client, method: str, url: str, data: Any):
    return getattr(client, method)(url, data=json.dumps(data), content_type="application/json")


def field_error(serializer, name: str = "attachment") -> tuple[str, str]:
    assert not serializer.is_valid()
    (error,) = serializer.errors[name]
    return error.code, str(error)


@pytest.fixture
def media(_media_root) -> Callable[[], dict[str, bytes]]:
    """A snapshot of every file in MEDIA_ROOT, to show a refusal moved or wrote nothing."""

    def snapshot() -> dict[str, bytes]:
        if not _media_root.exists():
            return {}
        return {str(p.relative_to(_media_root)): p.read_bytes() for p in _media_root.rglob("*") if p.is_file()}

    return snapshot


@pytest.fixture
def bob(client_for, other_user):
    return client_for(other_user)


@pytest.fixture
def alice_request(user):
    return request_for(user)


def current_doc(title: str, name: str = "current.pdf", content: bytes = PDF) -> Document:
    """A saved document whose file is already in place (assigned by server code, as a plain name)."""
    doc = Document.objects.create(title=title)
    doc.attachment = default_storage.save(f"documents/{doc.pk}/{name}", ContentFile(content))
    doc.save()
    return doc


@pytest.fixture
def keys(uploader, bob, user) -> dict[str, str]:
    """Keys in every state the tables need, issued through the REST view and uploaded like a browser."""
    doc = current_doc("alice:current")
    planted_big = uploader.issue(ATTACHMENT, "big.pdf", content_type="application/pdf")["key"]
    default_storage.save(planted_big, ContentFile(b"%PDF-1.4" + b"x" * LIMIT))  # a storage that enforces no limit
    return {
        "temp": uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf"),
        "extra": uploader.upload(EXTRA, "extra.pdf", PDF, "application/pdf"),
        "bob": Uploader(bob).upload(ATTACHMENT, "bob.pdf", PDF, "application/pdf"),
        "for_record": uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf", instance_id=str(doc.pk)),
        "not_uploaded": uploader.issue(ATTACHMENT, "later.pdf")["key"],
        "big": planted_big,
        "png_as_pdf": uploader.upload(ATTACHMENT, "fake.pdf", png_bytes(), "application/pdf"),
        "png": uploader.upload(IMAGE, "p.png", png_bytes(3, 2), "image/png"),
        "current": doc.attachment.name,
        "current_pk": str(doc.pk),
    }


def assert_untouched(keys: dict[str, str]) -> None:
    """No temporary key of the fixture was claimed or moved."""
    for name in ("temp", "extra", "bob", "for_record", "png_as_pdf", "png"):
        row = AsyncTempFile.objects.get(key=keys[name])
        assert (row.object_pk, row.moved_to_location) == (None, ""), name
        assert default_storage.exists(keys[name]), name


# --------------------------------------------------------------------------- wiring


def test_missing_extra_names_the_pip_command():
    probe = (
        "import sys; sys.modules['rest_framework'] = None\n"
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'; django.setup()\n"
        "from async_uploads.exceptions import AsyncUploadsImproperlyInstalled\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n"
        "    import async_uploads.rest_framework\n"
        "except AsyncUploadsImproperlyInstalled as e:\n"
        "    assert isinstance(e, ImproperlyConfigured) and isinstance(e, ImportError)\n"
        "    print(e)\n"
        "else:\n"
        "    raise SystemExit('imported without its extra')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'pip install "django-async-uploads[drf]"' in result.stdout
    assert "djangorestframework" in result.stdout


@pytest.mark.parametrize("serializer_class", [DocumentSerializer, PlainDocumentSerializer])
def test_model_serializers_map_the_async_model_fields(serializer_class):
    fields = serializer_class().fields
    field = fields["attachment"]
    assert type(field) is AsyncFileField
    assert field.model_field is Document._meta.get_field("attachment")
    assert field.max_length == 500
    assert field.required is False
    assert type(PhotoSerializer().fields["image"]) is AsyncImageField


def test_without_the_mapping_drf_picks_its_own_file_field():
    class Unmapped(serializers.ModelSerializer):
        class Meta:
            model = Document
            fields = ["attachment"]

    assert type(Unmapped().fields["attachment"]) is serializers.FileField
    assert set(ASYNC_FIELD_MAPPING.values()) == {AsyncFileField, AsyncImageField}
    assert __import__("async_uploads.rest_framework", fromlist=["__all__"]).__all__ == sorted(
        ["ASYNC_FIELD_MAPPING", "AsyncFileField", "AsyncFileSerializerMixin", "AsyncImageField"]
    )


def test_model_field_must_be_an_async_field():
    with pytest.raises(TypeError, match="needs model_field="):
        AsyncFileField(model_field=PlainModel._meta.get_field("name"))


# --------------------------------------------------------------------------- valid inputs

VALID_INPUTS = [
    pytest.param({"key": "<temp>", "name": "report.pdf"}, "<temp>", id="temporary key"),
    pytest.param({"key": "<temp>", "name": "report.pdf", "url": "/ignored"}, "<temp>", id="url is ignored"),
    pytest.param({"key": "<temp>"}, "<temp>", id="name is optional"),
    pytest.param(json.dumps({"key": "<temp>", "name": "report.pdf"}), "<temp>", id="the object as JSON text"),
]

VALID_UPDATE_INPUTS = [
    pytest.param({"key": "<current>", "name": "current.pdf"}, "<current>", id="the record's current key"),
    pytest.param(
        {"key": "<current>", "name": "current.pdf", "url": "/async-uploads/download-file/?x"},
        "<current>",
        id="the output sent back",
    ),
    pytest.param({"key": "<for_record>", "name": "r.pdf"}, "<for_record>", id="key issued for this record"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "key"), VALID_INPUTS)
def test_valid_inputs(keys, alice_request, data, key):
    serializer = DocumentSerializer(data={"attachment": fill(data, keys)}, context={"request": alice_request})
    assert serializer.is_valid(), serializer.errors
    value = serializer.validated_data["attachment"]
    assert isinstance(value, AsyncFileInputData)
    assert value.key == fill(key, keys)
    assert value.request is alice_request
    assert Document.objects.count() == 1  # only the fixture's: validating writes nothing
    assert_untouched(keys)


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "key"), VALID_UPDATE_INPUTS)
def test_valid_inputs_on_update(keys, alice_request, data, key):
    doc = Document.objects.get(pk=keys["current_pk"])
    serializer = DocumentSerializer(
        doc, data={"attachment": fill(data, keys)}, partial=True, context={"request": alice_request}
    )
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["attachment"].key == fill(key, keys)


@pytest.mark.django_db
def test_the_current_key_needs_no_request(keys):
    doc = Document.objects.get(pk=keys["current_pk"])
    serializer = DocumentSerializer(doc, data={"attachment": {"key": keys["current"]}}, partial=True)
    assert serializer.is_valid(), serializer.errors


@pytest.mark.django_db
def test_image_dimensions_pass_through(keys, alice_request):
    data = {"image": {"key": keys["png"], "name": "p.png", "width": 3, "height": 2}}
    serializer = PhotoSerializer(data=data, context={"request": alice_request})
    assert serializer.is_valid(), serializer.errors
    value = serializer.validated_data["image"]
    assert (value.key, value.width, value.height) == (keys["png"], 3, 2)


EMPTY_INPUTS = [None, "", {}, "null", "{}", '""']


@pytest.mark.django_db
@pytest.mark.parametrize("data", EMPTY_INPUTS)
def test_empty_values_clear_a_blank_field(data):
    serializer = DocumentSerializer(data={"title": "t", "attachment": data})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["attachment"] == ""


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "code"), [(None, "null"), ("", "blank"), ({}, "blank")])
def test_empty_values_are_refused_by_a_required_field(data, code):
    model_field = copy.copy(Document._meta.get_field("attachment"))
    model_field.blank = False

    class Strict(serializers.Serializer):
        attachment = AsyncFileField(model_field=model_field)

    assert field_error(Strict(data={"attachment": data}))[0] == code
    assert Strict(data={"attachment": None}).fields["attachment"].required is True


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["", "null", "{}"])
def test_an_empty_form_value_clears_the_file(text):
    """A form or multipart body (a QueryDict): DRF alone reads an empty optional value as 'not sent'."""
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    data.update({"title": "t", "attachment": text})
    serializer = DocumentSerializer(Document(title="t", attachment="documents/1/a.pdf"), data=data)
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["attachment"] == ""


def test_a_writable_source_star_is_refused_when_bound():
    from django.core.exceptions import ImproperlyConfigured

    class Whole(serializers.Serializer):
        attachment = AsyncFileField(model_field=Document._meta.get_field("attachment"), source="*")

    with pytest.raises(ImproperlyConfigured, match="source='\\*' can only be read_only=True"):
        Whole(data={"attachment": {"key": "k"}}).fields  # noqa: B018 - binding happens here

    class ReadOnlyWhole(serializers.Serializer):
        attachment = AsyncFileField(model_field=Document._meta.get_field("attachment"), source="*", read_only=True)

    doc = Document(pk=4, title="t", attachment="documents/4/a.pdf")
    assert ReadOnlyWhole(doc).data["attachment"]["key"] == "documents/4/a.pdf"


def test_a_partial_update_without_the_field_leaves_it_out():
    serializer = DocumentSerializer(Document(title="t"), data={"title": "new"}, partial=True)
    assert serializer.is_valid(), serializer.errors
    assert "attachment" not in serializer.validated_data


# --------------------------------------------------------------------------- invalid inputs

INVALID_INPUTS = [
    pytest.param("not json", "invalid_input", id="text that is not JSON"),
    pytest.param(42, "invalid_input", id="a number"),
    pytest.param(["<temp>"], "invalid_input", id="a list"),
    pytest.param({"name": "report.pdf"}, "invalid_input", id="no key"),
    pytest.param({"key": ""}, "invalid_input", id="empty key"),
    pytest.param({"key": 5}, "invalid_input", id="key not a string"),
    pytest.param({"key": "<temp>", "bogus": 1}, "invalid_input", id="unknown input key"),
    pytest.param({"key": "<temp>", "width": "wide"}, "invalid_input", id="width not a number"),
    pytest.param({"key": "<temp>", "error": "network down"}, "invalid_input", id="upload failed in the browser"),
    pytest.param({"key": "documents/99/secret.pdf"}, "invalid_key", id="forged permanent key"),
    pytest.param({"key": "../../etc/passwd"}, "invalid_key", id="path trick"),
    pytest.param({"key": "async-temp-files/2020/01/01/%2e%2e/%2e%2e/x.pdf"}, "invalid_key", id="encoded path trick"),
    pytest.param({"key": "async-temp-files/2020/01/01/AAAAAAAAAAAA-x.pdf"}, "invalid_key", id="never issued"),
    pytest.param({"key": "<extra>"}, "invalid_key", id="issued for another field"),
    pytest.param({"key": "<bob>"}, "invalid_key", id="issued to another user"),
    pytest.param({"key": "<for_record>"}, "invalid_key", id="issued for another record"),
    pytest.param({"key": "<current>"}, "invalid_key", id="another record's current key"),
    pytest.param({"key": "<not_uploaded>"}, "invalid_key", id="nothing uploaded"),
    pytest.param({"key": "x" * 501}, "max_length", id="key too long"),
    pytest.param({"key": "<big>"}, "file_too_large", id="object over max_size"),
    pytest.param({"key": "<png_as_pdf>"}, "invalid_file_type", id="content of another type"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "code"), INVALID_INPUTS)
def test_invalid_inputs(keys, alice_request, media, data, code):
    before = media()
    serializer = DocumentSerializer(
        data={"title": "t", "attachment": fill(data, keys)}, context={"request": alice_request}
    )
    assert field_error(serializer)[0] == code
    assert Document.objects.count() == 1
    assert media() == before
    assert_untouched(keys)


@pytest.mark.django_db
def test_messages_say_what_is_wrong(keys, alice_request):
    def message(data: Any) -> str:
        return field_error(DocumentSerializer(data={"attachment": data}, context={"request": alice_request}))[1]

    assert "another field" in message({"key": keys["extra"]})
    assert "another user" in message({"key": keys["bob"]})
    assert "this field accepts at most 1 MB" in message({"key": keys["big"]})
    assert "bogus" in message({"key": keys["temp"], "bogus": 1})
    assert message({"key": "x" * 501}) == "Ensure this file's key has no more than 500 characters."


@pytest.mark.django_db
def test_error_messages_can_be_overridden_per_code(keys, alice_request):
    class Custom(serializers.Serializer):
        attachment = AsyncFileField(
            model_field=Document._meta.get_field("attachment"),
            error_messages={"file_too_large": "Max 1 MB, please.", "invalid_key": "Nope ({error})"},
        )

    assert field_error(Custom(data={"attachment": {"key": keys["big"]}}, context={"request": alice_request})) == (
        "file_too_large",
        "Max 1 MB, please.",
    )
    code, text = field_error(Custom(data={"attachment": {"key": keys["bob"]}}, context={"request": alice_request}))
    assert code == "invalid_key" and text.startswith("Nope (") and "another user" in text


@pytest.mark.django_db
def test_image_dimensions_that_do_not_match_the_header(keys, alice_request):
    data = {"image": {"key": keys["png"], "width": 9, "height": 9}}
    assert field_error(PhotoSerializer(data=data, context={"request": alice_request}), "image")[0] == "invalid_image"
    assert Photo.objects.count() == 0


@pytest.mark.django_db
def test_without_a_request_in_the_context_temporary_keys_are_refused(keys, media):
    before = media()
    serializer = DocumentSerializer(data={"title": "t", "attachment": {"key": keys["temp"], "name": "report.pdf"}})
    assert field_error(serializer) == ("invalid_key", str(NO_REQUEST_MESSAGE))
    assert "context" in str(NO_REQUEST_MESSAGE)
    assert Document.objects.count() == 1
    assert media() == before
    assert_untouched(keys)


@pytest.mark.django_db
def test_validators_see_the_key_as_a_field_file(keys, alice_request):
    # As Model.full_clean() runs the model field's validators (ModelSerializer passes them on).
    seen = []

    class WithValidators(serializers.Serializer):
        attachment = AsyncFileField(
            model_field=Document._meta.get_field("attachment"),
            validators=[seen.append, FileExtensionValidator(["txt"])],
        )

    serializer = WithValidators(data={"attachment": {"key": keys["temp"]}}, context={"request": alice_request})
    assert field_error(serializer)[0] == "invalid_extension"
    (value,) = seen
    assert isinstance(value, FieldFile)
    assert value.name == keys["temp"]


# --------------------------------------------------------------------------- outputs


@pytest.mark.django_db
def test_outputs(keys):
    doc = Document.objects.get(pk=keys["current_pk"])
    empty = Document.objects.create(title="empty")
    unsaved = Document(title="unsaved", attachment="documents/x/unsaved.pdf")
    outputs = [
        (doc, {"key": keys["current"], "name": "current.pdf", "url": doc.attachment.url}),
        (empty, None),
        (unsaved, {"key": "documents/x/unsaved.pdf", "name": "unsaved.pdf", "url": None}),
    ]
    for instance, expected in outputs:
        assert DocumentSerializer(instance).data["attachment"] == expected
    assert doc.attachment.url.startswith("/async-uploads/download-file/?field_id=testapp.Document.attachment&")


@pytest.mark.django_db
def test_output_through_a_dotted_source(keys):
    doc = Document.objects.get(pk=keys["current_pk"])
    assert DocumentLinkSerializer(DocumentLink(doc)).data == {
        "file": {"key": keys["current"], "name": "current.pdf", "url": doc.attachment.url}
    }
    assert DocumentLinkSerializer(DocumentLink(None)).data == {"file": None}
    assert DocumentLinkSerializer(DocumentLink(Document.objects.create())).data == {"file": None}


@pytest.mark.django_db
def test_output_of_an_image(keys):
    photo = Photo.objects.create(image="photos/p.png", width=3, height=2)
    data = PhotoSerializer(photo).data
    assert data["image"] == {"key": "photos/p.png", "name": "p.png", "url": photo.image.url}
    assert (data["width"], data["height"]) == (3, 2)


@pytest.mark.django_db
def test_output_without_the_registry_urls_has_no_url(settings, keys):
    settings.ROOT_URLCONF = "tests.drf_urls"
    doc = Document.objects.get(pk=keys["current_pk"])
    assert DocumentSerializer(doc).data["attachment"] == {"key": keys["current"], "name": "current.pdf", "url": None}


# --------------------------------------------------------------------------- end to end through DRF views


@pytest.mark.django_db(transaction=True)
def test_create_through_a_viewset_moves_the_upload(alice, uploader):
    key = uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf")
    response = send(alice, "post", "/drf/documents/", {"title": "q1", "attachment": {"key": key, "name": "report.pdf"}})
    assert response.status_code == 201, response.content
    doc = Document.objects.get()
    final = f"documents/{doc.pk}/report.pdf"
    assert response.json() == {
        "id": doc.pk,
        "title": "q1",
        "attachment": {"key": final, "name": "report.pdf", "url": doc.attachment.url},
        "extra": None,
    }
    assert doc.attachment.name == final
    assert read(final) == PDF
    assert not default_storage.exists(key)
    assert AsyncTempFile.objects.get(key=key).moved_to_location == final
    download = alice.get(doc.attachment.url, follow=True)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF


@pytest.mark.django_db(transaction=True)
def test_the_seeds_mapping_recipe_works_in_a_view(alice, uploader):
    key = uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf")
    response = send(alice, "post", "/drf/plain-documents/", {"title": "plain", "attachment": {"key": key}})
    assert response.status_code == 201, response.content
    doc = Document.objects.get()
    assert response.json()["attachment"]["key"] == f"documents/{doc.pk}/report.pdf"
    assert read(doc.attachment.name) == PDF


@pytest.mark.django_db
def test_a_form_submission_carries_the_value_as_json_text(alice, uploader, django_capture_on_commit_callbacks):
    key = uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post("/drf/documents/", {"title": "form", "attachment": json.dumps({"key": key})})
    assert response.status_code == 201, response.content
    doc = Document.objects.get()
    assert doc.attachment.name == f"documents/{doc.pk}/report.pdf"
    assert read(doc.attachment.name) == PDF


@pytest.mark.django_db
def test_update_through_patch(alice, uploader, django_capture_on_commit_callbacks):
    doc = current_doc("alice:a")
    key = uploader.upload(ATTACHMENT, "new.pdf", b"%PDF-1.4 new", "application/pdf", instance_id=str(doc.pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = send(alice, "patch", f"/drf/documents/{doc.pk}/", {"attachment": {"key": key, "name": "new.pdf"}})
    assert response.status_code == 200, response.content
    doc.refresh_from_db()
    assert doc.attachment.name == f"documents/{doc.pk}/new.pdf"
    assert read(doc.attachment.name) == b"%PDF-1.4 new"
    assert not default_storage.exists(key)


@pytest.mark.django_db
def test_sending_back_the_output_keeps_the_file(alice, media):
    doc = current_doc("alice:a")
    before = media()
    shown = alice.get(f"/drf/documents/{doc.pk}/").json()
    response = send(alice, "put", f"/drf/documents/{doc.pk}/", {**shown, "title": "alice:renamed"})
    assert response.status_code == 200, response.content
    doc.refresh_from_db()
    assert (doc.title, doc.attachment.name) == ("alice:renamed", f"documents/{doc.pk}/current.pdf")
    assert media() == before


@pytest.mark.django_db
def test_null_clears_the_file(alice):
    doc = current_doc("alice:a")
    response = send(alice, "patch", f"/drf/documents/{doc.pk}/", {"attachment": None})
    assert response.status_code == 200, response.content
    assert response.json()["attachment"] is None
    doc.refresh_from_db()
    assert doc.attachment.name == ""


@pytest.mark.django_db
def test_photo_dimensions_fill_the_columns_without_reading_the_image(
    alice, uploader, django_capture_on_commit_callbacks
):
    key = uploader.upload(IMAGE, "p.png", png_bytes(3, 2), "image/png")
    data = {"image": {"key": key, "name": "p.png", "width": 3, "height": 2}}
    with (
        mock.patch("django.core.files.images.get_image_dimensions", side_effect=AssertionError("image opened")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = send(alice, "post", "/drf/photos/", data)
    assert response.status_code == 201, response.content
    photo = Photo.objects.get()
    assert (photo.width, photo.height) == (3, 2)
    assert photo.image.name == "photos/p.png"
    assert response.json()["width"] == 3


@pytest.mark.django_db
def test_anonymous_uploads_belong_to_their_session(client_for, media):
    anonymous, stranger = client_for(None), client_for(None)
    key = Uploader(anonymous).upload(field_id(PublicNote, "file"), "note.txt", b"hello", "text/plain")
    before = media()
    refused = send(stranger, "post", "/drf/public-notes/", {"file": {"key": key}})
    assert refused.status_code == 400, refused.content
    assert refused.json()["file"] == ["This key was issued to another user."]
    assert PublicNote.objects.count() == 0
    assert media() == before
    accepted = send(anonymous, "post", "/drf/public-notes/", {"file": {"key": key}})
    assert accepted.status_code == 201, accepted.content


REJECTIONS = [
    pytest.param("post", {"key": "documents/99/secret.pdf"}, "invalid_key", id="forged key"),
    pytest.param("post", {"key": "<bob>"}, "invalid_key", id="other user's key"),
    pytest.param("post", {"key": "<extra>"}, "invalid_key", id="other field's key"),
    pytest.param("post", {"key": "<big>"}, "file_too_large", id="oversize"),
    pytest.param("post", {"key": "<png_as_pdf>"}, "invalid_file_type", id="wrong type"),
    pytest.param("post", {"key": "<temp>", "bogus": "x"}, "invalid_input", id="malformed"),
    pytest.param("post", "<temp>", "invalid_input", id="a bare key"),
    pytest.param("post", {"key": "<for_record>"}, "invalid_key", id="key of a record, on create"),
    pytest.param("patch", {"key": "<temp>"}, "invalid_key", id="key for a new record, on update"),
    pytest.param("patch", {"key": "<current>"}, "invalid_key", id="another record's current key"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "value", "code"), REJECTIONS)
def test_rejections_through_the_view_change_nothing(
    alice, user, keys, media, method, value, code, django_capture_on_commit_callbacks
):
    target = Document.objects.create(title="alice:target")
    url = "/drf/documents/" if method == "post" else f"/drf/documents/{target.pk}/"
    before, rows = media(), list(Document.objects.order_by("pk").values())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = send(alice, method, url, {"title": "changed", "attachment": fill(value, keys)})
    assert response.status_code == 400, response.content
    (error,) = response.json()["attachment"]
    assert error, response.content
    assert not callbacks
    assert list(Document.objects.order_by("pk").values()) == rows
    assert media() == before
    assert_untouched(keys)
    # The codes are those of the serializer's errors.
    serializer = DocumentSerializer(
        target if method == "patch" else None,
        data={"attachment": fill(value, keys)},
        partial=True,
        context={"request": request_for(user)},
    )
    assert field_error(serializer)[0] == code


@pytest.mark.django_db
def test_the_view_reports_every_field_error_at_once(alice, keys, media, django_capture_on_commit_callbacks):
    """A too-long title and two refused keys: one 400 naming all three fields; nothing written."""
    before, rows = media(), list(Document.objects.order_by("pk").values())
    data = {"title": "x" * 101, "attachment": {"key": keys["big"]}, "extra": {"key": keys["temp"]}}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = send(alice, "post", "/drf/documents/", data)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"title", "attachment", "extra"}, response.content
    assert not callbacks
    assert list(Document.objects.order_by("pk").values()) == rows
    assert media() == before
    assert_untouched(keys)


@pytest.mark.django_db
def test_a_key_saved_to_one_record_is_refused_for_another(alice, uploader, django_capture_on_commit_callbacks):
    key = uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        first = send(alice, "post", "/drf/documents/", {"title": "a", "attachment": {"key": key}})
    assert first.status_code == 201, first.content
    again = send(alice, "post", "/drf/documents/", {"title": "b", "attachment": {"key": key}})
    assert again.status_code == 400, again.content
    assert Document.objects.count() == 1


@pytest.mark.django_db
def test_a_root_serializer_ignores_a_client_sent_id(alice, media):
    other = current_doc("bob:secret", "secret.pdf")
    before = media()
    response = send(alice, "post", "/drf/documents/", {"id": other.pk, "attachment": {"key": other.attachment.name}})
    assert response.status_code == 400, response.content
    assert Document.objects.count() == 1
    assert media() == before


# --------------------------------------------------------------------------- nested serializers


@pytest.mark.django_db
def test_a_nested_item_may_send_back_its_records_current_key(alice, media):
    mine = current_doc("alice:mine", "mine.pdf")
    before = media()
    item = {"id": mine.pk, "title": "alice:renamed", "attachment": {"key": mine.attachment.name, "name": "mine.pdf"}}
    response = send(alice, "post", "/drf/document-batch/", {"documents": [item]})
    assert response.status_code == 201, response.content
    mine.refresh_from_db()
    assert (mine.title, mine.attachment.name) == ("alice:renamed", f"documents/{mine.pk}/mine.pdf")
    assert Document.objects.count() == 1
    assert media() == before


@pytest.mark.django_db
def test_a_nested_new_item_takes_an_upload(alice, uploader, django_capture_on_commit_callbacks):
    key = uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = send(
            alice, "post", "/drf/document-batch/", {"documents": [{"title": "alice:n", "attachment": {"key": key}}]}
        )
    assert response.status_code == 201, response.content
    doc = Document.objects.get()
    assert doc.attachment.name == f"documents/{doc.pk}/report.pdf"
    assert read(doc.attachment.name) == PDF


@pytest.mark.django_db(transaction=True)
def test_a_forged_nested_pk_cannot_claim_another_records_file(alice, user, uploader, media):
    theirs = current_doc("bob:secret", "secret.pdf")
    key = uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf")
    before = media()
    forged = {"id": theirs.pk, "title": "alice:stolen", "attachment": {"key": theirs.attachment.name}}
    batch = {"documents": [{"title": "alice:new", "attachment": {"key": key}}, forged]}
    # The field accepts the key (the pk names its record) ...
    checked = DocumentBatchSerializer(data=batch, context={"request": request_for(user)})
    assert checked.is_valid(), checked.errors
    # ... but the record actually written is a new one (the id is not in alice's scope), and the
    # descriptor refuses the key there: a 400, and the whole batch rolled back.
    response = send(alice, "post", "/drf/document-batch/", batch)
    assert response.status_code == 400, response.content
    (error,) = response.json()["attachment"]
    assert "neither the field's current file nor a temporary upload key" in error
    assert list(Document.objects.values_list("pk", "title", "attachment")) == [
        (theirs.pk, "bob:secret", f"documents/{theirs.pk}/secret.pdf")
    ]
    assert media() == before
    row = AsyncTempFile.objects.get(key=key)
    assert (row.object_pk, row.moved_to_location) == (None, "")


@pytest.mark.django_db
def test_one_items_pk_does_not_vouch_for_the_next_item(alice, media):
    mine = current_doc("alice:mine", "mine.pdf")
    before = media()
    items = [
        {"id": mine.pk, "title": "alice:mine", "attachment": {"key": mine.attachment.name}},
        {"title": "alice:copy", "attachment": {"key": mine.attachment.name}},
    ]
    response = send(alice, "post", "/drf/document-batch/", {"documents": items})
    assert response.status_code == 400, response.content
    errors = response.json()["documents"]
    assert errors == {"1": {"attachment": [mock.ANY]}}, errors  # the first item passed
    assert Document.objects.count() == 1
    assert media() == before


@pytest.mark.django_db
def test_a_nested_pk_of_no_record_is_a_new_record(alice, uploader, user):
    key = uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf")
    for pk in (999_999, "abc"):
        data = {"documents": [{"id": pk, "title": "alice:x", "attachment": {"key": key}}]}
        serializer = DocumentBatchSerializer(data=data, context={"request": request_for(user)})
        valid = serializer.is_valid()
        if pk == "abc":
            assert not valid and "attachment" not in serializer.errors["documents"][0]
        else:
            assert valid, serializer.errors


@pytest.mark.django_db
def test_a_top_level_list_saves_atomically_with_the_mixin_on_its_list_class(user, uploader, media):
    class DocumentListSerializer(AsyncFileSerializerMixin, serializers.ListSerializer):
        pass

    class Item(AsyncFileSerializerMixin, serializers.ModelSerializer):
        class Meta:
            model = Document
            fields = ["id", "title", "attachment"]
            list_serializer_class = DocumentListSerializer

    theirs = current_doc("bob:secret", "secret.pdf")
    key = uploader.upload(ATTACHMENT, "report.pdf", PDF, "application/pdf")
    before = media()
    data = [
        {"title": "new", "attachment": {"key": key}},
        {"id": theirs.pk, "attachment": {"key": theirs.attachment.name}},
    ]
    serializer = Item(data=data, many=True, context={"request": request_for(user)})
    assert serializer.is_valid(), serializer.errors  # the second item's pk names the record of that key
    with pytest.raises(serializers.ValidationError) as error:
        serializer.save()  # ... but ListSerializer.create makes new records: refused there
    assert error.value.detail["attachment"][0].code == "invalid_key"
    assert list(Document.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert media() == before
