"""Remove abandoned uploads, finish interrupted moves, and drop old temporary-file records."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from async_uploads.models import AsyncTempFile
from async_uploads.moves import claim_for_holder, complete_move, find_referencing_records

logger = logging.getLogger("async_uploads")

BATCH = 500


class Command(BaseCommand):
    help = (
        "For temporary-file records older than --age hours: delete uploads that no record took, "
        "finish moves a crash interrupted (a record still holds the temporary key), and drop the "
        "records. Records with a move error are kept for retry_async_file_moves."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--age", type=int, default=48, help="Only handle records older than this many hours (default 48)."
        )
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors.")

    def handle(self, *args: Any, age: int, quiet: bool, **options: Any) -> None:
        if age < 0:
            raise CommandError("--age must not be negative.")
        old = AsyncTempFile.objects.filter(created_at__lt=timezone.now() - timedelta(hours=age))
        kept_with_error = old.filter(error__isnull=False).count()
        counts = {"abandoned": 0, "finished": 0, "completed": 0, "failed": 0}
        last_pk = 0
        while True:
            batch = list(
                old.filter(error__isnull=True, pk__gt=last_pk).select_related("content_type").order_by("pk")[:BATCH]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            holders = find_referencing_records(batch)
            for temp_file in batch:
                try:
                    outcome = self._clean(temp_file, holders.get(temp_file.pk))
                except Exception as e:
                    counts["failed"] += 1
                    logger.exception("Cleaning up AsyncTempFile(pk=%s, key=%r) failed.", temp_file.pk, temp_file.key)
                    self.stderr.write(f"Could not clean up {temp_file.key}: {e}")
                    continue
                counts[outcome] += 1
                temp_file.delete()
        if not quiet:
            self.stdout.write(
                f"Removed {counts['abandoned']} abandoned uploads and {counts['finished']} finished records; "
                f"completed {counts['completed']} interrupted moves; {counts['failed']} failed; "
                f"kept {kept_with_error} records with move errors (see retry_async_file_moves)."
            )

    def _clean(self, temp_file: AsyncTempFile, holder: str | None) -> str:
        if temp_file.object_pk is None:
            if holder is None:
                storage = temp_file.get_field().storage
                if storage.exists(temp_file.key):
                    storage.delete(temp_file.key)
                return "abandoned"
            # A record holds the key but the process died before claiming it: finish the move.
            claim_for_holder(temp_file, holder)
        return "completed" if complete_move(temp_file) == "moved" else "finished"
