"""Create the example's bucket / container when it is missing and let the demo page's origin upload to it."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from example.models import Document, Photo


class Command(BaseCommand):
    help = (
        "Create the S3 bucket or Azure container of the example's file fields if it does not exist, then apply "
        "the CORS rules a browser on --origin needs (manage.py async_uploads_cors). Nothing to do on the "
        "filesystem storage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--origin",
            action="append",
            required=True,
            help="Origin of the demo page, e.g. http://127.0.0.1:8000 (repeat for several).",
        )

    def handle(self, *args: Any, origin: list[str], **options: Any) -> None:
        storages: list[Any] = []
        for field in (Document._meta.get_field("attachment"), Photo._meta.get_field("image")):
            if all(field.storage is not s for s in storages):
                storages.append(field.storage)
        cloud = [s for s in storages if hasattr(s, "apply_cors")]
        if not cloud:
            self.stdout.write("Filesystem storage: no bucket or CORS rules to set up.")
            return
        for storage in cloud:
            try:
                self.stdout.write(_ensure_exists(storage))
            except Exception as e:
                raise CommandError(
                    f"Could not reach or create the storage of {type(storage).__name__}: {e}. Check "
                    "AWS_S3_ENDPOINT_URL / AZURE_CONNECTION_STRING and the credentials."
                ) from e
        # As argv: call_command(origin=[...]) would pass "--origin a b" to an append option.
        call_command("async_uploads_cors", *[f"--origin={o}" for o in origin], stdout=self.stdout, stderr=self.stderr)


def _ensure_exists(storage: Any) -> str:
    """Create the storage's bucket (S3) or container (Azure) unless it exists; say which."""
    # Duck-typed: importing the S3 module needs boto3 even when only the Azure extra is installed.
    if hasattr(storage, "bucket_name"):
        from botocore.exceptions import ClientError

        client = storage.client
        try:
            client.head_bucket(Bucket=storage.bucket_name)
            return f"S3 bucket {storage.bucket_name!r} exists."
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        region = client.meta.region_name
        extra = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        client.create_bucket(Bucket=storage.bucket_name, **extra)
        return f"S3 bucket {storage.bucket_name!r} created."
    if hasattr(storage, "azure_container"):
        from azure.core.exceptions import ResourceExistsError

        try:
            storage.service_client.create_container(storage.azure_container)
        except ResourceExistsError:
            return f"Azure container {storage.azure_container!r} exists."
        return f"Azure container {storage.azure_container!r} created."
    raise CommandError(f"The example does not know how to create the storage of {type(storage).__name__}.")
