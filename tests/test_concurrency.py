"""Double submits, races and interleavings: a record never ends up on a missing or shared object."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection, transaction

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage
from tests.conftest import field_id, request_for
from tests.testapp.models import Document

PDF = b"%PDF-1.4 concurrency"
ATTACHMENT = field_id(Document, "attachment")


def data(key, user):
    return AsyncFileInputData(key=key, name="r.pdf", request=request_for(user))


def assert_points_at_existing_file(doc: Document) -> str:
    name = Document.objects.get(pk=doc.pk).attachment.name
    assert name, "the record lost its file"
    assert default_storage.exists(name), f"the record points at {name!r}, which does not exist"
    with default_storage.open(name) as fh:
        assert fh.read() == PDF
    return name


@pytest.mark.django_db(transaction=True)
def test_two_saves_in_one_transaction_move_once_without_error(uploader, user):
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")
    with transaction.atomic():
        doc = Document(title="a")
        doc.attachment = data(key, user)
        doc.save()
        doc.title = "b"
        doc.save()
    assert assert_points_at_existing_file(doc) == f"documents/{doc.pk}/r.pdf"
    assert AsyncTempFile.objects.get(key=key).error is None
    assert not default_storage.exists(key)


@pytest.mark.django_db(transaction=True)
def test_double_submit_of_one_record_interleaved(uploader, user):
    doc = Document.objects.create(title="t")
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf", instance_id=doc.pk)
    first, second = Document.objects.get(pk=doc.pk), Document.objects.get(pk=doc.pk)
    first.attachment = data(key, user)
    second.attachment = data(key, user)  # the second request validated before the first saved
    first.save()
    second.save()  # writes the temporary key back, then finds the file already moved
    assert assert_points_at_existing_file(doc) == f"documents/{doc.pk}/r.pdf"
    row = AsyncTempFile.objects.get(key=key)
    assert (row.error, row.moved_to_location) == (None, f"documents/{doc.pk}/r.pdf")
    assert not default_storage.exists(key)


@pytest.mark.django_db(transaction=True)
def test_a_caught_rejection_inside_atomic_cannot_commit_the_record(uploader, user):
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")
    loser = Document(title="loser")
    loser.attachment = data(key, user)  # validated while the key was still free
    winner = Document(title="winner")
    winner.attachment = data(key, user)
    winner.save()
    with pytest.raises(transaction.TransactionManagementError):
        with transaction.atomic():  # e.g. ATOMIC_REQUESTS with a view that reports the error
            with pytest.raises(ValidationError) as exc:
                loser.save()
            assert exc.value.error_dict["attachment"][0].code == "invalid_key"
            Document.objects.count()  # the transaction is marked for rollback: nothing more runs
    assert not Document.objects.filter(title="loser").exists()
    assert_points_at_existing_file(winner)


@pytest.mark.django_db(transaction=True)
def test_a_key_cleaned_up_between_validation_and_save_is_refused(uploader, user):
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")
    doc = Document(title="late")
    doc.attachment = data(key, user)
    call_command("cleanup_async_temp_files", age=0, quiet=True)
    with pytest.raises(ValidationError) as exc:
        doc.save()
    assert exc.value.messages == [
        "This upload has just been saved to another record or removed; upload the file again."
    ]
    # Autocommit: Django already inserted the row; the refused save removes it (never a record on a
    # missing object, nor a half-saved one without its file).
    assert not Document.objects.filter(title="late").exists()


@pytest.mark.django_db(transaction=True)
def test_resubmitting_an_old_key_after_the_file_changed(uploader, user):
    k1 = uploader.upload(ATTACHMENT, "one.pdf", PDF, "application/pdf")
    doc = Document(title="t")
    doc.attachment = data(k1, user)
    doc.save()
    first_name = doc.attachment.name
    k2 = uploader.upload(ATTACHMENT, "two.pdf", PDF, "application/pdf", instance_id=doc.pk)
    doc = Document.objects.get(pk=doc.pk)
    doc.attachment = data(k2, user)
    doc.save()
    second_name = doc.attachment.name
    # A stale form (browser back button) sends k1 again: k1 was used, and the record no longer
    # holds the file k1 became (another record could hold that name by now), so it is refused.
    doc = Document.objects.get(pk=doc.pk)
    with pytest.raises(ValidationError) as exc:
        doc.attachment = data(k1, user)
    assert exc.value.error_dict["attachment"][0].code == "invalid_key"
    doc = Document.objects.get(pk=doc.pk)
    assert assert_points_at_existing_file(doc) == second_name != first_name
    # If that file is gone too, the old key is refused as well.
    default_storage.delete(first_name)
    doc = Document.objects.get(pk=doc.pk)
    with pytest.raises(ValidationError) as exc:
        doc.attachment = data(k1, user)
    assert exc.value.error_dict["attachment"][0].code == "invalid_key"


@pytest.mark.django_db(transaction=True)
def test_a_failed_move_whose_record_was_deleted_is_cleaned_up(uploader, user, monkeypatch):
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(FileSystemAsyncUploadStorage, "copy_file", broken)
    doc = Document(title="x")
    doc.attachment = data(key, user)
    doc.save()
    monkeypatch.undo()
    assert AsyncTempFile.objects.get(key=key).error
    doc.delete()
    call_command("retry_async_file_moves", quiet=True)
    call_command("cleanup_async_temp_files", age=0, quiet=True)
    assert not AsyncTempFile.objects.filter(key=key).exists()
    assert not default_storage.exists(key)


@pytest.mark.django_db(transaction=True)
def test_deleting_the_uploader_keeps_the_upload_cleanable(uploader, user):
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")
    user.delete()
    assert AsyncTempFile.objects.get(key=key).user_id is None
    call_command("cleanup_async_temp_files", age=0, quiet=True)
    assert not default_storage.exists(key)


@pytest.mark.django_db
def test_a_size_beyond_any_column_is_invalid_input(alice, monkeypatch):
    monkeypatch.setattr(Document._meta.get_field("extra"), "max_size", None)
    response = alice.post(
        "/async-uploads/generate-upload-url/",
        data=json.dumps({"field_id": field_id(Document, "extra"), "filename": "a.bin", "size": 10**30}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert AsyncTempFile.objects.count() == 0


# Real threads need a database server: SQLite serialises writers.
server_db = pytest.mark.skipif(
    "connection.vendor == 'sqlite'", reason="threaded races need PostgreSQL or MariaDB (make test runs them there)"
)


def _race(*submits):
    barrier = threading.Barrier(len(submits))
    outcomes: list[str] = []

    def run(submit, delay):
        try:
            submit(barrier, delay)
            outcomes.append("saved")
        except ValidationError as e:
            outcomes.append(e.error_dict["attachment"][0].code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(s, i * 0.2)) for i, s in enumerate(submits)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return sorted(outcomes)


@server_db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [True, False])
def test_threaded_double_submit_of_one_record(uploader, user, atomic):
    doc = Document.objects.create(title="t")
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf", instance_id=doc.pk)

    def submit(barrier, delay):
        with transaction.atomic() if atomic else _nothing():
            d = Document.objects.get(pk=doc.pk)
            d.attachment = data(key, user)
            barrier.wait()
            time.sleep(delay)
            d.save()

    assert _race(submit, submit) == ["saved", "saved"]
    assert assert_points_at_existing_file(doc) == f"documents/{doc.pk}/r.pdf"
    assert AsyncTempFile.objects.get(key=key).error is None


@server_db
@pytest.mark.django_db(transaction=True)
def test_threaded_double_submit_of_a_new_record_never_shares_the_object(uploader, user):
    key = uploader.upload(ATTACHMENT, "r.pdf", PDF, "application/pdf")

    def submit(barrier, delay):
        with transaction.atomic():
            d = Document(title="new")
            d.attachment = data(key, user)
            barrier.wait()
            time.sleep(delay)
            d.save()

    assert _race(submit, submit) == ["invalid_key", "saved"]
    (doc,) = Document.objects.all()
    assert assert_points_at_existing_file(doc) == f"documents/{doc.pk}/r.pdf"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
