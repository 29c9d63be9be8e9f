"""Background moves and verification: a task of Django's Tasks API, run by real worker processes.

The database backend's ``db_worker`` and RQ's worker (on the Redis server of 127.0.0.1) run in
processes of their own, on the test's database; uploads go over real HTTP to the filesystem views,
moto's S3 server and Azurite. One test kills a worker with SIGKILL in the middle of a move.
"""

from __future__ import annotations

import os
import posixpath
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from async_uploads.checks import check_settings
from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from tests import test_cloud_backends
from tests.cloudapp.models import FsDoc, GatedDoc, cloud_registry, fs_storage, gated_storage
from tests.conftest import field_id, read, request_for
from tests.test_cloud_backends import PDF, Backend, body_of
from tests.testapp.models import Document
from tests.workers import wait_for

# The filesystem / moto S3 / Azurite ``backend`` fixture of the cloud backend tests.
backend = test_cloud_backends.backend

TASK = "async_uploads.tasks.move_upload"
BACKGROUND = {"MOVE_IN_BACKGROUND": True, "BACKGROUND_MOVE_LEASE": 3}


def task_results(**filters: Any) -> list[Any]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.filter(task_path=TASK, **filters).order_by("enqueued_at"))


def holds(obj: Any, field: str = "file") -> str:
    return type(obj)._base_manager.filter(pk=obj.pk).values_list(field, flat=True).get()


def files_under(storage: Any, directory: str) -> list[str]:
    try:
        return sorted(storage.listdir(directory)[1])
    except FileNotFoundError:
        return []


def save_doc(backend: Backend, user: Any, body: bytes = PDF, filename: str = "report.pdf") -> tuple[Any, str]:
    key = backend.upload(backend.doc, filename, body, "application/pdf", size=len(body))
    doc = backend.doc()
    doc.file = AsyncFileInputData(key, filename, request=request_for(user))
    doc.save()
    return doc, key


def download(client: Any, obj: Any, field: str = "file") -> Any:
    fid = cloud_registry.generate_id(obj._meta.get_field(field))
    return client.get(reverse(f"{cloud_registry.url_namespace}:download") + f"?field_id={fid}&instance_id={obj.pk}")


# --------------------------------------------------------------------------- the database worker


@pytest.mark.django_db(transaction=True)
def test_database_worker_moves_in_the_background_on_every_backend(backend, user, settings, start_worker):
    settings.ASYNC_UPLOADS = BACKGROUND
    started = time.monotonic()
    doc, key = save_doc(backend, user)
    # Saved and committed: the record holds the temporary key, which serves the file, until the task runs.
    assert holds(doc) == key and doc.file.name == key
    assert body_of(backend.download(doc, "file")) == PDF
    [queued] = task_results()
    assert queued.status == "READY" and queued.args_kwargs["args"][0] == AsyncTempFile.objects.get(key=key).pk

    worker = start_worker("db")
    name = wait_for(lambda: (n := holds(doc)) != key and n, 20, "the worker to move the upload", worker)
    assert name.startswith("docs/report") and name.endswith(".pdf")
    doc.refresh_from_db()
    assert body_of(backend.download(doc, "file")) == PDF, "the permanent name serves the same bytes"
    assert not backend.storage.exists(key), "the temporary object is deleted once the record points at the copy"
    # The run lets go of its lease after the record points at the copy: its result comes after both.
    wait_for(lambda: task_results(status="SUCCESSFUL"), 10, "the task result", worker)
    assert task_results()[0].return_value == "moved"
    row = AsyncTempFile.objects.get(key=key)
    assert (row.moved_to_location, row.error, row.move_heartbeat) == (name, None, None)
    print(f"{backend.name}: saved to moved by the database worker in {time.monotonic() - started:.1f} s")


@pytest.mark.django_db(transaction=True)
def test_task_is_enqueued_when_the_transaction_commits_and_never_on_rollback(user, settings, start_worker):
    settings.ASYNC_UPLOADS = BACKGROUND
    fs = Backend("filesystem", FsDoc, None, fs_storage, _client(user))
    key = fs.upload(FsDoc, "report.pdf", PDF, "application/pdf", size=len(PDF))
    other_key = fs.upload(FsDoc, "other.pdf", PDF, "application/pdf", size=len(PDF))
    with transaction.atomic():
        doc = FsDoc.objects.create(file=AsyncFileInputData(key, "report.pdf", request=request_for(user)))
        assert task_results() == [], "nothing is enqueued before the transaction commits"
    assert len(task_results()) == 1

    with pytest.raises(RuntimeError), transaction.atomic():
        FsDoc.objects.create(file=AsyncFileInputData(other_key, "other.pdf", request=request_for(user)))
        raise RuntimeError("roll back")
    assert len(task_results()) == 1, "a rolled-back save enqueues nothing"
    assert AsyncTempFile.objects.get(key=other_key).object_pk is None, "and claims nothing"
    assert fs_storage.exists(other_key)

    worker = start_worker("db")
    wait_for(lambda: holds(doc) != key, 20, "the committed save's move", worker)
    assert fs_storage.exists(other_key), "the rolled-back upload is untouched, free to be submitted again"


@pytest.mark.django_db(transaction=True)
def test_only_uploads_above_the_size_move_in_the_background(user, settings):
    settings.ASYNC_UPLOADS = {**BACKGROUND, "BACKGROUND_MOVE_MIN_SIZE": 1000}
    fs = Backend("filesystem", FsDoc, None, fs_storage, _client(user))
    small, _ = save_doc(fs, user, b"%PDF-1.7\n" + b"x" * 10, "small.pdf")
    large, large_key = save_doc(fs, user, b"%PDF-1.7\n" + b"x" * 2000, "large.pdf")
    assert holds(small).startswith("docs/small"), "a small upload moves in the request, as without the setting"
    assert holds(large) == large_key, "a large one waits for the task"
    [queued] = task_results()
    assert queued.args_kwargs["args"][0] == AsyncTempFile.objects.get(key=large_key).pk


@pytest.mark.django_db(transaction=True)
def test_moves_run_in_the_request_by_default(user):
    fs = Backend("filesystem", FsDoc, None, fs_storage, _client(user))
    doc, key = save_doc(fs, user)
    assert holds(doc).startswith("docs/report") and not fs_storage.exists(key)
    assert task_results() == []


@pytest.mark.django_db(transaction=True)
def test_a_url_signed_while_the_move_was_pending_still_serves_the_file_after_it(user, settings):
    """The filesystem's signed URL of a temporary key serves the moved copy once the key is gone."""
    from async_uploads.tasks import _run_move

    settings.ASYNC_UPLOADS = BACKGROUND
    fs = Backend("filesystem", FsDoc, None, fs_storage, _client(user))
    doc, key = save_doc(fs, user)
    signed = download(fs.client, doc)["Location"]  # signed for the temporary key, the move pending
    lost, lost_key = save_doc(fs, user, filename="lost.pdf")
    signed_lost = download(fs.client, lost)["Location"]

    assert _run_move(AsyncTempFile.objects.get(key=key).pk) == "moved"  # what the worker runs
    assert not fs_storage.exists(key) and holds(doc) != key
    served = fs.client.get(signed)
    assert served.status_code == 200 and b"".join(served.streaming_content) == PDF
    assert f'filename="{posixpath.basename(holds(doc))}"' in served["Content-Disposition"]

    # A temporary key that is gone without a move (its object deleted) still answers not_found.
    fs_storage.delete(lost_key)
    missing = fs.client.get(signed_lost)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


@pytest.mark.django_db(transaction=True)
def test_a_failed_background_move_keeps_the_key_and_the_error_and_retry_finishes_it(user, settings, start_worker):
    settings.ASYNC_UPLOADS = BACKGROUND
    fs = Backend("filesystem", FsDoc, None, fs_storage, _client(user))
    doc, key = save_doc(fs, user)
    # The permanent folder cannot be made: the worker's copy fails.
    media = Path(settings.MEDIA_ROOT)
    (media / "docs").write_text("a file where the folder should be")
    worker = start_worker("db")
    row = wait_for(
        lambda: AsyncTempFile.objects.filter(key=key, error__isnull=False).first(), 20, "the failure", worker
    )
    assert "Traceback" in row.error
    assert holds(doc) == key and read(key) == PDF, "the record keeps its temporary key, whose object is kept"
    assert download(fs.client, doc).status_code == 302, "and still serves it"
    wait_for(lambda: task_results(status="FAILED"), 10, "the task result", worker)
    worker.stop()

    (media / "docs").unlink()
    out = StringIO()
    call_command("retry_async_file_moves", stdout=out)
    assert "Retried 1 moves; 0 still failing." in out.getvalue()
    name = holds(doc)
    assert name.startswith("docs/report") and read(name) == PDF and not fs_storage.exists(key)
    assert AsyncTempFile.objects.get(key=key).error is None


@pytest.mark.django_db(transaction=True)
def test_a_move_that_cannot_be_enqueued_keeps_the_key_for_retry(user, settings):
    settings.ASYNC_UPLOADS = {**BACKGROUND, "BACKGROUND_MOVE_QUEUE": "not-a-queue-of-the-backend"}
    fs = Backend("filesystem", FsDoc, None, fs_storage, _client(user))
    doc, key = save_doc(fs, user)
    assert holds(doc) == key and task_results() == []
    row = AsyncTempFile.objects.get(key=key)
    assert "not-a-queue-of-the-backend" in row.error
    settings.ASYNC_UPLOADS = {}
    call_command("retry_async_file_moves", stdout=StringIO())
    assert holds(doc).startswith("docs/report") and not fs_storage.exists(key)


# --------------------------------------------------------------------------- verification in the task


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_is_verified_by_the_task_and_not_served_until_it_passes(user, settings, start_worker, gql):
    settings.ASYNC_UPLOADS = {"BACKGROUND_VERIFY_MIN_SIZE": 16, "BACKGROUND_MOVE_LEASE": 3}
    from tests.conftest import Uploader

    uploader = Uploader(gql.sync_client)
    key = uploader.upload(field_id(Document, "attachment"), "big.pdf", PDF, "application/pdf", size=len(PDF))
    doc = Document(title="big")
    doc.attachment = AsyncFileInputData(key, "big.pdf", request=request_for(user))
    doc.save()
    row = AsyncTempFile.objects.get(key=key)
    assert row.verification_pending and row.verified_version is None, "accepted on its declared size, unverified"
    assert holds(doc, "attachment") == key

    # Not served until the task verified it: the redirect refuses, GraphQL has no download URL.
    fid = field_id(Document, "attachment")
    response = gql.sync_client.get(reverse("async_uploads:download") + f"?field_id={fid}&instance_id={doc.pk}")
    assert response.status_code == 409 and response.json()["code"] == "verification_pending"
    query = "query($pk: ID!) { document(pk: $pk) { attachment { key movePending downloadUrl url } } }"
    result = gql.execute(query, {"pk": doc.pk})
    value = result.data["document"]["attachment"]
    assert (value["key"], value["movePending"], value["downloadUrl"]) == (key, True, None)

    worker = start_worker("db")
    name = wait_for(lambda: (n := holds(doc, "attachment")) != key and n, 20, "verification and move", worker)
    assert name == f"documents/{doc.pk}/big.pdf" and read(name) == PDF
    value = gql.execute(query, {"pk": doc.pk}).data["document"]["attachment"]
    assert (value["key"], value["movePending"]) == (name, False) and value["downloadUrl"]
    assert AsyncTempFile.objects.get(key=key).verification_pending is False


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_that_fails_the_task_verification_is_never_served(user, settings, start_worker):
    settings.ASYNC_UPLOADS = {"BACKGROUND_VERIFY_MIN_SIZE": 16, "BACKGROUND_MOVE_LEASE": 3}
    fs = Backend("filesystem", FsDoc, None, fs_storage, _client(user))
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    doc, key = save_doc(fs, user, html, "fake.pdf")  # accepted unverified: a PDF by name only
    assert holds(doc) == key and AsyncTempFile.objects.get(key=key).verification_pending
    assert download(fs.client, doc).status_code == 409

    worker = start_worker("db")
    row = wait_for(lambda: AsyncTempFile.objects.filter(key=key, error__isnull=False).first(), 20, "refusal", worker)
    assert row.error.startswith("invalid_file_type:")
    assert holds(doc) == "", "the record's file is cleared"
    assert not fs_storage.exists(key), "the refused object is deleted"
    assert files_under(fs_storage, "docs") == [], "and nothing was moved"


# --------------------------------------------------------------------------- RQ


@pytest.mark.django_db(transaction=True)
def test_rq_worker_moves_in_the_background(backend, user, settings, redis_queue, start_worker):
    settings.ASYNC_UPLOADS = {**BACKGROUND, "BACKGROUND_MOVE_BACKEND": "rq", "BACKGROUND_MOVE_QUEUE": settings.RQ_QUEUE}
    started = time.monotonic()
    doc, key = save_doc(backend, user)
    assert holds(doc) == key
    assert redis_queue.keys("rq:job:*"), "the task is a job in this test's Redis database"
    worker = start_worker("rq")
    name = wait_for(lambda: (n := holds(doc)) != key and n, 20, "the RQ worker to move the upload", worker)
    doc.refresh_from_db()
    assert name.startswith("docs/report") and body_of(backend.download(doc, "file")) == PDF
    assert not backend.storage.exists(key)
    print(f"{backend.name}: saved to moved by the RQ worker in {time.monotonic() - started:.1f} s")


# --------------------------------------------------------------------------- a worker killed mid-move


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_move_is_replaced_and_nothing_is_lost(
    user, settings, start_worker, tmp_path
):
    settings.ASYNC_UPLOADS = BACKGROUND
    gate = tmp_path / "gate"
    gated = Backend("gated", GatedDoc, None, gated_storage, _client(user))
    doc, key = save_doc(gated, user)
    temp_pk = AsyncTempFile.objects.get(key=key).pk

    gate.write_text("hold")
    started = time.monotonic()
    first = start_worker("db", ASYNC_UPLOADS_TEST_GATE=str(gate))
    target = wait_for(
        lambda: Path(f"{gate}.reached").exists() and Path(f"{gate}.reached").read_text(),
        20,
        "the worker to reach the middle of the move",
        first,
    )
    # The copy is made, the record not pointed at it yet: kill the worker there.
    first.kill()
    assert gated_storage.exists(target) and gated_storage.exists(key)
    assert holds(doc) == key, "the record still holds its temporary key, whose object exists"
    assert AsyncTempFile.objects.get(pk=temp_pk).move_heartbeat is not None, "the dead run's lease"
    gate.unlink()

    second = start_worker("db")
    wait_for(lambda: holds(doc) != key, 20, "the restarted worker to take the move over", second)
    took = time.monotonic() - started
    assert holds(doc) == target, "the copy the killed worker made is adopted, not made again under another name"
    assert files_under(gated_storage, "docs") == [os.path.basename(target)], "no second copy, no stray file"
    assert read(target) == PDF
    assert not gated_storage.exists(key), "the temporary object is deleted"
    # The run lets go of its lease after the record points at the copy: its result comes after both.
    finished = wait_for(lambda: task_results(status="SUCCESSFUL"), 10, "the check's result", second)
    assert finished[0].return_value == "moved", "the check the killed run enqueued took the move over"
    row = AsyncTempFile.objects.get(pk=temp_pk)
    assert (row.error, row.move_heartbeat, row.moved_to_location) == (None, None, target)
    print(f"killed mid-move and finished by a restarted worker {took:.1f} s after the first started")


# --------------------------------------------------------------------------- settings and checks


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        ({"MOVE_IN_BACKGROUND": "yes"}, "async_uploads.E015"),
        ({"BACKGROUND_MOVE_MIN_SIZE": -1}, "async_uploads.E016"),
        ({"BACKGROUND_MOVE_MIN_SIZE": None}, "async_uploads.E016"),
        ({"BACKGROUND_VERIFY_MIN_SIZE": "1 GB"}, "async_uploads.E016"),
        ({"BACKGROUND_MOVE_LEASE": 1}, "async_uploads.E017"),
        ({"BACKGROUND_MOVE_BACKEND": ""}, "async_uploads.E018"),
        ({"MOVE_IN_BACKGROUND": True, "BACKGROUND_MOVE_BACKEND": "nope"}, "async_uploads.E019"),
        ({"BACKGROUND_VERIFY_MIN_SIZE": 10, "BACKGROUND_MOVE_QUEUE": "elsewhere"}, "async_uploads.E019"),
    ],
)
def test_bad_background_settings_are_reported_by_checks(settings, value, check_id):
    settings.ASYNC_UPLOADS = value
    assert check_id in [m.id for m in check_settings()]


def test_good_background_settings_pass_the_checks(settings):
    settings.ASYNC_UPLOADS = {"MOVE_IN_BACKGROUND": True, "BACKGROUND_MOVE_MIN_SIZE": 10 * 1024**2}
    assert check_settings() == []
    settings.ASYNC_UPLOADS = {**BACKGROUND, "BACKGROUND_MOVE_BACKEND": "rq", "BACKGROUND_MOVE_QUEUE": settings.RQ_QUEUE}
    assert check_settings() == []


def test_a_backend_that_cannot_defer_is_warned_about(settings):
    settings.TASKS = {**settings.TASKS, "now": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.ASYNC_UPLOADS = {"MOVE_IN_BACKGROUND": True, "BACKGROUND_MOVE_BACKEND": "now"}
    assert [m.id for m in check_settings()] == ["async_uploads.W023"]


def _client(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
def test_a_run_finding_a_live_lease_leaves_the_move_and_looks_again_later(user, settings):
    from django.utils import timezone

    from async_uploads.tasks import move_upload

    settings.ASYNC_UPLOADS = BACKGROUND
    fs = Backend("filesystem", FsDoc, None, fs_storage, _client(user))
    doc, key = save_doc(fs, user)
    row = AsyncTempFile.objects.get(key=key)
    beat = timezone.now()
    AsyncTempFile.objects.filter(pk=row.pk).update(move_heartbeat=beat)  # another run, alive

    assert move_upload.call(row.pk) == "running"
    assert holds(doc) == key and fs_storage.exists(key), "the live run's move is left alone"
    check = task_results()[-1]
    assert check.status == "READY" and check.run_after > beat, "a check is enqueued for when the lease runs out"

    AsyncTempFile.objects.filter(pk=row.pk).update(move_heartbeat=None)  # that run ended without finishing
    assert move_upload.call(row.pk) == "moved"
    assert move_upload.call(row.pk) == "done", "a second run finds nothing left to do"
    name = holds(doc)
    assert read(name) == PDF and files_under(fs_storage, "docs") == [os.path.basename(name)]
    assert AsyncTempFile.objects.get(pk=row.pk).move_heartbeat is None
