"""Uploads in parts over real HTTP: moto's S3 server, Azurite and the filesystem part view, through REST.

Every part is sent as the raw body with exactly the method, URL and headers it was signed with.
Every refusal is checked to write nothing: no object at the key, no temporary-file record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import pytest
import requests
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile, UploadSession
from tests.cloudapp.models import AzureBig, FsBig, S3Big, S3Doc, azure_storage, cloud_registry, fs_storage, s3_storage
from tests.conftest import request_for
from tests.servers import S3_BUCKET

MiB = 1024 * 1024
NS = cloud_registry.url_namespace


def pdf_of(size: int, seed: int = 1) -> bytes:
    head = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"
    body = (bytes(range(256)) * (size // 256 + 1))[: size - len(head)]
    return head + bytes((b + seed) % 256 for b in body)


@dataclass
class Driver:
    """Plays the browser: start, sign, send each part as given, list, complete, abort."""

    name: str
    model: Any
    storage: Any
    client: Client
    sent: list[int] = field(default_factory=list)

    @property
    def field_id(self) -> str:
        return cloud_registry.generate_id(self.model._meta.get_field("file"))

    def post(self, op: str, data: dict[str, Any], client: Client | None = None):
        return (client or self.client).post(
            reverse(f"{NS}:multipart-{op}"), data=json.dumps(data), content_type="application/json"
        )

    def start(self, filename: str, size: int, **extra: Any) -> dict[str, Any]:
        data = {"fieldId": self.field_id, "filename": filename, "size": size, "contentType": "application/pdf"}
        response = self.post("start", {**data, **extra})
        assert response.status_code == 200, response.content
        return response.json()

    def sign(self, s: dict[str, Any], numbers: list[int]) -> list[dict[str, Any]]:
        response = self.post("sign", {"key": s["key"], "uploadId": s["uploadId"], "partNumbers": numbers})
        assert response.status_code == 200, response.content
        return response.json()["parts"]

    def send(self, part: dict[str, Any], body: bytes) -> int:
        self.sent.append(part["partNumber"])
        headers = {h["name"]: h["value"] for h in part["headers"]}
        url = part["url"]
        if url.startswith("http://testserver"):  # the filesystem part view: the raw body, no form encoding
            response = self.client.generic(
                part["method"], url.removeprefix("http://testserver"), data=body, content_type="", **headers
            )
            return response.status_code
        return requests.request(part["method"], url, data=body, headers=headers, timeout=60).status_code

    def upload_parts(self, s: dict[str, Any], content: bytes, numbers: list[int]) -> None:
        for part in self.sign(s, numbers):
            n = part["partNumber"]
            chunk = content[(n - 1) * s["partSize"] : n * s["partSize"]]
            status = self.send(part, chunk)
            assert status in (200, 201), status

    def parts(self, s: dict[str, Any], client: Client | None = None):
        return (client or self.client).get(
            reverse(f"{NS}:multipart-parts"), {"key": s["key"], "uploadId": s["uploadId"]}
        )

    def complete(self, s: dict[str, Any], client: Client | None = None):
        return self.post("complete", {"key": s["key"], "uploadId": s["uploadId"]}, client)

    def abort(self, s: dict[str, Any], client: Client | None = None):
        return self.post("abort", {"key": s["key"], "uploadId": s["uploadId"]}, client)

    # ---- what storage holds

    def put_part_directly(self, s: dict[str, Any], number: int, body: bytes) -> None:
        """Put a part in storage behind the server's back (as a client holding a signature could)."""
        if self.name == "s3":
            self.storage.client.upload_part(
                Bucket=S3_BUCKET, Key=s["key"], UploadId=s["uploadId"], PartNumber=number, Body=body
            )
        elif self.name == "azure":
            self.storage.client.get_blob_client(s["key"]).stage_block(f"{number:06d}", body)
        else:
            with open(os.path.join(self.storage.parts_directory(s["uploadId"]), f"{number:05d}.part"), "wb") as fh:
                fh.write(body)

    def assert_nothing_left(self, s: dict[str, Any], *, object_too: bool = True) -> None:
        key = s["key"]
        if object_too:
            assert not self.storage.exists(key), "no object at the key"
            assert not AsyncTempFile.objects.filter(key=key).exists(), "no temporary-file record"
        if self.name == "s3":
            uploads = self.storage.client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=key).get("Uploads", [])
            assert uploads == [], "no open S3 multipart upload"
        elif self.name == "azure":
            from azure.core.exceptions import ResourceNotFoundError

            try:
                _, uncommitted = self.storage.client.get_blob_client(key).get_block_list("uncommitted")
            except ResourceNotFoundError:
                uncommitted = []
            assert uncommitted == [], "no uncommitted Azure blocks"
            if object_too:
                assert not list(self.storage.client.list_blobs(name_starts_with=key)), "no blob, not even empty"
        else:
            assert not os.path.exists(self.storage.parts_directory(s["uploadId"])), "no part files under MEDIA_ROOT"

    def download(self, obj: Any) -> bytes:
        url = reverse(f"{NS}:download") + f"?field_id={self.field_id}&instance_id={obj.pk}"
        response = self.client.get(url)
        assert response.status_code == 302, response.content
        location = response["Location"]
        if location.startswith("http"):
            return requests.get(location, timeout=60).content
        got = self.client.get(location)
        return b"".join(got.streaming_content) if got.streaming else got.content


@pytest.fixture(params=["filesystem", "s3", "azure"])
def mp(request, user, client_for, settings) -> Driver:
    # S3 (and moto) want every part but the last to be at least 5 MiB: 5 MiB parts everywhere.
    settings.ASYNC_UPLOADS = {"MULTIPART_PART_SIZE": 5 * MiB, "MAX_PENDING_BYTES": 1024 * MiB}
    client = client_for(user)
    if request.param == "s3":
        request.getfixturevalue("s3_server")
        return Driver("s3", S3Big, s3_storage, client)
    if request.param == "azure":
        request.getfixturevalue("azurite")
        return Driver("azure", AzureBig, azure_storage, client)
    return Driver("filesystem", FsBig, fs_storage, client)


SIZE = 11 * MiB + 123  # three parts: 5 MiB, 5 MiB and the rest


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["code"] == code, response.content


def save(mp: Driver, key: str, user) -> Any:
    obj = mp.model()
    obj.file = AsyncFileInputData(key, "big.pdf", request=request_for(user))
    obj.save()
    obj.refresh_from_db()
    return obj


# --------------------------------------------------------------------------- the whole flow


@pytest.mark.django_db(transaction=True)
def test_three_parts_start_sign_upload_complete_save_download(mp, user):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    assert (s["partSize"], s["partCount"]) == (5 * MiB, 3)
    assert UploadSession.objects.get(key=s["key"]).state == "open"
    mp.upload_parts(s, content, [1, 2, 3])
    listed = mp.parts(s).json()["parts"]
    assert listed == [
        {"partNumber": 1, "size": 5 * MiB},
        {"partNumber": 2, "size": 5 * MiB},
        {"partNumber": 3, "size": SIZE - 10 * MiB},
    ]
    response = mp.complete(s)
    assert response.status_code == 200, response.content
    assert response.json() == {"key": s["key"]}
    assert UploadSession.objects.get(key=s["key"]).state == "completed"
    assert AsyncTempFile.objects.get(key=s["key"]).declared_size == SIZE
    mp.assert_nothing_left(s, object_too=False)  # no parts are left, only the object
    obj = save(mp, s["key"], user)
    assert obj.file.name.startswith("big/big")
    assert mp.download(obj) == content


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_upload_resumes_sending_only_the_missing_parts(mp, user):
    content = pdf_of(SIZE, seed=7)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 3])  # then the connection drops, the page reloads
    mp.sent.clear()
    arrived = {p["partNumber"] for p in mp.parts(s).json()["parts"]}
    assert arrived == {1, 3}
    missing = [n for n in range(1, s["partCount"] + 1) if n not in arrived]
    mp.upload_parts(s, content, missing)
    assert mp.sent == [2], "only the missing part is sent again"
    assert mp.complete(s).status_code == 200
    assert mp.download(save(mp, s["key"], user)) == content


@pytest.mark.django_db(transaction=True)
def test_abort_leaves_nothing_behind(mp):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 2])
    response = mp.abort(s)
    assert response.status_code == 200 and response.json() == {"key": s["key"]}
    assert UploadSession.objects.get(key=s["key"]).state == "aborted"
    mp.assert_nothing_left(s)
    assert mp.abort(s).status_code == 200, "aborting again is harmless"


# --------------------------------------------------------------------------- refusals write nothing


@pytest.mark.django_db(transaction=True)
def test_a_missing_part_is_refused(mp):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 3])
    response = mp.complete(s)
    assert_error(response, 400, "invalid_input")
    assert "parts 2 are missing" in response.json()["message"]
    assert not mp.storage.exists(s["key"]) and not AsyncTempFile.objects.filter(key=s["key"]).exists()
    assert UploadSession.objects.get(key=s["key"]).state == "open", "the missing part can still be sent"
    mp.abort(s)
    mp.assert_nothing_left(s)


@pytest.mark.django_db(transaction=True)
def test_an_extra_part_is_refused(mp):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 2, 3])
    mp.put_part_directly(s, 4, b"x" * 10)
    response = mp.complete(s)
    assert_error(response, 400, "invalid_input")
    assert "not in the plan" in response.json()["message"]
    assert not mp.storage.exists(s["key"]) and not AsyncTempFile.objects.filter(key=s["key"]).exists()
    mp.abort(s)
    mp.assert_nothing_left(s)


@pytest.mark.django_db(transaction=True)
def test_parts_that_do_not_add_up_to_the_declared_size_are_refused(mp):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 2])
    mp.put_part_directly(s, 3, content[10 * MiB :] + b"more")
    response = mp.complete(s)
    assert_error(response, 400, "invalid_input")
    assert "part 3 is" in response.json()["message"]
    assert not mp.storage.exists(s["key"]) and not AsyncTempFile.objects.filter(key=s["key"]).exists()
    mp.abort(s)
    mp.assert_nothing_left(s)


@pytest.mark.django_db(transaction=True)
def test_a_session_of_another_user_is_not_found(mp, other_user, client_for):
    bob = client_for(other_user)
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 2, 3])
    response = mp.post("sign", {"key": s["key"], "uploadId": s["uploadId"], "partNumbers": [1]}, bob)
    assert_error(response, 404, "not_found")
    assert_error(mp.parts(s, bob), 404, "not_found")
    assert_error(mp.complete(s, bob), 404, "not_found")
    assert not mp.storage.exists(s["key"]) and not AsyncTempFile.objects.filter(key=s["key"]).exists()
    assert_error(mp.abort(s, bob), 404, "not_found")
    assert UploadSession.objects.get(key=s["key"]).state == "open"
    assert len(mp.parts(s).json()["parts"]) == 3, "bob's abort removed nothing"
    mp.abort(s)


@pytest.mark.django_db(transaction=True)
def test_a_session_is_bound_to_its_field(mp, user, alice):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 2, 3])
    # Through another registry's views the session does not exist.
    other = alice.post(
        reverse("async_uploads:multipart-complete"),
        data=json.dumps({"key": s["key"], "uploadId": s["uploadId"]}),
        content_type="application/json",
    )
    assert_error(other, 404, "not_found")
    assert not mp.storage.exists(s["key"])
    assert mp.complete(s).status_code == 200
    # The completed key is accepted only by its own field.
    doc = S3Doc()
    with pytest.raises(ValidationError, match="another field"):
        doc.file = AsyncFileInputData(s["key"], "big.pdf", request=request_for(user))
        doc.save()
    assert not S3Doc.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("numbers", [[0], [4], [1, 4], [-1], list(range(1, 102)), [], [1, 1]])
def test_part_numbers_out_of_range_or_too_many_are_invalid_input(mp, numbers):
    s = mp.start("big.pdf", SIZE)
    response = mp.post("sign", {"key": s["key"], "uploadId": s["uploadId"], "partNumbers": numbers})
    assert_error(response, 400, "invalid_input")
    mp.abort(s)
    mp.assert_nothing_left(s)


@pytest.mark.django_db(transaction=True)
def test_completing_twice_is_refused(mp):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 2, 3])
    assert mp.complete(s).status_code == 200
    assert_error(mp.complete(s), 409, "upload_session_closed")
    assert AsyncTempFile.objects.filter(key=s["key"]).count() == 1
    assert_error(mp.abort(s), 409, "upload_session_closed")
    assert mp.storage.exists(s["key"]), "the completed object stays for its save"


@pytest.mark.django_db(transaction=True)
def test_signing_after_abort_is_refused(mp):
    s = mp.start("big.pdf", SIZE)
    assert mp.abort(s).status_code == 200
    response = mp.post("sign", {"key": s["key"], "uploadId": s["uploadId"], "partNumbers": [1]})
    assert_error(response, 409, "upload_session_closed")
    assert_error(mp.parts(s), 409, "upload_session_closed")
    assert_error(mp.complete(s), 409, "upload_session_closed")
    mp.assert_nothing_left(s)


@pytest.mark.django_db(transaction=True)
def test_a_part_sent_after_abort_is_refused_where_the_server_receives_it(mp):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    (part,) = mp.sign(s, [1])
    mp.abort(s)
    status = mp.send(part, content[: 5 * MiB])
    if mp.name == "filesystem":
        assert status == 404
    mp.abort(s)  # S3 refuses the unknown upload id; Azure keeps a stray block until the abort
    mp.assert_nothing_left(s)


@pytest.mark.django_db(transaction=True)
def test_an_object_that_fails_verification_is_deleted_and_the_session_aborted(mp):
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    content = html + b" " * (SIZE - len(html))
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1, 2, 3])
    assert_error(mp.complete(s), 400, "invalid_file_type")
    assert UploadSession.objects.get(key=s["key"]).state == "aborted"
    mp.assert_nothing_left(s)


@pytest.mark.django_db(transaction=True)
def test_a_size_over_max_size_or_missing_starts_nothing(mp):
    for size, code, status in (
        (17 * MiB, "file_too_large", 413),
        (None, "invalid_input", 400),
        (0, "invalid_input", 400),
    ):
        data = {"fieldId": mp.field_id, "filename": "big.pdf", "size": size}
        assert_error(mp.post("start", data), status, code)
    assert_error(
        mp.post("start", {"fieldId": mp.field_id, "filename": "big.exe", "size": 10}), 400, "invalid_file_type"
    )
    assert not UploadSession.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_open_sessions_count_in_the_quota_by_declared_size(mp, settings):
    settings.ASYNC_UPLOADS = {"MULTIPART_PART_SIZE": 5 * MiB, "MAX_PENDING_BYTES": 20 * MiB}
    s = mp.start("big.pdf", SIZE)
    assert_error(mp.post("start", {"fieldId": mp.field_id, "filename": "b.pdf", "size": SIZE}), 429, "quota_exceeded")
    assert UploadSession.objects.count() == 1
    mp.abort(s)
    mp.start("b.pdf", SIZE)  # the aborted session no longer counts


@pytest.mark.django_db(transaction=True)
def test_the_cleanup_aborts_abandoned_sessions(mp):
    content = pdf_of(SIZE)
    s = mp.start("big.pdf", SIZE)
    mp.upload_parts(s, content, [1])
    UploadSession.objects.filter(key=s["key"]).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert_error(
        mp.post("sign", {"key": s["key"], "uploadId": s["uploadId"], "partNumbers": [2]}), 409, "upload_session_closed"
    )
    out = StringIO()
    call_command("cleanup_async_temp_files", stdout=out, stderr=StringIO())
    assert "aborted 1 abandoned uploads in parts" in out.getvalue()
    assert UploadSession.objects.get(key=s["key"]).state == "aborted"
    mp.assert_nothing_left(s)
