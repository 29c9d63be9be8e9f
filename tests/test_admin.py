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
