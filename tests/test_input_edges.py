"""Malformed input at the edges (encodings, nesting, NUL), forms and admin wiring, information leaks."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from tests.conftest import field_id, request_for
from tests.testapp.models import Document

URL = "async_uploads:generate-upload-url"


def post_json(client, body: str):
    return client.post(reverse(URL), data=body, content_type="application/json")


@pytest.mark.django_db
def test_lone_surrogate_in_filename_is_a_400(alice):
    # JSON may carry a lone surrogate, which no database can store.
    body = json.dumps({"field_id": field_id(Document, "attachment"), "filename": "\ud800.pdf"})
    response = post_json(alice, body)
    assert response.status_code == 400


@pytest.mark.django_db
def test_deeply_nested_json_is_a_400(alice):
    response = post_json(alice, "[" * 100_000)
    assert response.status_code == 400


@pytest.mark.django_db
def test_nul_in_content_type_is_a_400(alice):
    body = json.dumps({"field_id": field_id(Document, "attachment"), "filename": "a.pdf", "content_type": "a\x00b"})
    response = post_json(alice, body)
    assert response.status_code == 400


@pytest.mark.django_db
def test_lone_surrogate_in_submitted_key_is_a_validation_error(user):
    from django.core.exceptions import ValidationError

    from async_uploads.inputs import AsyncFileInputData

    doc = Document()
    with pytest.raises(ValidationError):
        doc.attachment = AsyncFileInputData.create_from_user_input(
            json.loads('{"key": "async-temp-files/2024/01/01/abc-\\ud800.pdf"}'), request=request_for(user)
        )


@pytest.mark.django_db
def test_disabled_async_field_keeps_form_valid(uploader, user):
    from django import forms

    from async_uploads.forms import AsyncFileFormMixin
    from async_uploads.inputs import AsyncFileInputData

    key = uploader.upload(field_id(Document, "attachment"), "a.pdf", b"%PDF", "application/pdf")
    doc = Document(title="t")
    doc.attachment = AsyncFileInputData(key=key, name="a.pdf", trusted=True)
    doc.save()

    class DocumentForm(AsyncFileFormMixin, forms.ModelForm):
        class Meta:
            model = Document
            fields = ["title", "attachment"]

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.fields["attachment"].disabled = True

    form = DocumentForm({"title": "new"}, instance=doc, request=request_for(user))
    assert form.is_valid(), form.errors


@pytest.mark.django_db
def test_cleanup_with_huge_age_is_a_command_error():
    with pytest.raises(CommandError):
        call_command("cleanup_async_temp_files", age=10**9, quiet=True)


@pytest.mark.django_db
def test_model_admin_form_uses_the_async_widget(rf):
    from django.contrib import admin

    from async_uploads.forms import AsyncFileInput

    form = admin.ModelAdmin(Document, admin.site).get_form(rf.get("/"))
    widget = form.base_fields["attachment"].widget
    assert isinstance(widget, AsyncFileInput), type(widget)


@pytest.mark.django_db
def test_image_only_field_refuses_html_named_like_a_data_url(uploader):
    from async_uploads.models import AsyncTempFile
    from tests.testapp.models import Photo

    # mimetypes guesses image/png for this string, but the stored name would be "pngx.html".
    response = uploader.request_url(field_id(Photo, "image"), "data:image/png,x.html", content_type="image/png")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_file_type"
    assert AsyncTempFile.objects.count() == 0


@pytest.mark.django_db
def test_seed_parameter_name_async_field_id_is_accepted(alice):
    fid = field_id(Document, "attachment")
    body = json.dumps({"asyncFieldId": fid, "filename": "a.pdf"})
    assert post_json(alice, body).status_code == 200
    doc = Document.objects.create(title="t")  # no file: the download view answers not_found, not a 400
    response = alice.get(reverse("async_uploads:download"), {"async_field_id": fid, "instance_id": doc.pk})
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_widget_deeply_nested_json_is_not_a_crash():
    from async_uploads.forms import AsyncFileInput

    value = AsyncFileInput().value_from_datadict({"f": "[" * 100_000}, {}, "f")
    assert value == "[" * 100_000


@pytest.mark.django_db
def test_download_does_not_reveal_which_records_exist(client):
    doc = Document.objects.create(title="secret")
    url = reverse("async_uploads:download")
    fid = field_id(Document, "attachment")
    existing = client.get(url, {"field_id": fid, "instance_id": doc.pk}).status_code
    missing = client.get(url, {"field_id": fid, "instance_id": doc.pk + 1000}).status_code
    assert existing == missing == 403
