import json

import pytest
from django import forms

from async_uploads.forms import AsyncFileField, AsyncFileFormMixin, AsyncFileInput, AsyncImageField
from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from tests.conftest import Uploader, field_id, request_for
from tests.testapp.models import Document, Photo, Profile, ProfileAttachment


class DocumentForm(AsyncFileFormMixin, forms.ModelForm):
    class Meta:
        model = Document
        fields = ["title", "attachment"]


def test_model_fields_give_async_form_fields():
    form = DocumentForm()
    assert isinstance(form.fields["attachment"], AsyncFileField)
    assert isinstance(form.fields["attachment"].widget, AsyncFileInput)
    photo_field = forms.modelform_factory(Photo, fields=["image"])().fields["image"]
    assert isinstance(photo_field, AsyncImageField)
    assert photo_field.widget.attrs["accept"] == "image/*"


def test_widget_renders_field_id_and_upload_url():
    html = str(DocumentForm()["attachment"])
    assert 'data-generate-upload-url="/async-uploads/generate-upload-url/"' in html
    assert 'data-async-field-id="testapp.Document.attachment"' in html
    assert 'name="attachment"' in html


def test_widget_renders_the_multipart_endpoints_and_the_settings_of_the_moment(settings):
    html = str(DocumentForm()["attachment"])
    for op in ("start", "sign", "parts", "complete", "abort"):
        assert f'data-multipart-{op}="/async-uploads/multipart/{op}/"' in html
    assert f'data-multipart-threshold="{100 * 1024**2}"' in html
    assert 'data-multipart-concurrency="4"' in html
    settings.ASYNC_UPLOADS = {"MULTIPART_THRESHOLD": 5, "MULTIPART_CONCURRENCY": 2}
    html = str(DocumentForm()["attachment"])  # read when rendering, not when the form class was made
    assert 'data-multipart-threshold="5"' in html
    assert 'data-multipart-concurrency="2"' in html


def test_a_backend_without_parts_renders_no_multipart_attributes():
    from tests.testapp.models import MemoryNote

    html = str(forms.modelform_factory(MemoryNote, fields=["file"])()["file"])
    assert "data-generate-upload-url=" in html
    assert "data-multipart" not in html  # the widget sends every file as a single upload


def test_value_from_datadict():
    widget = AsyncFileInput()
    data = {"f": json.dumps({"key": "async-temp-files/x-a.pdf", "name": "a.pdf", "url": "/ignored"})}
    value = widget.value_from_datadict(data, {}, "f")
    assert value == AsyncFileInputData(key="async-temp-files/x-a.pdf", name="a.pdf")
    assert widget.value_from_datadict({"f": "not json"}, {}, "f") == "not json"
    assert widget.value_from_datadict({"f": json.dumps({"bogus": 1})}, {}, "f") == json.dumps({"bogus": 1})
    # An empty value clears the file; a missing one leaves it alone.
    assert widget.value_from_datadict({"f": ""}, {}, "f") == ""
    assert widget.value_from_datadict({"f": "null"}, {}, "f") == ""
    assert widget.value_from_datadict({}, {}, "f") is None


@pytest.mark.django_db
def test_format_value():
    widget = AsyncFileInput()
    assert widget.format_value(None) is None
    assert json.loads(widget.format_value(AsyncFileInputData(key="k/x-a.pdf", name="a.pdf"))) == {
        "key": "k/x-a.pdf",
        "name": "a.pdf",
    }
    assert json.loads(widget.format_value("documents/1/a.pdf")) == {"key": "documents/1/a.pdf", "name": "a.pdf"}


def test_has_changed():
    field = DocumentForm().fields["attachment"]
    assert not field.has_changed(None, None)
    assert field.has_changed(None, AsyncFileInputData(key="k", name="n"))
    assert not field.has_changed("k", AsyncFileInputData(key="k", name="n"))
    assert field.has_changed("k", "garbage")
    assert field.has_changed("k", None)


@pytest.mark.django_db
def test_malformed_and_failed_values_are_form_errors():
    form = DocumentForm(data={"title": "t", "attachment": "not json"})
    assert not form.is_valid()
    assert form.errors["attachment"] == ["Bad input for a file field."]
    form = DocumentForm(data={"title": "t", "attachment": json.dumps({"key": "k", "name": "n", "error": "boom"})})
    assert not form.is_valid()
    assert form.errors["attachment"] == ["The upload failed: boom"]
    assert Document.objects.count() == 0


@pytest.mark.django_db
def test_a_forged_key_is_a_form_error_and_nothing_is_saved():
    other = Document.objects.create(title="other", attachment="documents/99/secret.pdf")
    form = DocumentForm(data={"title": "t", "attachment": json.dumps({"key": other.attachment.name, "name": "x"})})
    assert not form.is_valid()
    assert form.errors["attachment"][0].startswith("This key is neither the field's current file")
    assert Document.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_form_saves_an_uploaded_key(uploader, user):
    key = uploader.upload(field_id(Document, "attachment"), "r.pdf", b"%PDF-1.4", "application/pdf")
    form = DocumentForm(
        data={"title": "t", "attachment": json.dumps({"key": key, "name": "r.pdf"})}, request=request_for(user)
    )
    assert form.is_valid(), form.errors
    doc = form.save()
    doc.refresh_from_db()
    assert doc.attachment.name == f"documents/{doc.pk}/r.pdf"
    # Re-submitting the unchanged current value is accepted and changes nothing.
    form = DocumentForm(
        data={"title": "t2", "attachment": json.dumps({"key": doc.attachment.name, "name": "r.pdf"})},
        instance=doc,
        request=request_for(user),
    )
    assert form.is_valid(), form.errors
    form.save()
    doc.refresh_from_db()
    assert (doc.title, doc.attachment.name) == ("t2", f"documents/{doc.pk}/r.pdf")


@pytest.mark.django_db
def test_a_form_refuses_another_users_key_and_saves_nothing(make_uploader, client_for, user, other_user):
    bob = make_uploader(client_for(other_user))
    key = bob.upload(field_id(Document, "attachment"), "bob.pdf", b"%PDF bob", "application/pdf")
    form = DocumentForm(data={"title": "alice", "attachment": json.dumps({"key": key})}, request=request_for(user))
    assert not form.is_valid()
    assert form.errors["attachment"] == ["This key was issued to another user."]
    assert Document.objects.count() == 0


@pytest.mark.django_db
def test_a_form_without_the_request_refuses_temporary_keys(uploader):
    key = uploader.upload(field_id(Document, "attachment"), "r.pdf", b"%PDF", "application/pdf")
    form = DocumentForm(data={"title": "t", "attachment": json.dumps({"key": key})})
    assert not form.is_valid()
    assert form.errors["attachment"][0].startswith("Cannot tell who submitted this key")
    assert Document.objects.count() == 0


@pytest.mark.django_db
def test_an_empty_value_clears_the_file_and_a_missing_one_keeps_it(user):
    doc = Document.objects.create(title="t", attachment="documents/1/a.pdf")
    form = DocumentForm(data={"title": "t"}, instance=doc, request=request_for(user))
    assert form.is_valid(), form.errors
    form.save()
    doc.refresh_from_db()
    assert doc.attachment.name == "documents/1/a.pdf"
    form = DocumentForm(data={"title": "t", "attachment": ""}, instance=doc, request=request_for(user))
    assert form.is_valid(), form.errors
    form.save()
    doc.refresh_from_db()
    assert doc.attachment.name == ""


class ProfileForm(AsyncFileFormMixin, forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["name", "resume", "avatar"]


@pytest.mark.django_db(transaction=True)
def test_every_refused_field_gets_its_own_error(client_for, make_user):
    user = make_user("testapp.add_profile")
    alice = Uploader(client_for(user))
    resume = alice.upload(field_id(Profile, "resume"), "fake.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")
    avatar = alice.upload(field_id(Profile, "avatar"), "tool.png", b"MZ\x90\x00", "image/png")
    form = ProfileForm(
        data={
            "name": "n",
            "resume": json.dumps({"key": resume, "name": "fake.pdf"}),
            "avatar": json.dumps({"key": avatar, "name": "tool.png"}),
        },
        request=request_for(user),
    )
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["resume"]] == ["invalid_file_type"]
    assert [e.code for e in form.errors.as_data()["avatar"]] == ["invalid_image"]
    assert Profile.objects.count() == 0
    assert AsyncTempFile.objects.filter(object_pk__isnull=False).count() == 0


@pytest.mark.django_db
def test_widget_renders_the_current_file_and_the_record_id(user):
    doc = Document.objects.create(title="t", attachment="documents/1/a.pdf")
    html = str(DocumentForm(instance=doc, request=request_for(user))["attachment"])
    assert f'data-instance-id="{doc.pk}"' in html
    assert '<a href="/async-uploads/download-file/?field_id=testapp.Document.attachment' in html
    assert ">a.pdf</a>" in html
    assert 'class="async-file-input__clear"' in html  # blank=True: the file can be removed
    # A new record asks for upload URLs without an id; a required field has no remove button.
    html = str(forms.modelform_factory(ProfileAttachment, fields=["file"])()["file"])
    assert "data-instance-id" not in html
    assert "async-file-input__clear" not in html
    assert ">No file<" in html


def test_widget_media_ships_the_script():
    media = str(DocumentForm().media)
    assert "async_uploads/async-file-input.js" in media
    assert "async_uploads/async-file-input.css" in media


@pytest.mark.django_db
def test_a_failed_upload_is_refused_and_the_form_offers_the_current_file_again(user):
    doc = Document.objects.create(title="t", attachment="documents/1/a.pdf")
    failed = json.dumps({"key": "async-temp-files/x-b.pdf", "name": "b.pdf", "error": "network"})
    form = DocumentForm(data={"title": "t", "attachment": failed}, instance=doc, request=request_for(user))
    assert not form.is_valid()
    assert form.errors["attachment"] == ["The upload failed: network"]
    widget = form.fields["attachment"].widget
    assert json.loads(widget.format_value(form["attachment"].value()))["key"] == "documents/1/a.pdf"
    doc.refresh_from_db()
    assert doc.attachment.name == "documents/1/a.pdf"


@pytest.mark.django_db(transaction=True)
def test_a_form_reports_every_field_error_at_once(uploader, user):
    """A too-long title and a refused key: both errors in one answer, nothing saved or claimed."""
    key = uploader.upload(field_id(Document, "extra"), "e.pdf", b"%PDF-1.4", "application/pdf")  # another field's
    form = DocumentForm(
        data={"title": "x" * 101, "attachment": json.dumps({"key": key, "name": "e.pdf"})}, request=request_for(user)
    )
    assert not form.is_valid()
    assert {name: [e.code for e in errors] for name, errors in form.errors.as_data().items()} == {
        "title": ["max_length"],
        "attachment": ["invalid_key"],
    }
    assert Document.objects.count() == 0
    row = AsyncTempFile.objects.get(key=key)
    assert (row.object_pk, row.moved_to_location) == (None, "")
