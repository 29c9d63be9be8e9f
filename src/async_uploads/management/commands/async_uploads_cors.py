"""Apply the CORS rules browser uploads need to the buckets / containers of the async fields."""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from async_uploads.fields import AsyncFileMixin
from async_uploads.storage.base import AsyncUploadStorage


class Command(BaseCommand):
    help = (
        "Set the CORS rules a browser on --origin needs to upload to (and download from) the S3 bucket or "
        "Azure Blob service of every async file field. Storages without CORS (the filesystem one) are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--origin",
            # extend + nargs: `--origin a --origin b`, `--origin a b` and call_command(origin=[a, b])
            # all give [a, b] (call_command passes a required list option as `--origin a b`).
            action="extend",
            nargs="+",
            required=True,
            help="Origin of the site that uploads, e.g. https://app.example.com (repeat or list several).",
        )
        parser.add_argument("--registry", help="Only the fields of the registry with this name.")
        parser.add_argument("--dry-run", action="store_true", help="Print the rules instead of applying them.")

    def handle(self, *args: Any, origin: list[str], registry: str | None, dry_run: bool, **options: Any) -> None:
        origins = [o.rstrip("/") for o in origin]
        bad = [o for o in origins if not o.startswith(("http://", "https://")) and o != "*"]
        if bad:
            raise CommandError(f"An origin is a scheme and host like https://app.example.com, got {bad[0]!r}.")
        storages = _storages(registry)
        if not storages:
            raise CommandError(
                "No async file field uses a storage with CORS rules (S3 or Azure)"
                + (f" in registry {registry!r}." if registry else ".")
            )
        for storage in storages:
            rules = storage.cors_rules(origins)
            if dry_run:
                self.stdout.write(f"{type(storage).__name__}:")
                self.stdout.write(json.dumps([_as_dict(r) for r in rules], indent=2))
                continue
            try:
                done = storage.apply_cors(origins)
            except Exception as e:
                raise CommandError(
                    f"Could not set CORS rules on {type(storage).__name__}: {e}. The credentials need "
                    "s3:PutBucketCORS (S3) or the account key / Storage Account Contributor role (Azure)."
                ) from e
            self.stdout.write(done)


def _storages(registry: str | None) -> list[AsyncUploadStorage]:
    found: list[AsyncUploadStorage] = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, AsyncFileMixin) or not isinstance(field.storage, AsyncUploadStorage):
                continue
            if not field.storage.capabilities.cors:
                continue
            if registry is not None and field.async_field_registry.name != registry:
                continue
            if all(field.storage is not s for s in found):
                found.append(field.storage)
    return found


def _as_dict(rule: Any) -> dict[str, Any]:
    if isinstance(rule, dict):
        return rule
    names = {
        "allowed_origins": "AllowedOrigins",
        "allowed_methods": "AllowedMethods",
        "allowed_headers": "AllowedHeaders",
        "exposed_headers": "ExposeHeaders",
        "max_age_in_seconds": "MaxAgeSeconds",
    }
    out: dict[str, Any] = {}
    for attr, name in names.items():
        value = getattr(rule, attr, None)
        out[name] = value.split(",") if isinstance(value, str) else value
    return out
