"""Uploads in parts through GraphQL, sync and async views, on the filesystem part view."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.core.files.storage import default_storage

from async_uploads.models import AsyncTempFile, UploadSession
from tests.conftest import read
from tests.graphql_client import GraphQLClient, single_message

pytestmark = pytest.mark.django_db(transaction=True)

ATTACHMENT = "TESTAPP_DOCUMENT_ATTACHMENT"
KiB = 1024
PART = 100 * KiB
SIZE = 250 * KiB + 17  # three parts of 100 KiB, 100 KiB and the rest
MESSAGES = "... on OperationInfo { messages { kind code field message } }"

START = f"""
mutation($input: StartMultipartUploadInput!) {{
  startMultipartUpload(input: $input) {{
    __typename
    ... on MultipartUpload {{ key uploadId partSize partCount expiresAt }}
    {MESSAGES}
  }}
}}
"""
SIGN = f"""
mutation($input: SignUploadPartsInput!) {{
  signUploadParts(input: $input) {{
    __typename
    ... on SignedUploadParts {{ parts {{ partNumber url method headers {{ name value }} }} }}
    {MESSAGES}
  }}
}}
"""
COMPLETE = f"""
mutation($input: CompleteMultipartUploadInput!) {{
  completeMultipartUpload(input: $input) {{ __typename ... on CompletedMultipartUpload {{ key }} {MESSAGES} }}
}}
"""
ABORT = f"""
mutation($input: AbortMultipartUploadInput!) {{
  abortMultipartUpload(input: $input) {{ __typename ... on AbortedMultipartUpload {{ key }} {MESSAGES} }}
}}
"""
PARTS = "query($key: String!, $uploadId: String!) { uploadedParts(key: $key, uploadId: $uploadId) { partNumber size } }"
CREATE = f"""
mutation($data: DocumentInput!) {{
  createDocument(data: $data) {{ __typename ... on DocumentType {{ id attachment {{ key name }} }} {MESSAGES} }}
}}
"""


@pytest.fixture(autouse=True)
def _small_parts(settings):
    settings.ASYNC_UPLOADS = {"MULTIPART_PART_SIZE": PART}


def content() -> bytes:
    head = b"%PDF-1.7\n"
    return head + bytes(i % 251 for i in range(SIZE - len(head)))


def op(gql: GraphQLClient, query: str, name: str, **input: Any) -> dict[str, Any]:
    result = gql.execute(query, {"input": input})
    assert result.errors is None, result.body
    return result.data[name]  # type: ignore[index]


def start(gql: GraphQLClient, **extra: Any) -> dict[str, Any]:
    data = {"field": ATTACHMENT, "filename": "big.pdf", "contentType": "application/pdf", "size": SIZE, **extra}
    return op(gql, START, "startMultipartUpload", **data)


def send_parts(gql: GraphQLClient, s: dict[str, Any], body: bytes, numbers: list[int]) -> list[int]:
    signed = op(gql, SIGN, "signUploadParts", key=s["key"], uploadId=s["uploadId"], partNumbers=numbers)
    assert signed["__typename"] == "SignedUploadParts", signed
    sent = []
    for part in signed["parts"]:
        n = part["partNumber"]
        headers = {h["name"]: h["value"] for h in part["headers"]}
        url = part["url"].removeprefix("http://testserver")
        chunk = body[(n - 1) * s["partSize"] : n * s["partSize"]]
        # A fresh client: no cookies go with a part, only the signed URL authorises it.
        from django.test import Client

        response = Client().generic(part["method"], url, data=chunk, content_type="", **headers)
        assert response.status_code == 200, response.content
        sent.append(n)
    return sent


def uploaded(gql: GraphQLClient, s: dict[str, Any]) -> Any:
    return gql.execute(PARTS, {"key": s["key"], "uploadId": s["uploadId"]})


def test_start_sign_upload_complete_create_download(gql):
    body = content()
    s = start(gql)
    assert s["__typename"] == "MultipartUpload", s
    assert (s["partSize"], s["partCount"]) == (PART, 3)
    send_parts(gql, s, body, [1, 2, 3])
    assert uploaded(gql, s).data["uploadedParts"] == [
        {"partNumber": 1, "size": PART},
        {"partNumber": 2, "size": PART},
        {"partNumber": 3, "size": SIZE - 2 * PART},
    ]
    done = op(gql, COMPLETE, "completeMultipartUpload", key=s["key"], uploadId=s["uploadId"])
    assert done == {"__typename": "CompletedMultipartUpload", "key": s["key"]}
    assert not os.path.exists(default_storage.parts_directory(s["uploadId"]))
    created = gql.execute(CREATE, {"data": {"title": "t", "attachment": {"key": s["key"], "name": "big.pdf"}}})
    doc = created.data["createDocument"]
    assert doc["__typename"] == "DocumentType", doc
    assert read(doc["attachment"]["key"]) == body


def test_resume_sends_only_the_missing_parts(gql):
    body = content()
    s = start(gql)
    send_parts(gql, s, body, [2])
    have = {p["partNumber"] for p in uploaded(gql, s).data["uploadedParts"]}
    assert send_parts(gql, s, body, [n for n in range(1, 4) if n not in have]) == [1, 3]
    assert op(gql, COMPLETE, "completeMultipartUpload", key=s["key"], uploadId=s["uploadId"])["key"] == s["key"]
    with default_storage.open(s["key"], "rb") as fh:
        assert fh.read() == body


def test_abort_leaves_nothing_and_signing_after_it_is_refused(gql):
    s = start(gql)
    send_parts(gql, s, content(), [1])
    assert op(gql, ABORT, "abortMultipartUpload", key=s["key"], uploadId=s["uploadId"])["key"] == s["key"]
    assert not os.path.exists(default_storage.parts_directory(s["uploadId"]))
    assert not default_storage.exists(s["key"])
    refused = op(gql, SIGN, "signUploadParts", key=s["key"], uploadId=s["uploadId"], partNumbers=[1])
    assert single_message(refused)["code"] == "upload_session_closed"
    result = uploaded(gql, s)
    assert result.errors[0]["extensions"]["code"] == "upload_session_closed"


@pytest.mark.parametrize("numbers", [[0], [4], list(range(1, 102))])
def test_bad_part_numbers_are_invalid_input(gql, numbers):
    s = start(gql)
    refused = op(gql, SIGN, "signUploadParts", key=s["key"], uploadId=s["uploadId"], partNumbers=numbers)
    message = single_message(refused)
    assert (message["code"], message["field"]) == ("invalid_input", "partNumbers")


def test_missing_part_and_completing_twice_are_refused(gql):
    body = content()
    s = start(gql)
    send_parts(gql, s, body, [1, 3])
    missing = op(gql, COMPLETE, "completeMultipartUpload", key=s["key"], uploadId=s["uploadId"])
    assert single_message(missing)["code"] == "invalid_input"
    assert not default_storage.exists(s["key"]) and not AsyncTempFile.objects.exists()
    send_parts(gql, s, body, [2])
    assert op(gql, COMPLETE, "completeMultipartUpload", key=s["key"], uploadId=s["uploadId"])["key"] == s["key"]
    again = op(gql, COMPLETE, "completeMultipartUpload", key=s["key"], uploadId=s["uploadId"])
    assert single_message(again)["code"] == "upload_session_closed"
    assert AsyncTempFile.objects.count() == 1


def test_another_users_session_is_not_found(gql, make_gql, other_user):
    s = start(gql)
    bob = make_gql(other_user)
    for query, name, extra in (
        (SIGN, "signUploadParts", {"partNumbers": [1]}),
        (COMPLETE, "completeMultipartUpload", {}),
        (ABORT, "abortMultipartUpload", {}),
    ):
        refused = op(bob, query, name, key=s["key"], uploadId=s["uploadId"], **extra)
        assert single_message(refused)["code"] == "not_found"
    assert uploaded(bob, s).errors[0]["extensions"]["code"] == "not_found"
    assert UploadSession.objects.get().state == "open"
    assert os.path.isdir(default_storage.parts_directory(s["uploadId"]))


@pytest.mark.parametrize("bad", ["key", "uploadId"])
def test_a_nul_in_the_key_or_upload_id_is_not_found_and_changes_nothing(gql, bad):
    s = start(gql)
    ids = {"key": s["key"], "uploadId": s["uploadId"]}
    ids[bad] += "\x00"
    for query, name, extra in (
        (SIGN, "signUploadParts", {"partNumbers": [1]}),
        (COMPLETE, "completeMultipartUpload", {}),
        (ABORT, "abortMultipartUpload", {}),
    ):
        assert single_message(op(gql, query, name, **ids, **extra))["code"] == "not_found"
    result = gql.execute(PARTS, ids)
    assert result.errors[0]["extensions"]["code"] == "not_found", result.body
    assert UploadSession.objects.get().state == "open" and AsyncTempFile.objects.count() == 0
    assert os.path.isdir(default_storage.parts_directory(s["uploadId"]))


def test_start_checks_the_fields_rules_and_permission(gql, make_gql):
    assert single_message(start(gql, size=2 * 1024 * 1024))["code"] == "file_too_large"
    assert single_message(start(gql, filename="big.exe"))["code"] == "invalid_file_type"
    assert single_message(start(make_gql(None)))["code"] == "permission_denied"
    assert not UploadSession.objects.exists()
