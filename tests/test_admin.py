import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from async_uploads.models import AsyncTempFile


@pytest.mark.django_db
def test_temp_files_are_listed_read_only_and_cannot_be_added(client, uploader):
    from tests.conftest import field_id
    from tests.testapp.models import Document

    key = uploader.upload(field_id(Document, "attachment"), "r.pdf", b"%PDF", "application/pdf")
    admin = User.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(admin)
    listing = client.get(reverse("admin:async_uploads_asynctempfile_changelist"))
    assert listing.status_code == 200
    assert key in listing.content.decode()
    assert client.get(reverse("admin:async_uploads_asynctempfile_add")).status_code == 403
    row = AsyncTempFile.objects.get(key=key)
    assert client.get(reverse("admin:async_uploads_asynctempfile_delete", args=[row.pk])).status_code == 403
    change = client.get(reverse("admin:async_uploads_asynctempfile_change", args=[row.pk]))
    assert change.status_code == 200
    assert list(change.context["adminform"].form.fields) == []  # every field is read-only


# --------------------------------------------------------------------------- AsyncFileAdminMixin

PDF = b"%PDF-1.4\n% admin\n%%EOF\n"


def _profile_post(name: str, resume: str = "", **extra: str) -> dict[str, str]:
    return {
        "name": name,
        "resume": resume,
        "avatar": "",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
        "attachments-MIN_NUM_FORMS": "0",
        "attachments-MAX_NUM_FORMS": "1000",
        **extra,
    }


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(admin)
    return client


def _upload_as(client, model, field: str, filename: str, content: bytes, **extra) -> str:
    from tests.conftest import Uploader, field_id

    return Uploader(client).upload(field_id(model, field), filename, content, "application/pdf", **extra)


@pytest.mark.django_db(transaction=True)
def test_admin_list_editable_saves_an_uploaded_key(admin_client, monkeypatch):
    import json

    from tests.testapp.admin import ProfileAdmin
    from tests.testapp.models import Profile

    monkeypatch.setattr(ProfileAdmin, "list_display", ["name", "resume"])
    monkeypatch.setattr(ProfileAdmin, "list_editable", ["resume"])
    profile = Profile.objects.create(name="p")
    page = admin_client.get(reverse("admin:testapp_profile_changelist"))
    assert f'data-instance-id="{profile.pk}"' in page.content.decode()
    key = _upload_as(admin_client, Profile, "resume", "cv.pdf", PDF, instance_id=profile.pk)
    response = admin_client.post(
        reverse("admin:testapp_profile_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(profile.pk),
            "form-0-resume": json.dumps({"key": key, "name": "cv.pdf"}),
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    profile.refresh_from_db()
    assert profile.resume.name.startswith("resumes/cv")


@pytest.mark.django_db(transaction=True)
def test_admin_with_a_form_that_keeps_its_own_request_attribute(admin_client, monkeypatch):
    """A form class of the project's own that sets self.request (to None here) must not lose the check's request."""
    import json

    from django import forms

    from tests.testapp.admin import ProfileAdmin
    from tests.testapp.models import Profile

    class RequestForm(forms.ModelForm):
        def __init__(self, *args, request=None, **kwargs):
            self.request = request
            super().__init__(*args, **kwargs)

        class Meta:
            model = Profile
            fields = "__all__"

    monkeypatch.setattr(ProfileAdmin, "form", RequestForm)
    key = _upload_as(admin_client, Profile, "resume", "cv.pdf", PDF)
    response = admin_client.post(
        reverse("admin:testapp_profile_add"), _profile_post("q", json.dumps({"key": key, "name": "cv.pdf"}))
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Profile.objects.get().resume.name.startswith("resumes/cv")


@pytest.mark.django_db(transaction=True)
def test_admin_save_as_new_refuses_to_share_the_original_file(admin_client, monkeypatch):
    import json

    from tests.testapp.admin import ProfileAdmin
    from tests.testapp.models import Profile

    monkeypatch.setattr(ProfileAdmin, "save_as", True)
    original = Profile.objects.create(name="orig", resume="resumes/orig.pdf")
    url = reverse("admin:testapp_profile_change", args=[original.pk])
    response = admin_client.post(
        url, _profile_post("copy", json.dumps({"key": "resumes/orig.pdf", "name": "orig.pdf"}), _saveasnew="1")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["resume"] == [
        "Save as new cannot share the original record's file with the copy: upload the file again, or remove it."
    ]
    assert list(Profile.objects.values_list("name", "resume")) == [("orig", "resumes/orig.pdf")]
    # Without the file, the copy is made.
    response = admin_client.post(url, _profile_post("copy", "", _saveasnew="1"))
    assert response.status_code == 302
    assert sorted(Profile.objects.values_list("name", "resume")) == [("copy", ""), ("orig", "resumes/orig.pdf")]
