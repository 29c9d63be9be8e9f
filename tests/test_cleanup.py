"""The maintenance commands: cleanup_async_temp_files and retry_async_file_moves."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage
from tests.conftest import field_id, read
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db(transaction=True)

PDF = b"%PDF-1.4 kept for a while"

SUMMARY = re.compile(
    r"Removed (?P<abandoned>\d+) abandoned uploads and (?P<finished>\d+) finished records; "
    r"completed (?P<completed>\d+) interrupted moves; (?P<failed>\d+) failed; "
    r"kept (?P<kept>\d+) records with move errors"
)


# --------------------------------------------------------------------------- helpers / fixtures


@pytest.fixture
def req(user: User):
    r = RequestFactory().post("/")
    r.user = user
    return r


@pytest.fixture
def upload_pdf(uploader) -> Callable[..., str]:
    counter = iter(range(1000))

    def upload(content: bytes = PDF, **extra: Any) -> str:
        return uploader.upload(
            field_id(Document, "attachment"), f"file{next(counter)}.pdf", content, "application/pdf", **extra
        )

    return upload


@pytest.fixture
def save_doc(req) -> Callable[[str], Document]:
    def save(key: str) -> Document:
        doc = Document(title="doc")
        name = AsyncTempFile.objects.get(key=key).original_filename
        doc.attachment = AsyncFileInputData.create_from_user_input({"key": key, "name": name}, request=req)
        doc.save()
        return Document.objects.get(pk=doc.pk)

    return save


@pytest.fixture
def broken_copy(monkeypatch):
    """Make every copy fail, as a storage outage would; ``.undo()`` to repair the storage."""

    def copy_file(self, from_key, to_key):
        raise OSError("storage is down")

    monkeypatch.setattr(FileSystemAsyncUploadStorage, "copy_file", copy_file)
    return monkeypatch


def age(key: str, hours: float) -> None:
    assert AsyncTempFile.objects.filter(key=key).update(created_at=timezone.now() - timedelta(hours=hours)) == 1


def cleanup(**options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("cleanup_async_temp_files", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def summary(out: str) -> dict[str, int]:
    match = SUMMARY.search(out)
    assert match, f"no summary line in {out!r}"
    return {k: int(v) for k, v in match.groupdict().items()}


def retry(*ids: int, **options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("retry_async_file_moves", *[str(i) for i in ids], stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------- cleanup


def test_abandoned_upload_older_than_age_is_removed_and_a_recent_one_kept(upload_pdf):
    old_key = upload_pdf(b"old")
    recent_key = upload_pdf(b"recent")
    age(old_key, 49)
    age(recent_key, 47)

    out, err = cleanup()
    assert err == ""
    assert summary(out) == {"abandoned": 1, "finished": 0, "completed": 0, "failed": 0, "kept": 0}
    assert not default_storage.exists(old_key)
    assert not AsyncTempFile.objects.filter(key=old_key).exists()
    assert read(recent_key) == b"recent"
    row = AsyncTempFile.objects.get(key=recent_key)
    assert row.object_pk is None


def test_age_option_is_in_hours(upload_pdf):
    key = upload_pdf()
    age(key, 3)
    cleanup(age=4, quiet=True)
    assert default_storage.exists(key) and AsyncTempFile.objects.filter(key=key).exists()
    cleanup(age=2, quiet=True)
    assert not default_storage.exists(key) and not AsyncTempFile.objects.filter(key=key).exists()


def test_issued_but_never_uploaded_row_is_removed(uploader):
    key = uploader.issue(field_id(Document, "attachment"), "never.pdf", content_type="application/pdf")["key"]
    age(key, 100)
    out, _ = cleanup()
    assert summary(out)["abandoned"] == 1
    assert not AsyncTempFile.objects.filter(key=key).exists()


def test_finished_row_older_than_age_is_removed_and_the_file_untouched(upload_pdf, save_doc):
    key = upload_pdf()
    doc = save_doc(key)
    final = f"documents/{doc.pk}/file0.pdf"
    assert doc.attachment.name == final
    age(key, 49)

    out, err = cleanup()
    assert err == ""
    assert summary(out) == {"abandoned": 0, "finished": 1, "completed": 0, "failed": 0, "kept": 0}
    assert not AsyncTempFile.objects.filter(key=key).exists()
    assert Document.objects.get(pk=doc.pk).attachment.name == final
    assert read(final) == PDF


def test_recent_finished_row_is_kept_for_duplicate_detection(upload_pdf, save_doc):
    key = upload_pdf()
    doc = save_doc(key)
    cleanup(quiet=True)
    row = AsyncTempFile.objects.get(key=key)
    assert row.object_pk == str(doc.pk)


def test_row_with_error_is_kept_reported_and_fixed_by_retry(upload_pdf, save_doc, broken_copy):
    key = upload_pdf()
    doc = save_doc(key)
    assert doc.attachment.name == key
    broken_copy.undo()
    age(key, 100)

    out, err = cleanup()
    assert summary(out) == {"abandoned": 0, "finished": 0, "completed": 0, "failed": 0, "kept": 1}
    row = AsyncTempFile.objects.get(key=key)
    assert row.error and "storage is down" in row.error
    assert Document.objects.get(pk=doc.pk).attachment.name == key
    assert read(key) == PDF

    out, err = retry()
    assert err == ""
    assert "Retried 1 moves; 0 still failing." in out
    final = f"documents/{doc.pk}/file0.pdf"
    assert Document.objects.get(pk=doc.pk).attachment.name == final
    assert read(final) == PDF
    assert not default_storage.exists(key)
    row = AsyncTempFile.objects.get(key=key)
    assert row.error is None and row.moved_to_location == final

    # Now an ordinary finished row: cleanup drops it.
    out, _ = cleanup()
    assert summary(out)["finished"] == 1
    assert not AsyncTempFile.objects.filter(key=key).exists()
    assert read(final) == PDF


def test_quiet_prints_nothing(upload_pdf):
    key = upload_pdf()
    age(key, 100)
    out, err = cleanup(quiet=True)
    assert out == ""
    assert err == ""
    assert not default_storage.exists(key)


def test_summary_line_counts_everything(upload_pdf, save_doc, monkeypatch):
    abandoned = [upload_pdf(), upload_pdf()]
    finished = save_doc(upload_pdf())
    import async_uploads.moves

    monkeypatch.setattr(async_uploads.moves, "_finish_moves", lambda *a, **k: None)
    interrupted = save_doc(upload_pdf())
    monkeypatch.undo()
    for row in AsyncTempFile.objects.all():
        age(row.key, 100)

    out, err = cleanup()
    assert err == ""
    assert len(out.strip().splitlines()) == 1
    assert summary(out) == {"abandoned": 2, "finished": 1, "completed": 1, "failed": 0, "kept": 0}
    assert AsyncTempFile.objects.count() == 0
    for key in abandoned:
        assert not default_storage.exists(key)
    assert read(Document.objects.get(pk=finished.pk).attachment.name) == PDF
    interrupted.refresh_from_db()
    assert interrupted.attachment.name == f"documents/{interrupted.pk}/file3.pdf"
    assert read(interrupted.attachment.name) == PDF


def test_storage_error_on_one_key_does_not_stop_the_others(upload_pdf, monkeypatch):
    keys = [upload_pdf(b"a"), upload_pdf(b"b"), upload_pdf(b"c")]
    bad = keys[1]
    for key in keys:
        age(key, 100)
    original_delete = FileSystemAsyncUploadStorage.delete

    def flaky_delete(self, name):
        if name == bad:
            raise OSError("permission denied")
        return original_delete(self, name)

    monkeypatch.setattr(FileSystemAsyncUploadStorage, "delete", flaky_delete)
    out, err = cleanup()
    assert summary(out) == {"abandoned": 2, "finished": 0, "completed": 0, "failed": 1, "kept": 0}
    assert bad in err
    for key in (keys[0], keys[2]):
        assert not default_storage.exists(key)
        assert not AsyncTempFile.objects.filter(key=key).exists()
    # The one that failed is left for the next run, object and row.
    assert read(bad) == b"b"
    assert AsyncTempFile.objects.filter(key=bad).exists()

    monkeypatch.undo()
    out, _ = cleanup()
    assert summary(out)["abandoned"] == 1
    assert not default_storage.exists(bad)
    assert AsyncTempFile.objects.count() == 0


def test_negative_age_is_refused(upload_pdf):
    key = upload_pdf()
    age(key, 100)
    with pytest.raises(CommandError, match="--age must not be negative"):
        cleanup(age=-1)
    assert read(key) == PDF
    assert AsyncTempFile.objects.filter(key=key).exists()


# --------------------------------------------------------------------------- retry


def test_retry_with_ids_only_retries_those(upload_pdf, save_doc, broken_copy):
    k1, k2 = upload_pdf(b"%PDF-1.4 one"), upload_pdf(b"%PDF-1.4 two")
    d1, d2 = save_doc(k1), save_doc(k2)
    assert (d1.attachment.name, d2.attachment.name) == (k1, k2)
    broken_copy.undo()
    row1, row2 = AsyncTempFile.objects.get(key=k1), AsyncTempFile.objects.get(key=k2)
    assert row1.error and row2.error

    out, err = retry(row1.pk)
    assert err == ""
    assert "Retried 1 moves; 0 still failing." in out
    d1.refresh_from_db()
    d2.refresh_from_db()
    assert d1.attachment.name == f"documents/{d1.pk}/file0.pdf"
    assert read(d1.attachment.name) == b"%PDF-1.4 one"
    assert not default_storage.exists(k1)
    assert AsyncTempFile.objects.get(pk=row1.pk).error is None
    # The other one was not touched.
    assert d2.attachment.name == k2
    assert read(k2) == b"%PDF-1.4 two"
    assert AsyncTempFile.objects.get(pk=row2.pk).error == row2.error


def test_retry_that_still_fails_exits_non_zero_and_keeps_the_error(upload_pdf, save_doc, broken_copy):
    key = upload_pdf()
    doc = save_doc(key)
    row = AsyncTempFile.objects.get(key=key)
    assert row.error

    with pytest.raises(SystemExit) as exc:
        retry(quiet=True)
    assert exc.value.code == 1
    row.refresh_from_db()
    assert row.error
    assert Document.objects.get(pk=doc.pk).attachment.name == key
    assert read(key) == PDF
    assert not default_storage.exists(f"documents/{doc.pk}/file0.pdf")

    broken_copy.undo()
    out, err = retry()
    assert err == ""
    assert "Retried 1 moves; 0 still failing." in out
    assert Document.objects.get(pk=doc.pk).attachment.name == f"documents/{doc.pk}/file0.pdf"


def test_retry_with_nothing_to_do(upload_pdf, save_doc):
    save_doc(upload_pdf())
    out, err = retry()
    assert "Retried 0 moves; 0 still failing." in out
    assert err == ""


# --------------------------------------------------------------------------- crash recovery


def test_a_record_holding_an_unclaimed_key_is_moved_not_robbed(upload_pdf):
    # A process that dies between an autocommit INSERT and the claim (or code that writes the key
    # with bulk_create / update(), which send no post_save) leaves a record on an unclaimed key.
    key = upload_pdf()
    (doc,) = Document.objects.bulk_create([Document(title="held", attachment=key)])
    age(key, 100)
    out, _ = cleanup()
    doc.refresh_from_db()
    assert not AsyncTempFile.objects.filter(key=key).exists()  # dropped with the other old rows
    assert doc.attachment.name.startswith(f"documents/{doc.pk}/")
    assert not doc.attachment.name.startswith("async-temp-files/")
    assert read(doc.attachment.name) == PDF
    assert not default_storage.exists(key)
    assert summary(out)["completed"] == 1
    assert summary(out)["abandoned"] == 0


def test_claim_time_is_recorded(upload_pdf, save_doc):
    key = upload_pdf()
    before = timezone.now()
    save_doc(key)
    row = AsyncTempFile.objects.get(key=key)
    assert row.claimed_at is not None and row.claimed_at >= before


def test_sweep_removes_unrecorded_objects_from_old_day_folders(upload_pdf):
    from django.core.files.base import ContentFile

    stray = default_storage.save("async-temp-files/2020/01/01/AbCdEfGhIjKl-stray.pdf", ContentFile(b"x"))
    partial = default_storage.save("async-temp-files/2020/01/01/.upload-abc.part", ContentFile(b"half"))
    today = timezone.now().strftime("%Y/%m/%d")
    fresh = default_storage.save(f"async-temp-files/{today}/ZyXwVuTsRqPo-fresh.pdf", ContentFile(b"y"))
    recorded = upload_pdf()  # has a row and is recent: left alone
    out, _ = cleanup()
    assert not default_storage.exists(stray)
    assert not default_storage.exists(partial)
    assert default_storage.exists(fresh)
    assert default_storage.exists(recorded)
    assert "swept 2 unrecorded temporary objects" in out
