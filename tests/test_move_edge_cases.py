"""Edge cases of the move flow: identical uploads, repeated runs, move-only and in-memory backends, races."""

from __future__ import annotations

import os

import pytest
from django.core.files.move import file_move_safe
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection, transaction
from django.test import RequestFactory

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from async_uploads.storage.base import AsyncUploadStorage
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage
from tests.conftest import field_id
from tests.testapp.models import Document, MemoryNote, memory_storage

EXTRA = field_id(Document, "extra")
ATTACHMENT = field_id(Document, "attachment")
PDF = b"%PDF-1.4 findings"


def data(key, user, name="same.txt"):
    request = RequestFactory().post("/")
    request.user = user
    return AsyncFileInputData(key=key, name=name, request=request)


# 1. is_same_object compares bytes: another record's identical file is "adopted".
@pytest.mark.django_db(transaction=True)
def test_two_records_identical_uploads_same_transaction_never_share(uploader, user):
    k1 = uploader.upload(EXTRA, "same.txt", b"same bytes")
    k2 = uploader.upload(EXTRA, "same.txt", b"same bytes")
    with transaction.atomic():
        a, b = Document(title="a"), Document(title="b")
        a.extra = data(k1, user)
        a.save()
        b.extra = data(k2, user)
        b.save()
    na = Document.objects.get(pk=a.pk).extra.name
    nb = Document.objects.get(pk=b.pk).extra.name
    assert na != nb, f"both records point at {na!r}"


# 2. In-memory storage (copy_file checks the target first): a second run sees FileExistsError,
#    is_same_object() opens the vanished key and raises FileNotFoundError out of _place.
def _memory_key(uploader, content=b"note"):
    issued = uploader.issue(field_id(MemoryNote, "file"), "n.txt", content_type="text/plain")
    memory_storage.receive_upload(issued["key"], content)
    return issued["key"]


@pytest.mark.django_db(transaction=True)
def test_memory_two_saves_in_one_transaction_no_spurious_error(uploader, user):
    key = _memory_key(uploader)
    with transaction.atomic():
        n = MemoryNote()
        n.file = data(key, user, "n.txt")
        n.save()
        n.save()
    assert AsyncTempFile.objects.get(key=key).error is None


@pytest.mark.django_db(transaction=True)
def test_memory_interleaved_double_submit_record_on_existing_object(uploader, user):
    n = MemoryNote.objects.create()
    issued = uploader.issue(field_id(MemoryNote, "file"), "n.txt", content_type="text/plain", instance_id=n.pk)
    memory_storage.receive_upload(issued["key"], b"note")
    key = issued["key"]
    first, second = MemoryNote.objects.get(pk=n.pk), MemoryNote.objects.get(pk=n.pk)
    first.file = data(key, user, "n.txt")
    second.file = data(key, user, "n.txt")
    first.save()
    second.save()
    try:
        call_command("retry_async_file_moves", quiet=True)
    except SystemExit:
        pass
    name = MemoryNote.objects.get(pk=n.pk).file.name
    assert memory_storage.exists(name), f"record points at missing {name!r}"


# 3. A move-only storage (move_file via Django's file_move_safe; no copy_file).
class MoveOnly(FileSystemAsyncUploadStorage):
    copy_file = AsyncUploadStorage.copy_file

    def move_file(self, from_key, to_key):
        os.makedirs(os.path.dirname(self.path(to_key)), exist_ok=True)
        file_move_safe(self.path(from_key), self.path(to_key), allow_overwrite=False)


@pytest.fixture
def move_only(monkeypatch):
    monkeypatch.setattr(FileSystemAsyncUploadStorage, "copy_file", AsyncUploadStorage.copy_file)
    monkeypatch.setattr(FileSystemAsyncUploadStorage, "move_file", MoveOnly.move_file)
    assert not default_storage.supports_copy()


@pytest.mark.django_db(transaction=True)
def test_move_only_two_saves_in_one_transaction_no_spurious_error(uploader, user, move_only):
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")
    with transaction.atomic():
        d = Document(title="t")
        d.attachment = data(key, user, "r.pdf")
        d.save()
        d.save()
    assert AsyncTempFile.objects.get(key=key).error is None


@pytest.mark.django_db(transaction=True)
def test_move_only_interleaved_double_submit_record_on_existing_object(uploader, user, move_only):
    doc = Document.objects.create(title="t")
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf", instance_id=doc.pk)
    first, second = Document.objects.get(pk=doc.pk), Document.objects.get(pk=doc.pk)
    first.attachment = data(key, user, "r.pdf")
    second.attachment = data(key, user, "r.pdf")
    first.save()
    second.save()
    try:
        call_command("retry_async_file_moves", quiet=True)
    except SystemExit:
        pass
    name = Document.objects.get(pk=doc.pk).attachment.name
    assert default_storage.exists(name), f"record points at missing {name!r}"


# 4. Copy left by a failed pointing UPDATE is never cleaned once the record is deleted.
@pytest.mark.django_db(transaction=True)
def test_copy_of_failed_move_is_cleaned_after_record_deleted(uploader, user, monkeypatch, _media_root):
    from django.db import OperationalError

    from async_uploads import moves

    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")

    def down(*a, **k):
        raise OperationalError("database went away")

    monkeypatch.setattr(moves, "point_record_at_moves", down)
    doc = Document(title="x")
    doc.attachment = data(key, user, "r.pdf")
    doc.save()
    monkeypatch.undo()
    copy = AsyncTempFile.objects.get(key=key).moved_to_location
    assert default_storage.exists(copy)
    doc.delete()
    call_command("retry_async_file_moves", quiet=True)
    call_command("cleanup_async_temp_files", age=0, quiet=True)
    left = sorted(str(p.relative_to(_media_root)) for p in _media_root.rglob("*") if p.is_file())
    assert left == [], f"orphans nobody will clean: {left}"


# 3b. move_file's contract does not forbid overwriting; an S3-style move (copy+delete) overwrites.
@pytest.mark.django_db(transaction=True)
def test_move_only_overwriting_storage_never_clobbers(uploader, user, monkeypatch):
    def move(self, a, b):
        os.makedirs(os.path.dirname(self.path(b)), exist_ok=True)
        os.replace(self.path(a), self.path(b))

    monkeypatch.setattr(FileSystemAsyncUploadStorage, "copy_file", AsyncUploadStorage.copy_file)
    monkeypatch.setattr(FileSystemAsyncUploadStorage, "move_file", move)
    k1 = uploader.upload(EXTRA, "same.txt", b"AAAA")
    k2 = uploader.upload(EXTRA, "same.txt", b"BBBB")
    with transaction.atomic():
        a, b = Document(title="a"), Document(title="b")
        a.extra = data(k1, user)
        a.save()
        b.extra = data(k2, user)
        b.save()
    a = Document.objects.get(pk=a.pk)
    assert a.extra.read() == b"AAAA"


# 5. cleanup deletes the object of a key that a concurrent transaction is claiming.
from tests.test_concurrency import server_db  # noqa: E402


@server_db
@pytest.mark.django_db(transaction=True)
def test_cleanup_racing_a_save_never_leaves_record_on_missing_object(uploader, user):
    import threading

    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")
    claimed, release = threading.Event(), threading.Event()
    box = {}

    def save():
        try:
            with transaction.atomic():
                d = Document(title="slow form")
                d.attachment = data(key, user, "r.pdf")
                d.save()
                box["pk"] = d.pk
                claimed.set()
                release.wait(10)
        finally:
            connection.close()

    t = threading.Thread(target=save)
    t.start()
    claimed.wait(10)
    threading.Timer(1.0, release.set).start()
    call_command("cleanup_async_temp_files", age=0, quiet=True)  # blocks on the row until the save commits
    t.join(10)
    name = Document.objects.get(pk=box["pk"]).attachment.name
    assert default_storage.exists(name), f"record points at missing {name!r}; row exists: " + str(
        AsyncTempFile.objects.filter(key=key).exists()
    )


# 6. Autocommit lost claim on an UPDATE blanks the column: the record's previous file is dropped.
@pytest.mark.django_db(transaction=True)
def test_autocommit_lost_claim_on_update_keeps_previous_file(uploader, user):
    from django.core.exceptions import ValidationError

    k1 = uploader.upload(ATTACHMENT, "one.pdf", PDF, "application/pdf")
    doc = Document(title="t")
    doc.attachment = data(k1, user, "one.pdf")
    doc.save()
    old = Document.objects.get(pk=doc.pk).attachment.name
    k2 = uploader.upload(ATTACHMENT, "two.pdf", PDF, "application/pdf", instance_id=doc.pk)
    doc = Document.objects.get(pk=doc.pk)
    doc.attachment = data(k2, user, "two.pdf")
    call_command("cleanup_async_temp_files", age=0, quiet=True)  # between validation and save
    with pytest.raises(ValidationError):
        doc.save()
    assert Document.objects.get(pk=doc.pk).attachment.name == old
