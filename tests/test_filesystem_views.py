import pytest
from django.test import Client
from django.core.files.uploadedfile import SimpleUploadedFile
from tests.conftest import field_id
from tests.testapp.models import Document

@pytest.mark.django_db
def test_probe(uploader):
    issued = uploader.issue(field_id(Document, "attachment"), "a.pdf")
    c = Client(raise_request_exception=True)
    r = c.post(issued["uploadUrl"]["url"], data={"file": SimpleUploadedFile("a.exe", b"x", "application/x-msdownload")})
    print("wrongtype", r.status_code, r.content[:300])
    r = c.post(issued["uploadUrl"]["url"], data={"file": SimpleUploadedFile("a.pdf", b"x" * (1024*1024+1), "application/pdf")})
    print("oversize", r.status_code, r.content[:300])
    r = c.post(issued["uploadUrl"]["url"], data={"other": SimpleUploadedFile("a.pdf", b"x", "application/pdf")})
    print("otherpart", r.status_code, r.content[:300])
    r = c.post(issued["uploadUrl"]["url"], data={"file": SimpleUploadedFile("a.pdf", b"x", "application/pdf"), "zz": SimpleUploadedFile("b.pdf", b"y", "application/pdf")})
    print("twoparts", r.status_code, r.content[:300])
