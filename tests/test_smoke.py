import pytest
from django.test import RequestFactory

from async_uploads.inputs import AsyncFileInputData
from tests.conftest import field_id
from tests.testapp.models import Document


@pytest.mark.django_db(transaction=True)
def test_smoke(uploader, user):
    key = uploader.upload(field_id(Document, "attachment"), "report.pdf", b"%PDF-1.4 hi", "application/pdf")
    req = RequestFactory().post("/")
    req.user = user
    doc = Document(title="x")
    doc.attachment = AsyncFileInputData.create_from_user_input({"key": key, "name": "report.pdf"}, request=req)
    doc.save()
    doc.refresh_from_db()
    assert doc.attachment.name == f"documents/{doc.pk}/report.pdf"
    assert doc.attachment.read() == b"%PDF-1.4 hi"
