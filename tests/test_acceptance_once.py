"""A temporary key is accepted once, the bytes moved are the bytes verified, and a moved key never
attaches a file another record holds now: over real HTTP on the filesystem view, moto's S3 and Azurite."""

from __future__ import annotations

import os
import uuid
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import transaction

from async_uploads.exceptions import UploadReplaced
from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from tests import test_cloud_backends
from tests.cloudapp.models import (
    FsDoc,
    FsImage,
    azure_storage,
    fs_storage,
    s3_storage,
)
from tests.conftest import request_for
from tests.test_cloud_backends import PDF, Backend, png

# The filesystem / moto S3 / Azurite ``backend`` fixture of the cloud backend tests.
backend = test_cloud_backends.backend

HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"


def unique(ext: str = ".pdf") -> str:
    return f"{uuid.uuid4().hex[:12]}{ext}"


def rows() -> list[tuple]:
    return list(
        AsyncTempFile.objects.order_by("pk").values_list(
            "pk", "key", "object_pk", "moved_to_location", "error", "verified_version"
        )
    )


def listing(storage: Any, folder: str) -> set[str]:
    try:
        return set(storage.listdir(folder)[1])
    except (OSError, NotImplementedError):
        return set()


def save_new(b: Backend, model: Any, field: str, filename: str, body: bytes, ctype: str, user: Any) -> tuple[Any, str]:
    key = b.upload(model, filename, body, ctype)
    obj = model()
    setattr(obj, field, AsyncFileInputData(key, filename, request=request_for(user)))
    obj.save()
    obj.refresh_from_db()
    return obj, key


def cleanup() -> str:
    out = StringIO()
    call_command("cleanup_async_temp_files", stdout=out, stderr=StringIO())
    return out.getvalue()


# --------------------------------------------------------------------------- 1. accepted once

REUPLOADS = {
    # what the client uploads to the used key, the name and type it claims, the dimensions it sends
    "html served as text/html": ("doc", HTML, "text/html", {}),
    "over max_size": ("doc", PDF + b"x" * (1024 * 1024 + 10), "application/pdf", {}),
    "dimensions the client chose": ("image", png(31337, 7), "image/png", {"width": 31337, "height": 7}),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(REUPLOADS))
def test_a_used_key_uploaded_again_is_refused_after_the_field_is_cleared(backend, user, case):
    kind, body, ctype, dims = REUPLOADS[case]
    model = backend.doc if kind == "doc" else backend.image
    field = "file" if kind == "doc" else "image"
    folder = "docs" if kind == "doc" else "images"
    filename = unique(".pdf" if kind == "doc" else ".png")
    good = PDF if kind == "doc" else png(3, 2)
    issued = backend.issue(model, filename)  # no declared type: an S3 policy then binds none
    key = issued["key"]
    assert backend.send(issued, good, filename, "application/pdf" if kind == "doc" else "image/png") in (201, 204)
    obj = model()
    setattr(obj, field, AsyncFileInputData(key, filename, request=request_for(user)))
    obj.save()
    obj.refresh_from_db()
    moved = getattr(obj, field).name
    assert moved.startswith(f"{folder}/") and not backend.storage.exists(key)

    # The same upload target again: S3's presigned POST can be reused, Azure's create-only SAS can
    # create the blob again now that the move deleted it; the filesystem URL works once.
    status = backend.send(issued, body, filename, ctype)
    if backend.name == "filesystem":
        assert status == 409
        assert not backend.storage.exists(key)
    else:
        assert status in (201, 204), status
        assert backend.storage.exists(key)

    setattr(obj, field, None)
    obj.save()
    before_rows, before_objects = rows(), listing(backend.storage, folder)
    fresh = model.objects.get(pk=obj.pk)
    with pytest.raises(ValidationError) as info:
        setattr(fresh, field, AsyncFileInputData(key, filename, request=request_for(user), **dims))
    error = info.value.error_dict[field][0]
    assert error.code == "invalid_key"
    assert "already been used" in error.message and "new upload URL" in error.message
    fresh.save()  # even a save after the refusal changes nothing
    obj.refresh_from_db()
    assert not getattr(obj, field), "the record still has no file"
    if kind == "image":
        assert (obj.width, obj.height) != (31337, 7)
    assert rows() == before_rows
    assert listing(backend.storage, folder) == before_objects, "nothing was moved"

    # Bytes at a used key are never moved: cleanup deletes them without waiting for --age.
    cleanup()
    assert not backend.storage.exists(key)
    assert backend.storage.exists(moved), "the file the record had stays"


@pytest.mark.django_db(transaction=True)
def test_submitting_the_key_again_while_the_record_holds_it_is_idempotent(backend, user):
    """A double submit before the move ran, and the same form sent again after it, still work."""
    filename = unique()
    key = backend.upload(backend.doc, filename, PDF, "application/pdf")
    with transaction.atomic():
        first = backend.doc()
        first.file = AsyncFileInputData(key, filename, request=request_for(user))
        first.save()
        # A second submission of the same record before the first one's move ran (after commit).
        second = backend.doc.objects.get(pk=first.pk)
        second.file = AsyncFileInputData(key, filename, request=request_for(user))
        second.save()
    first.refresh_from_db()
    moved = first.file.name
    assert moved == f"docs/{filename}" and not backend.storage.exists(key)
    # The same form sent once more: the key stands for the file the record holds.
    again = backend.doc.objects.get(pk=first.pk)
    before = listing(backend.storage, "docs")
    again.file = AsyncFileInputData(key, filename, request=request_for(user))
    again.save()
    again.refresh_from_db()
    assert again.file.name == moved
    assert listing(backend.storage, "docs") == before
    assert AsyncTempFile.objects.get(key=key).error is None


# --------------------------------------------------------------------------- 2. the bytes moved are the bytes verified


def replace_upload(b: Backend, issued: dict[str, Any], key: str, body: bytes, filename: str) -> None:
    """Put other bytes at ``key`` after verification: over HTTP where the backend lets a client."""
    if b.name == "s3":
        assert b.send(issued, body, filename, "application/pdf") == 204  # a presigned POST works again
        return
    # Azure's SAS is create-only and the filesystem URL single-use: only the server side can swap.
    if b.name == "filesystem":
        path = b.storage.path(key)
        with open(path + ".new", "wb") as fh:
            fh.write(body)
        os.replace(path + ".new", path)
        return
    b.storage.delete(key)
    assert b.storage.save(key, ContentFile(body)) == key


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("previous", [False, True], ids=["new record", "update"])
def test_bytes_replaced_after_verification_are_never_moved(backend, user, previous):
    old = None
    if previous:
        holder, _ = save_new(backend, backend.doc, "file", unique(), PDF, "application/pdf", user)
        old = holder.file.name
    filename = unique()
    extra = {"instance_id": holder.pk} if previous else {}
    issued = backend.issue(backend.doc, filename, content_type="application/pdf", **extra)
    key = issued["key"]
    assert backend.send(issued, PDF, filename, "application/pdf") in (200, 201, 204)
    before = listing(backend.storage, "docs")
    with transaction.atomic():
        doc = backend.doc.objects.get(pk=holder.pk) if previous else backend.doc()
        doc.file = AsyncFileInputData(key, filename, request=request_for(user))  # verified here
        doc.save()  # claimed here; the move runs after commit
        replace_upload(backend, issued, key, HTML, filename)
    doc.refresh_from_db()
    row = AsyncTempFile.objects.get(key=key)
    assert row.verified_version
    assert doc.file.name == (old or ""), "the record is given back what it had"
    assert not backend.storage.exists(key), "the replaced object is deleted"
    assert not backend.storage.exists(row.moved_to_location)
    assert listing(backend.storage, "docs") == before, "nothing was copied"
    assert row.error and row.error.startswith("upload_replaced:")
    # A retry finds nothing left to do and never moves anything.
    out = StringIO()
    call_command("retry_async_file_moves", stdout=out, stderr=StringIO())
    doc.refresh_from_db()
    assert doc.file.name == (old or "")
    assert listing(backend.storage, "docs") == before


@pytest.mark.django_db(transaction=True)
def test_a_retry_never_moves_bytes_replaced_after_a_failed_move(backend, user, monkeypatch):
    filename = unique()
    issued = backend.issue(backend.doc, filename, content_type="application/pdf")
    key = issued["key"]
    assert backend.send(issued, PDF, filename, "application/pdf") in (200, 201, 204)
    storage_class = type(backend.storage)

    def unavailable(self, *args, **kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr(storage_class, "copy_file", unavailable)
    doc = backend.doc()
    doc.file = AsyncFileInputData(key, filename, request=request_for(user))
    doc.save()
    monkeypatch.undo()
    doc.refresh_from_db()
    assert doc.file.name == key and AsyncTempFile.objects.get(key=key).error
    replace_upload(backend, issued, key, HTML, filename)
    before = listing(backend.storage, "docs")
    call_command("retry_async_file_moves", stdout=StringIO(), stderr=StringIO())
    doc.refresh_from_db()
    assert doc.file.name == "", "the record never points at (or serves) the replaced bytes"
    assert not backend.storage.exists(key)
    assert listing(backend.storage, "docs") == before
    assert AsyncTempFile.objects.get(key=key).error.startswith("upload_replaced:")


@pytest.mark.parametrize("which", ["filesystem", "azure"])
def test_the_storage_refuses_a_copy_of_another_version(which, request, settings, tmp_path):
    """The condition travels with the copy: Azurite itself answers 412 (no check of ours before it)."""
    if which == "azure":
        request.getfixturevalue("azurite")
        storage: Any = azure_storage
    else:
        storage = fs_storage
    source, target = f"async-temp-files/v/{unique()}", f"docs/{unique()}"
    storage.save(source, ContentFile(b"first"))
    stale = storage.object_version(source)
    storage.delete(source)
    storage.save(source, ContentFile(b"other"))
    assert stale and storage.object_version(source) != stale
    with pytest.raises(UploadReplaced):
        storage.copy_file(source, target, version=stale)
    assert not storage.exists(target)
    storage.copy_file(source, target, version=storage.object_version(source))
    assert storage.open(target).read() == b"other"


def test_s3_copies_carry_copy_source_if_match(s3_server):
    """moto ignores x-amz-copy-source-if-match (it checks only -if-none-match): the header is
    asserted here, and the ETag check before the copy is what refuses on moto."""
    from tests.cloudapp.models import TestS3Storage

    source = f"async-temp-files/v/{unique()}"
    s3_storage.save(source, ContentFile(b"first"))
    version = s3_storage.object_version(source)
    sent: dict[str, dict[str, str]] = {}

    def record(model, params, **kwargs):
        sent.setdefault(model.name, dict(params["headers"]))

    s3_storage.client.meta.events.register("before-call.s3.*", record)
    try:
        s3_storage.copy_file(source, f"docs/{unique()}", version=version)
    finally:
        s3_storage.client.meta.events.unregister("before-call.s3.*", record)
    assert sent["CopyObject"]["x-amz-copy-source-if-match"] == version

    big = TestS3Storage(**{k: getattr(s3_storage, k) for k in ("bucket_name", "region_name", "client_config")})
    big.endpoint_url = s3_server.url
    big.access_key = big.secret_key = "testing"
    big.multipart_copy_threshold = 6 * 1024 * 1024
    big.multipart_copy_part_size = 5 * 1024 * 1024
    big_source = f"async-temp-files/v/{unique('.bin')}"
    big.client.put_object(Bucket=big.bucket_name, Key=big_source, Body=b"\x01" * (11 * 1024 * 1024))
    big_version = big.object_version(big_source)
    parts: list[dict[str, str]] = []
    big.client.meta.events.register(
        "before-call.s3.UploadPartCopy", lambda model, params, **kw: parts.append(dict(params["headers"]))
    )
    target = f"docs/{unique('.bin')}"
    with pytest.raises(UploadReplaced):
        big.copy_file(big_source, target, version='"stale"')
    assert not big.exists(target)
    big.copy_file(big_source, target, version=big_version)
    assert len(parts) == 3 and all(p["x-amz-copy-source-if-match"] == big_version for p in parts)


@pytest.mark.django_db(transaction=True)
def test_a_custom_copy_file_without_version_gets_a_check_before_the_copy(user, client_for, monkeypatch):
    """Storages written against copy_file(from_key, to_key) keep working, and are still bound."""
    b = Backend("filesystem", FsDoc, FsImage, fs_storage, client_for(user))
    copies: list[tuple[str, str]] = []
    original = type(fs_storage).copy_file

    def old_style_copy(self, from_key, to_key):
        copies.append((from_key, to_key))
        original(self, from_key, to_key)

    monkeypatch.setattr(type(fs_storage), "copy_file", old_style_copy)
    doc, _ = save_new(b, FsDoc, "file", unique(), PDF, "application/pdf", user)
    assert copies and doc.file.name.startswith("docs/") and fs_storage.open(doc.file.name).read() == PDF

    filename = unique()
    issued = b.issue(FsDoc, filename, content_type="application/pdf")
    assert b.send(issued, PDF, filename, "application/pdf") == 201
    with transaction.atomic():
        other = FsDoc()
        other.file = AsyncFileInputData(issued["key"], filename, request=request_for(user))
        other.save()
        replace_upload(b, issued, issued["key"], HTML, filename)
    other.refresh_from_db()
    assert other.file.name == "" and len(copies) == 1


# --------------------------------------------------------------------------- 3. an old moved key


@pytest.mark.django_db(transaction=True)
def test_an_old_moved_key_never_attaches_another_records_file(backend, user):
    filename = unique()
    p1, k1 = save_new(backend, backend.doc, "file", filename, PDF, "application/pdf", user)
    n = p1.file.name
    assert n == f"docs/{filename}"
    # P1's file is replaced and the old one deleted (as django-cleanup does).
    k2 = backend.upload(backend.doc, unique(), PDF, "application/pdf", instance_id=p1.pk)
    p1.file = AsyncFileInputData(k2, "replacement.pdf", request=request_for(user))
    p1.save()
    p1.refresh_from_db()
    replacement = p1.file.name
    backend.storage.delete(n)
    # Another record's upload lands at the freed name.
    other_body = b"%PDF-1.7\n% another user's document\n%%EOF\n"
    p2, _ = save_new(backend, backend.doc, "file", filename, other_body, "application/pdf", user)
    assert p2.file.name == n
    before_rows, before_objects = rows(), listing(backend.storage, "docs")

    stale = backend.doc.objects.get(pk=p1.pk)
    with pytest.raises(ValidationError) as info:
        stale.file = AsyncFileInputData(k1, filename, request=request_for(user))
    assert info.value.error_dict["file"][0].code == "invalid_key"
    p1.refresh_from_db()
    p2.refresh_from_db()
    assert p1.file.name == replacement and p2.file.name == n
    assert rows() == before_rows
    assert listing(backend.storage, "docs") == before_objects
