"""S3 (moto's server) and Azure (Azurite) backends over real HTTP, and verification on every backend."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from tests.cloudapp.models import (
    AzureDoc,
    AzureImage,
    FsDoc,
    FsImage,
    S3Doc,
    S3Image,
    azure_storage,
    cloud_registry,
    fs_storage,
    s3_storage,
)
from tests.conftest import request_for
from tests.servers import S3_BUCKET

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def png(width: int = 3, height: int = 2) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Backend:
    name: str
    doc: Any
    image: Any
    storage: Any
    client: Client

    def issue(self, model: Any, filename: str, **extra: Any) -> dict[str, Any]:
        field = model._meta.get_field("image" if model in (S3Image, AzureImage, FsImage) else "file")
        data = {"field_id": cloud_registry.generate_id(field), "filename": filename, **extra}
        response = self.client.post(
            reverse(f"{cloud_registry.url_namespace}:generate-upload-url"),
            data=json.dumps(data),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return response.json()

    def send(self, issued: dict[str, Any], body: bytes, filename: str, content_type: str) -> int:
        """Upload ``body`` to the issued target exactly as a browser would; return the HTTP status."""
        target = issued["uploadUrl"]
        if target["provider"] == "s3":
            response = requests.post(
                target["url"], data=target["fields"], files={"file": (filename, body, content_type)}, timeout=30
            )
            return response.status_code
        if target["provider"] == "azure":
            response = requests.put(target["url"], data=body, headers=target["headers"], timeout=30)
            return response.status_code
        from django.core.files.uploadedfile import SimpleUploadedFile

        return self.client.post(target["url"], {"file": SimpleUploadedFile(filename, body, content_type)}).status_code

    def upload(self, model: Any, filename: str, body: bytes, content_type: str, **extra: Any) -> str:
        issued = self.issue(model, filename, content_type=content_type, **extra)
        status = self.send(issued, body, filename, content_type)
        assert status in (200, 201, 204), status
        return issued["key"]

    def plant(self, model: Any, filename: str, body: bytes | None) -> str:
        """Issue a key and put ``body`` there directly (``None``: upload nothing)."""
        key = self.issue(model, filename)["key"]
        if body is not None:
            assert self.storage.save(key, ContentFile(body)) == key
        return key

    def download(self, obj: Any, field: str) -> requests.Response | Any:
        url = (
            reverse(f"{cloud_registry.url_namespace}:download")
            + "?"
            + f"field_id={cloud_registry.generate_id(obj._meta.get_field(field))}"
        )
        response = self.client.get(url + f"&instance_id={obj.pk}")
        assert response.status_code == 302, response.content
        location = response["Location"]
        if location.startswith("http"):
            return requests.get(location, timeout=30)
        return self.client.get(location)


@pytest.fixture(params=["filesystem", "s3", "azure"])
def backend(request, user, client_for) -> Backend:
    client = client_for(user)
    if request.param == "s3":
        request.getfixturevalue("s3_server")
        return Backend("s3", S3Doc, S3Image, s3_storage, client)
    if request.param == "azure":
        request.getfixturevalue("azurite")
        return Backend("azure", AzureDoc, AzureImage, azure_storage, client)
    return Backend("filesystem", FsDoc, FsImage, fs_storage, client)


def body_of(response: Any) -> bytes:
    if isinstance(response, requests.Response):
        return response.content
    return b"".join(response.streaming_content) if response.streaming else response.content


# --------------------------------------------------------------------------- the whole flow


@pytest.mark.django_db(transaction=True)
def test_full_flow_issue_upload_save_move_download(backend, user):
    key = backend.upload(backend.doc, "report.pdf", PDF, "application/pdf", size=len(PDF))
    assert backend.storage.exists(key)
    doc = backend.doc()
    doc.file = AsyncFileInputData(key, "report.pdf", request=request_for(user))
    doc.save()
    doc.refresh_from_db()
    name = doc.file.name  # the servers live for the session: an earlier test may hold docs/report.pdf
    assert name.startswith("docs/report") and name.endswith(".pdf")
    assert backend.storage.exists(name)
    assert not backend.storage.exists(key), "the temporary object is deleted after the move"
    assert AsyncTempFile.objects.get(key=key).moved_to_location == name
    response = backend.download(doc, "file")
    assert response.status_code == 200
    assert body_of(response) == PDF
    assert "attachment" in response.headers["Content-Disposition"]


@pytest.mark.django_db(transaction=True)
def test_image_dimensions_come_from_the_header_when_the_client_sends_none(backend, user):
    key = backend.upload(backend.image, "photo.png", png(7, 5), "image/png")
    photo = backend.image()
    photo.image = AsyncFileInputData(key, "photo.png", request=request_for(user))
    photo.save()
    photo.refresh_from_db()
    assert (photo.width, photo.height) == (7, 5)
    assert photo.image.name.startswith("images/photo") and photo.image.name.endswith(".png")
    assert body_of(backend.download(photo, "image")) == png(7, 5)


@pytest.mark.django_db(transaction=True)
def test_client_dimensions_that_match_the_header_are_accepted(backend, user):
    key = backend.upload(backend.image, "photo.png", png(4, 9), "image/png")
    photo = backend.image()
    photo.image = AsyncFileInputData(key, "photo.png", width=4, height=9, request=request_for(user))
    photo.save()
    photo.refresh_from_db()
    assert (photo.width, photo.height) == (4, 9)


# --------------------------------------------------------------------------- verification before acceptance

BAD = {
    "nothing uploaded": ("doc", "report.pdf", None, {}, "invalid_key"),
    "over max_size": ("doc", "report.pdf", PDF + b"x" * (1024 * 1024), {}, "file_too_large"),
    "PNG named .pdf": ("doc", "report.pdf", png(), {}, "invalid_file_type"),
    "HTML named .pdf": ("doc", "report.pdf", b"<!DOCTYPE html><script>alert(1)</script>", {}, "invalid_file_type"),
    "binary named .txt": ("doc", "notes.txt", b"\x00\x01\x02\x03" * 64, {}, "invalid_file_type"),
    "PDF named .txt": ("doc", "notes.txt", PDF, {}, "invalid_file_type"),
    "text named .png": ("image", "photo.png", b"just some text", {}, "invalid_file_type"),
    "SVG named .png": (  # active content: image/* does not name image/svg+xml
        "image",
        "photo.png",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="3" height="2"/>',
        {},
        "invalid_file_type",
    ),
    "truncated PNG header": ("image", "photo.png", png()[:20], {}, "invalid_image"),
    "width that is not the image's": ("image", "photo.png", png(3, 2), {"width": 30, "height": 2}, "invalid_image"),
    "height that is not the image's": ("image", "photo.png", png(3, 2), {"width": 3, "height": 20}, "invalid_image"),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(BAD))
def test_planted_bad_object_is_rejected_and_nothing_saved(backend, user, case):
    kind, filename, body, dims, code = BAD[case]
    model = backend.doc if kind == "doc" else backend.image
    field = "file" if kind == "doc" else "image"
    existing = model.objects.create()
    key = backend.plant(model, filename, body)
    obj = model()
    with pytest.raises(ValidationError) as info:
        setattr(obj, field, AsyncFileInputData(key, filename, request=request_for(user), **dims))
    assert info.value.error_dict[field][0].code == code, info.value
    assert model.objects.count() == 1 and model.objects.get().pk == existing.pk
    assert not getattr(existing, field)
    record = AsyncTempFile.objects.get(key=key)
    assert record.object_pk is None and not record.moved_to_location, "the key was not claimed"
    assert backend.storage.exists(key) is (body is not None), "a planted object stays for cleanup"
    # A form reports it as a field error too: nothing is saved through the REST-free path either.
    assert obj.pk is None


@pytest.mark.django_db(transaction=True)
def test_verification_reads_a_bounded_head_of_a_large_image(backend, user, monkeypatch):
    big = jpeg_with_exif(1200, 800, exif_padding=40_000) + b"\x00" * (3 * 1024 * 1024)
    key = backend.plant(backend.image, "big.jpg", big)
    read: list[int] = []
    original = type(backend.storage).read_range

    def counting(self, name, start, length):
        data = original(self, name, start, length)
        read.append(len(data))
        return data

    monkeypatch.setattr(type(backend.storage), "read_range", counting)
    photo = backend.image()
    photo.image = AsyncFileInputData(key, "big.jpg", width=1200, height=800, request=request_for(user))
    assert sum(read) <= 64 * 1024, read
    assert len(read) <= 4


def jpeg_with_exif(width: int, height: int, *, exif_padding: int = 0, orientation: int = 1) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = "x" * exif_padding  # ImageDescription: pushes the frame header further in
    Image.new("RGB", (width, height), (1, 2, 3)).save(buf, format="JPEG", exif=exif.tobytes(), quality=30)
    return buf.getvalue()


# --------------------------------------------------------------------------- S3: the signed policy


def _policy(issued: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(issued["uploadUrl"]["fields"]["policy"]))


def _conditions(policy: dict[str, Any]) -> list[Any]:
    return policy["conditions"]


@pytest.mark.django_db
def test_s3_policy_fixes_key_exact_declared_size_and_type(s3_server, user, client_for):
    backend = Backend("s3", S3Doc, S3Image, s3_storage, client_for(user))
    md5 = base64.b64encode(hashlib.md5(PDF).digest()).decode()
    issued = backend.issue(S3Doc, "report.pdf", content_type="application/pdf", size=len(PDF), content_md5=md5)
    target = issued["uploadUrl"]
    assert target["method"] == "POST" and target["provider"] == "s3" and target["fileFieldName"] == "file"
    fields = target["fields"]
    assert fields["key"] == issued["key"]
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert fields["Content-Type"] == "application/pdf" and fields["Content-MD5"] == md5
    conditions = _conditions(_policy(issued))
    assert {"bucket": S3_BUCKET} in conditions
    assert {"key": issued["key"]} in conditions
    assert ["content-length-range", len(PDF), len(PDF)] in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert {"Content-MD5": md5} in conditions
    assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"], "no prefix wildcards"
    assert requests.post(target["url"], data=fields, files={"file": ("report.pdf", PDF, "application/pdf")}).ok


@pytest.mark.django_db
def test_s3_policy_bounds_length_by_max_size_without_a_declared_size(s3_server, user, client_for):
    backend = Backend("s3", S3Doc, S3Image, s3_storage, client_for(user))
    issued = backend.issue(S3Doc, "notes.txt")
    conditions = _conditions(_policy(issued))
    assert ["content-length-range", 0, 1024 * 1024] in conditions
    assert not any(isinstance(c, dict) and "Content-Type" in c for c in conditions)
    assert _policy(issued)["expiration"].startswith(issued["uploadUrl"]["expiresAt"][:16])


@pytest.mark.django_db
def test_s3_user_params_only_sign_metadata(s3_server, user, client_for):
    backend = Backend("s3", S3Doc, S3Image, s3_storage, client_for(user))
    issued = backend.issue(
        S3Doc, "notes.txt", params={"x-amz-meta-origin": "form", "acl": "public-read", "success_action_redirect": "x"}
    )
    fields = issued["uploadUrl"]["fields"]
    assert fields["x-amz-meta-origin"] == "form"
    assert "acl" not in fields and "success_action_redirect" not in fields


@pytest.mark.django_db
def test_s3_download_url_honours_expire_and_params(s3_server):
    s3_storage.save("docs/a.pdf", ContentFile(PDF))
    url = s3_storage.generate_download_url(
        "docs/a.pdf", "x", expire=120, as_attachment=False, parameters={"cache_control": "max-age=60"}
    )
    assert "X-Amz-Expires=120" in url
    response = requests.get(url, timeout=10)
    assert response.content == PDF
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["Cache-Control"] == "max-age=60"


@pytest.mark.django_db(transaction=True)
def test_s3_move_is_a_server_side_copy(s3_server, user, client_for):
    backend = Backend("s3", S3Doc, S3Image, s3_storage, client_for(user))
    key = backend.upload(S3Doc, "report.pdf", PDF, "application/pdf")
    doc = S3Doc(file=AsyncFileInputData(key, "report.pdf", request=request_for(user)))  # verified here
    calls: list[str] = []
    events = s3_storage.client.meta.events

    def record(model: Any, **kwargs: Any) -> None:
        calls.append(model.name)

    def refuse(model: Any, **kwargs: Any) -> None:
        if model.name == "GetObject":
            raise AssertionError("object bytes must not pass through the app during a move")

    # django-storages keeps one bucket resource for every thread, made by whichever thread asked
    # first (a live server's thread in the browser tests): listen on its client too.
    all_events = {id(e): e for e in (events, s3_storage.bucket.meta.client.meta.events)}.values()
    for each in all_events:
        each.register("before-call.s3.*", record)
        each.register("before-call.s3.*", refuse)
    try:
        doc.save()
    finally:
        for each in all_events:
            each.unregister("before-call.s3.*", record)
            each.unregister("before-call.s3.*", refuse)
    assert "CopyObject" in calls and "DeleteObject" in calls and "GetObject" not in calls, calls
    doc.refresh_from_db()
    assert doc.file.name.startswith("docs/report")
    head = s3_storage.client.head_object(Bucket=S3_BUCKET, Key=doc.file.name)
    assert head["ContentType"] == "application/pdf"


def test_s3_multipart_copy_of_a_large_object(s3_server):
    from tests.cloudapp.models import TestS3Storage

    storage = TestS3Storage(**{k: getattr(s3_storage, k) for k in ("bucket_name", "region_name", "client_config")})
    storage.endpoint_url = s3_server.url
    storage.access_key = storage.secret_key = "testing"
    storage.multipart_copy_threshold = 6 * 1024 * 1024
    storage.multipart_copy_part_size = 5 * 1024 * 1024
    body = bytes(range(256)) * (11 * 4096)  # 11 MiB: three parts
    storage.client.put_object(Bucket=S3_BUCKET, Key="big/source.bin", Body=body, ContentType="video/mp4")
    calls: list[str] = []
    storage.client.meta.events.register("before-call.s3.*", lambda model, **kw: calls.append(model.name))
    sent: dict[str, dict[str, str]] = {}
    storage.client.meta.events.register(
        "before-call.s3.*", lambda model, params, **kw: sent.__setitem__(model.name, dict(params["headers"]))
    )
    storage.move_file("big/source.bin", "big/target.bin")
    assert calls.count("UploadPartCopy") == 3 and "GetObject" not in calls and "PutObject" not in calls
    assert sent["CompleteMultipartUpload"].get("If-None-Match") == "*"
    assert not storage.exists("big/source.bin")
    got = storage.client.get_object(Bucket=S3_BUCKET, Key="big/target.bin")
    assert got["ContentType"] == "video/mp4"
    assert got["Body"].read() == body


def test_s3_copy_never_overwrites(s3_server):
    s3_storage.save("docs/one.txt", ContentFile(b"one"))
    s3_storage.save("docs/two.txt", ContentFile(b"two"))
    with pytest.raises(FileExistsError):
        s3_storage.copy_file("docs/one.txt", "docs/two.txt")
    assert s3_storage.read_range("docs/two.txt", 0, 10) == b"two"


def test_s3_copy_asks_s3_not_to_replace_an_object_that_appeared_meanwhile(s3_server):
    """exists() then copy is a race: the copy itself carries If-None-Match: * (moto does not enforce it)."""
    s3_storage.save("docs/three.txt", ContentFile(b"three"))
    sent: dict[str, dict[str, str]] = {}

    def record(model, params, **kwargs):
        sent[model.name] = dict(params["headers"])

    s3_storage.client.meta.events.register("before-call.s3.CopyObject", record)
    try:
        s3_storage.copy_file("docs/three.txt", "docs/three-copy.txt")
    finally:
        s3_storage.client.meta.events.unregister("before-call.s3.CopyObject", record)
    assert sent["CopyObject"].get("If-None-Match") == "*"
    assert s3_storage.read_range("docs/three-copy.txt", 0, 10) == b"three"


def test_s3_read_range_past_the_end_is_empty(s3_server):
    s3_storage.save("docs/short.txt", ContentFile(b"short"))
    assert s3_storage.read_range("docs/short.txt", 2, 100) == b"ort"
    assert s3_storage.read_range("docs/short.txt", 50, 10) == b""


# --------------------------------------------------------------------------- Azure: SAS enforced by Azurite


@pytest.mark.django_db
def test_azure_upload_target_is_a_blob_scoped_create_only_sas(azurite, user, client_for):
    backend = Backend("azure", AzureDoc, AzureImage, azure_storage, client_for(user))
    issued = backend.issue(AzureDoc, "report.pdf", content_type="application/pdf")
    target = issued["uploadUrl"]
    assert target["method"] == "PUT" and target["provider"] == "azure"
    assert target["headers"]["x-ms-blob-type"] == "BlockBlob"
    assert target["headers"]["x-ms-blob-content-type"] == "application/pdf"
    query = dict(p.split("=", 1) for p in target["url"].split("?", 1)[1].split("&"))
    assert query["sp"] == "c" and query["sr"] == "b" and "se" in query
    # Azurite refuses the create-only SAS for reading, for another blob, and for a second write.
    assert requests.get(target["url"], timeout=10).status_code == 403
    other = target["url"].replace(issued["key"].rsplit("/", 1)[-1], "other.pdf")
    assert requests.put(other, data=PDF, headers=target["headers"], timeout=10).status_code == 403
    assert requests.put(target["url"], data=PDF, headers=target["headers"], timeout=10).status_code == 201
    second = requests.put(target["url"], data=b"%PDF-evil", headers=target["headers"], timeout=10)
    assert second.status_code in (403, 409, 412)
    assert azure_storage.read_range(issued["key"], 0, 100) == PDF


@pytest.mark.django_db
def test_azure_upload_sas_expires(azurite, settings):
    import time

    url = azure_storage.generate_upload_url("async-temp-files/expiring.txt", "x", expire=1)
    time.sleep(2.2)
    response = requests.put(url["url"], data=b"late", headers=url["headers"], timeout=10)
    assert response.status_code == 403
    assert not azure_storage.exists("async-temp-files/expiring.txt")


def test_azure_content_md5_is_checked_on_upload(azurite):
    good = base64.b64encode(hashlib.md5(PDF).digest()).decode()
    target = azure_storage.generate_upload_url("async-temp-files/md5.pdf", "x", content_md5=good)
    bad = requests.put(target["url"], data=PDF + b"tampered", headers=target["headers"], timeout=10)
    assert bad.status_code == 400
    assert not azure_storage.exists("async-temp-files/md5.pdf")
    assert requests.put(target["url"], data=PDF, headers=target["headers"], timeout=10).status_code == 201


def test_azure_download_sas_is_read_only_and_honours_params(azurite):
    azure_storage.save("docs/d.pdf", ContentFile(PDF))
    url = azure_storage.generate_download_url("docs/d.pdf", "x", expire=60, parameters={"cache_control": "max-age=9"})
    response = requests.get(url, timeout=10)
    assert response.content == PDF
    assert response.headers["Cache-Control"] == "max-age=9"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert requests.put(url, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10).status_code == 403


def test_azure_move_copies_then_deletes_the_source(azurite):
    azure_storage.save("async-temp-files/m.pdf", ContentFile(PDF))
    azure_storage.move_file("async-temp-files/m.pdf", "docs/m.pdf")
    assert not azure_storage.exists("async-temp-files/m.pdf")
    assert azure_storage.read_range("docs/m.pdf", 0, 1000) == PDF
    with pytest.raises(FileExistsError):
        azure_storage.save("async-temp-files/n.pdf", ContentFile(b"%PDF-n"))
        azure_storage.copy_file("async-temp-files/n.pdf", "docs/m.pdf")
    assert azure_storage.exists("async-temp-files/n.pdf"), "a refused copy keeps its source"


def test_azure_failed_copy_keeps_the_source_and_says_so(azurite):
    from azure.core.exceptions import HttpResponseError

    with pytest.raises((HttpResponseError, OSError)):
        azure_storage.move_file("async-temp-files/never-uploaded.pdf", "docs/never.pdf")
    assert not azure_storage.exists("docs/never.pdf")


def test_azure_listdir_lists_folders_for_the_cleanup_sweep(azurite):
    azure_storage.save("async-temp-files/2020/01/02/abc-x.txt", ContentFile(b"x"))
    assert "2020" in azure_storage.listdir("async-temp-files")[0]
    assert azure_storage.listdir("async-temp-files/2020/01/02")[1] == ["abc-x.txt"]


# --------------------------------------------------------------------------- CORS


def test_cors_command_applies_rules_on_s3_and_azure(s3_server, azurite):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("async_uploads_cors", "--origin", "http://localhost:8000", "--registry", "cloud", stdout=out)
    assert "S3 bucket" in out.getvalue() and "Azure Blob service" in out.getvalue()
    rules = s3_storage.client.get_bucket_cors(Bucket=S3_BUCKET)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["http://localhost:8000"] and "POST" in rules[0]["AllowedMethods"]
    cors = azure_storage.service_client.get_service_properties()["cors"]
    assert cors[0].allowed_origins == "http://localhost:8000"
    # What the browser asks before the PUT, answered by Azurite from the rules just set.
    target = azure_storage.generate_upload_url("async-temp-files/cors.txt", "x", content_type="text/plain")
    preflight = requests.options(
        target["url"],
        headers={
            "Origin": "http://localhost:8000",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-ms-blob-type,x-ms-blob-content-type,if-none-match",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"
    other = requests.options(
        target["url"], headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"}, timeout=10
    )
    assert other.status_code == 403
    # moto answers the S3 preflight from the bucket's rules too.
    post = s3_storage.generate_upload_url("async-temp-files/cors.txt", "x")
    s3_preflight = requests.options(
        post["url"], headers={"Origin": "http://localhost:8000", "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert s3_preflight.status_code == 200
    assert s3_preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"
    s3_other = requests.options(
        post["url"], headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert s3_other.status_code == 403


def test_cors_command_dry_run_prints_the_rules_without_changing_anything():
    from django.core.management import call_command

    out = io.StringIO()
    call_command(
        "async_uploads_cors", "--origin", "https://app.example.com", "--registry", "cloud", "--dry-run", stdout=out
    )
    text = out.getvalue()
    assert "https://app.example.com" in text and "AllowedMethods" in text and "PUT" in text


@pytest.mark.parametrize(
    "args, kwargs",
    [
        (["--origin", "https://a.example", "--origin", "https://b.example"], {}),
        (["--origin", "https://a.example", "https://b.example"], {}),
        ([], {"origin": ["https://a.example", "https://b.example"]}),
    ],
    ids=["repeated", "listed", "call_command-list"],
)
def test_cors_command_takes_several_origins_every_way(args, kwargs):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("async_uploads_cors", *args, "--registry", "cloud", "--dry-run", stdout=out, **kwargs)
    text = out.getvalue()
    assert "https://a.example" in text and "https://b.example" in text


@pytest.mark.django_db
def test_a_custom_verify_upload_of_the_first_release_still_works(user, client_for, monkeypatch):
    backend = Backend("filesystem", FsDoc, FsImage, fs_storage, client_for(user))
    key = backend.upload(FsDoc, "report.pdf", PDF, "application/pdf")
    seen: list[str] = []

    def verify_upload(key: str, *, field: Any) -> None:  # no name / width / height
        seen.append(key)

    monkeypatch.setattr(fs_storage, "verify_upload", verify_upload)
    doc = FsDoc()
    doc.file = AsyncFileInputData(key, "report.pdf", request=request_for(user))
    assert seen == [key] and doc.file.name == key


@pytest.mark.django_db(transaction=True)
def test_an_image_format_without_a_parser_of_ours_is_read_by_pillow_from_the_prefix(backend, user):
    buf = io.BytesIO()
    Image.new("RGB", (12, 8)).save(buf, format="TIFF")
    key = backend.plant(backend.image, "scan.tif", buf.getvalue())
    photo = backend.image()
    photo.image = AsyncFileInputData(key, "scan.tif", request=request_for(user))
    photo.save()
    photo.refresh_from_db()
    assert (photo.width, photo.height) == (12, 8)
