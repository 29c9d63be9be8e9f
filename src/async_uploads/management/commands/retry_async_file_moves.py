"""Retry moves that failed, once their cause is fixed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from async_uploads.models import AsyncTempFile
from async_uploads.recovery import complete_move


class Command(BaseCommand):
    help = (
        "Retry moving uploads whose move to a permanent name failed (AsyncTempFile.error is set). "
        "On success the record points at the permanent name and the error is cleared."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="AsyncTempFile ids to retry (default: all that failed).")
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors.")

    def handle(self, *args: Any, ids: list[int], quiet: bool, **options: Any) -> None:
        rows = AsyncTempFile.objects.filter(error__isnull=False).select_related("content_type").order_by("pk")
        if ids:
            rows = rows.filter(pk__in=ids)
        retried = failed = 0
        for temp_file in rows:
            try:
                outcome = complete_move(temp_file)
            except Exception as e:
                failed += 1
                self.stderr.write(f"{temp_file.key}: still failing: {e}")
                continue
            retried += 1
            if not quiet:
                self.stdout.write(f"{temp_file.key}: {outcome} -> {temp_file.moved_to_location or '-'}")
        if not quiet:
            self.stdout.write(f"Retried {retried} moves; {failed} still failing.")
        if failed:
            raise SystemExit(1)
