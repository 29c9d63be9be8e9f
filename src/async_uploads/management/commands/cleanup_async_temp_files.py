"""Remove abandoned uploads and finished temporary-file records."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from async_uploads.models import AsyncTempFile
from async_uploads.moves import complete_move

logger = logging.getLogger("async_uploads")


class Command(BaseCommand):
    help = (
        "Delete uploads that were never saved to a record, finish moves a crash interrupted, and drop "
        "temporary-file records older than --age hours. Records with a move error are kept for "
        "retry_async_file_moves."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--age", type=int, default=48, help="Only handle records older than this many hours (default 48)."
        )
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors.")

    def handle(self, *args: Any, age: int, quiet: bool, **options: Any) -> None:
        if age < 0:
            self.stderr.write("--age must not be negative.")
            raise SystemExit(2)
        old = AsyncTempFile.objects.filter(created_at__lt=timezone.now() - timedelta(hours=age))
        kept_with_error = old.filter(error__isnull=False).count()
        counts = {"abandoned": 0, "finished": 0, "completed": 0, "failed": 0}
        for temp_file in old.filter(error__isnull=True).select_related("content_type").iterator():
            try:
                if temp_file.object_pk is None:
                    field = temp_file.get_field()
                    if field.storage.exists(temp_file.key):
                        field.storage.delete(temp_file.key)
                    counts["abandoned"] += 1
                else:
                    outcome = complete_move(temp_file)
                    counts["completed" if outcome == "moved" else "finished"] += 1
            except Exception as e:
                counts["failed"] += 1
                logger.exception("Cleaning up AsyncTempFile(pk=%s, key=%r) failed.", temp_file.pk, temp_file.key)
                self.stderr.write(f"Could not clean up {temp_file.key}: {e}")
                continue
            temp_file.delete()
        if not quiet:
            self.stdout.write(
                f"Removed {counts['abandoned']} abandoned uploads and {counts['finished']} finished records; "
                f"completed {counts['completed']} interrupted moves; {counts['failed']} failed; "
                f"kept {kept_with_error} records with move errors (see retry_async_file_moves)."
            )
