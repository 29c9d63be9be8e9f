from __future__ import annotations

import pytest

from tests.testapp.models import Document

pytestmark = pytest.mark.django_db(transaction=True)

ISSUE = """
mutation($input: GenerateUploadUrlInput!) {
  generateUploadUrl(input: $input) {
    __typename
    ... on IssuedUpload { key upload { url method provider fileFieldName fields { name value } } }
    ... on OperationInfo { messages { kind code field message } }
  }
}
"""

CREATE = """
mutation($data: DocumentInput!) {
  createDocument(data: $data) {
    __typename
    ... on DocumentType { id attachment { key name url downloadUrl } }
    ... on OperationInfo { messages { kind code field message } }
  }
}
"""


def test_full_flow(gql):
    r = gql.execute(ISSUE, {"input": {"field": "TESTAPP_DOCUMENT_ATTACHMENT", "filename": "a.txt", "size": 5}})
    issued = r.data["generateUploadUrl"]
    assert issued["__typename"] == "IssuedUpload", r.body
    from django.core.files.uploadedfile import SimpleUploadedFile

    up = gql.sync_client.post(issued["upload"]["url"], {"file": SimpleUploadedFile("a.txt", b"hello")})
    assert up.status_code == 201, up.content
    r = gql.execute(CREATE, {"data": {"title": "t", "attachment": {"key": issued["key"], "name": "a.txt"}}})
    created = r.data["createDocument"]
    assert created["__typename"] == "DocumentType", r.body
    doc = Document.objects.get(pk=created["id"])
    assert created["attachment"]["key"] == doc.attachment.name
    assert not doc.attachment.name.startswith("async-temp-files/")
