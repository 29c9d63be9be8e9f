"""Remove abandoned uploads, finish interrupted moves, and drop old temporary-file records."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from async_uploads.fields import AsyncFileMixin
from async_uploads.models import AsyncTempFile, UploadSession
from async_uploads.recovery import claim_for_holder, complete_move, find_referencing_records
from async_uploads.services import abort_session
from async_uploads.storage.base import AsyncUploadStorage

logger = logging.getLogger("async_uploads")

BATCH = 500


class Command(BaseCommand):
    help = (
        "For temporary-file records older than --age hours: delete uploads that no record took, "
        "finish moves a crash interrupted (a record still holds the temporary key), and drop the "
        "records. Records with a move error are kept for retry_async_file_moves. Then delete "
        "objects under the temporary prefix that have no record (interrupted uploads) from days "
        "older than --age, and objects uploaded again to keys a record already took and moved on from."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--age", type=int, default=48, help="Only handle records older than this many hours (default 48)."
        )
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors.")

    def handle(self, *args: Any, age: int, quiet: bool, **options: Any) -> None:
        if age < 0:
            raise CommandError("--age must not be negative.")
        try:
            cutoff = timezone.now() - timedelta(hours=age)
        except OverflowError as e:
            raise CommandError("--age is too large.") from e
        old = AsyncTempFile.objects.filter(created_at__lt=cutoff)
        kept_with_error = old.filter(error__isnull=False).count()
        counts = {"abandoned": 0, "finished": 0, "completed": 0, "refused": 0, "failed": 0}
        last_pk = 0
        while True:
            batch = list(
                old.filter(error__isnull=True, pk__gt=last_pk).select_related("content_type").order_by("pk")[:BATCH]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            # Only unclaimed keys can be held by a record that never claimed them (a crash, bulk_create).
            holders = find_referencing_records([t for t in batch if t.object_pk is None])
            for temp_file in batch:
                try:
                    outcome = self._clean(temp_file, holders.get(temp_file.pk))
                except Exception as e:
                    counts["failed"] += 1
                    logger.exception("Cleaning up AsyncTempFile(pk=%s, key=%r) failed.", temp_file.pk, temp_file.key)
                    self.stderr.write(f"Could not clean up {temp_file.key}: {e}")
                    continue
                counts[outcome] += 1
                if outcome not in ("abandoned", "refused"):  # those rows are gone already
                    temp_file.delete()
        aborted = self._abort_sessions(cutoff)
        swept = self._sweep(cutoff.date() - timedelta(days=1))
        consumed = self._drop_reuploads(cutoff.date() - timedelta(days=1))
        if not quiet:
            self.stdout.write(
                f"Removed {counts['abandoned']} abandoned uploads and {counts['finished']} finished records; "
                f"completed {counts['completed']} interrupted moves; {counts['failed']} failed; "
                f"kept {kept_with_error} records with move errors (see retry_async_file_moves); "
                f"refused {counts['refused']} unclaimed keys whose object failed verification; "
                f"swept {swept} unrecorded temporary objects; "
                f"deleted {consumed} objects uploaded again to keys already used; "
                f"aborted {aborted} abandoned uploads in parts."
            )

    def _clean(self, temp_file: AsyncTempFile, holder: str | None) -> str:
        if temp_file.object_pk is None:
            if holder is None:
                # Remove the row first, only while it is still unclaimed: a save that claims it meanwhile
                # (its transaction still open) wins, and the object stays for its move. A storage error
                # rolls the row back, so the next run tries again.
                with transaction.atomic():
                    deleted, _ = AsyncTempFile.objects.filter(pk=temp_file.pk, object_pk__isnull=True).delete()
                    if not deleted:
                        raise RuntimeError("a record claimed this key during cleanup; it is left for the next run")
                    storage = temp_file.get_field().storage
                    if storage.exists(temp_file.key):
                        storage.delete(temp_file.key)
                return "abandoned"
            # A record holds the key but never claimed it (a crash, bulk_create): verify and finish the move.
            claimed = claim_for_holder(temp_file, holder)
            if claimed == "refused":
                return "refused"
            if claimed == "taken":
                raise RuntimeError("the key was claimed while cleaning up; it is left for the next run")
        return "completed" if complete_move(temp_file) == "moved" else "finished"

    def _abort_sessions(self, cutoff: Any) -> int:
        """Abort open multipart sessions past their expiry (every part removed), and drop old closed ones."""
        aborted = 0
        for session in UploadSession.objects.filter(
            state=UploadSession.State.OPEN, expires_at__lt=timezone.now()
        ).select_related("content_type"):
            try:
                abort_session(session, session.get_field().storage)
                aborted += 1
            except Exception as e:
                logger.exception("Aborting UploadSession(pk=%s, key=%r) failed.", session.pk, session.key)
                self.stderr.write(f"Could not abort the upload in parts {session.key}: {e}")
        UploadSession.objects.exclude(state=UploadSession.State.OPEN).filter(updated_at__lt=cutoff).delete()
        return aborted

    def _sweep(self, before: date) -> int:
        """Delete objects under each storage's temporary prefix, in day folders before ``before``, with no record."""
        swept = 0
        for storage in _async_storages():
            try:
                names = _temporary_objects(storage, before)
            except Exception as e:  # one unreachable storage must not stop the sweep of the others
                self.stderr.write(f"Could not list the temporary objects of {type(storage).__name__}: {e}")
                continue
            for name in names:
                if AsyncTempFile.get_by_key(name) is None:
                    try:
                        storage.delete(name)
                        swept += 1
                    except Exception as e:
                        self.stderr.write(f"Could not delete {name}: {e}")
        return swept

    def _drop_reuploads(self, since: date) -> int:
        """Delete objects in recent day folders (from ``since`` on) at keys a record took and moved on from.

        A key is accepted once, but an S3 presigned POST can be sent again, and an Azure create-only
        SAS can create the blob again once the move deleted it. Such bytes are never moved; they are
        deleted here instead of waiting for their row to age out. Older day folders are handled
        above (the row's move is completed, or the sweep finds no row).
        """
        deleted = 0
        for storage in _async_storages():
            try:
                names = _temporary_objects(storage, since=since)
            except Exception as e:
                self.stderr.write(f"Could not list the temporary objects of {type(storage).__name__}: {e}")
                continue
            for name in names:
                temp_file = AsyncTempFile.get_by_key(name)
                if temp_file is None or temp_file.object_pk is None or temp_file.error is not None:
                    continue  # not uploaded yet, waiting for its save, or waiting for a retry
                try:
                    if temp_file.get_field().storage is not storage:
                        continue
                    if find_referencing_records([temp_file]):
                        continue  # the record still holds the key: its move has not finished
                    storage.delete(name)
                    deleted += 1
                except Exception as e:
                    self.stderr.write(f"Could not delete {name}: {e}")
        return deleted


def _async_storages() -> list[AsyncUploadStorage]:
    storages: list[AsyncUploadStorage] = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, AsyncFileMixin) and isinstance(field.storage, AsyncUploadStorage):
                if all(field.storage is not s for s in storages):
                    storages.append(field.storage)
    return storages


def _temporary_objects(storage: AsyncUploadStorage, before: date | None = None, since: date | None = None) -> list[str]:
    """List objects in ``prefix/YYYY/MM/DD/`` folders dated before ``before`` (or from ``since`` on)."""
    prefix = storage.temporary_key_prefix
    found: list[str] = []

    def folders(path: str) -> list[str]:
        try:
            return list(storage.listdir(path)[0])
        except (OSError, NotImplementedError):
            return []

    for year in folders(prefix):
        for month in folders(f"{prefix}/{year}"):
            for day in folders(f"{prefix}/{year}/{month}"):
                try:
                    folder_date = date(int(year), int(month), int(day))
                except ValueError:
                    continue
                if (before is None or folder_date < before) and (since is None or folder_date >= since):
                    folder = f"{prefix}/{year}/{month}/{day}"
                    try:
                        found.extend(f"{folder}/{name}" for name in storage.listdir(folder)[1])
                    except OSError:
                        continue
    return found
