"""Models on the S3, Azure and filesystem backends for the cloud backend tests (no migrations: syncdb).

The storages start aimed at a closed port; the session fixtures of ``tests.servers`` aim them at
moto's server and Azurite once those run.
"""

import os
import time
from pathlib import Path

from botocore.config import Config
from django.db import models

from async_uploads.models import AsyncFileField, AsyncImageField
from async_uploads.registry import AsyncFieldRegistry
from async_uploads.storage.azure import AzureAsyncUploadStorage
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage
from async_uploads.storage.s3 import S3AsyncUploadStorage

cloud_registry = AsyncFieldRegistry("cloud")

CLOSED = "http://127.0.0.1:9"


class _Offline:
    """Until a session fixture aims it at a running server, look empty to code that lists storages.

    ``cleanup_async_temp_files`` sweeps every async storage; tests that do not start the servers
    must not wait on a closed port.
    """

    online = False

    def listdir(self, path=""):  # type: ignore[no-untyped-def]
        return super().listdir(path) if self.online else ([], [])  # type: ignore[misc]


class TestS3Storage(_Offline, S3AsyncUploadStorage):
    pass


class TestAzureStorage(_Offline, AzureAsyncUploadStorage):
    pass


# A task worker process started by a test (tests/workers.py) is told where the servers run.
S3_URL = os.environ.get("ASYNC_UPLOADS_TEST_S3_URL")
AZURE_CONNECTION_STRING = os.environ.get("ASYNC_UPLOADS_TEST_AZURE")

s3_storage = TestS3Storage(
    bucket_name="async-uploads-test",
    endpoint_url=S3_URL or CLOSED,
    region_name="us-east-1",
    access_key="testing",
    secret_key="testing",
    client_config=Config(signature_version="s3v4", retries={"max_attempts": 1}, connect_timeout=2, read_timeout=30),
)
azure_storage = TestAzureStorage(
    azure_container="async-uploads-test",
    connection_string=AZURE_CONNECTION_STRING
    or (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint={CLOSED}/devstoreaccount1;"
    ),
    client_options={"retry_total": 0},
)
s3_storage.online = bool(S3_URL)
azure_storage.online = bool(AZURE_CONNECTION_STRING)
fs_storage = FileSystemAsyncUploadStorage()


class GatedFileSystemStorage(FileSystemAsyncUploadStorage):
    """A filesystem storage whose copy, once made, waits while the gate file exists.

    The gate is the path in ``ASYNC_UPLOADS_TEST_GATE``: a copy that finds it writes
    ``<gate>.reached`` and waits until the test removes the gate, so a test knows a worker is in
    the middle of a move (the copy made, the record not pointed at it yet) and can kill it there.
    """

    def copy_file(self, from_key, to_key, *, version=None):  # type: ignore[no-untyped-def]
        super().copy_file(from_key, to_key, version=version)
        gate = os.environ.get("ASYNC_UPLOADS_TEST_GATE")
        if gate and os.path.exists(gate):
            Path(f"{gate}.reached").write_text(to_key)
            while os.path.exists(gate):
                time.sleep(0.02)


gated_storage = GatedFileSystemStorage()
s3_storages = [s3_storage]
azure_storages = [azure_storage]


def _doc(storage):
    return AsyncFileField(
        storage=storage,
        upload_to="docs/",
        blank=True,
        max_size=1,
        file_restrictions=[".pdf", ".txt"],
        async_field_registry=cloud_registry,
        perm_create=None,
        perm_update=None,
        perm_detail=None,
    )


def _image(storage):
    return AsyncImageField(
        storage=storage,
        upload_to="images/",
        blank=True,
        width_field="width",
        height_field="height",
        max_size=30,
        file_restrictions=["image/*"],
        async_field_registry=cloud_registry,
        perm_create=None,
        perm_update=None,
        perm_detail=None,
    )


class S3Doc(models.Model):
    file = _doc(s3_storage)


class S3Image(models.Model):
    image = _image(s3_storage)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)


class AzureDoc(models.Model):
    file = _doc(azure_storage)


class AzureImage(models.Model):
    image = _image(azure_storage)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)


class FsDoc(models.Model):
    file = _doc(fs_storage)


class FsImage(models.Model):
    image = _image(fs_storage)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)


class GatedDoc(models.Model):
    """On the gated filesystem storage: the test that kills a worker in the middle of a move."""

    file = _doc(gated_storage)


def _big(storage, upload_to="big/", max_size=16):
    return AsyncFileField(
        storage=storage,
        upload_to=upload_to,
        blank=True,
        max_size=max_size,
        file_restrictions=[".pdf"],
        async_field_registry=cloud_registry,
        perm_create=None,
        perm_update=None,
        perm_detail=None,
    )


class S3Big(models.Model):
    """Uploads in parts: S3 wants parts of at least 5 MiB, so files of about 11 MiB make three."""

    file = _big(s3_storage)


class AzureBig(models.Model):
    file = _big(azure_storage)


class FsBig(models.Model):
    file = _big(fs_storage)


def _huge(storage):
    """A field for the 1 GiB multipart benchmark (benchmarks/multipart.py): up to 1 GiB, which is
    MAX_PENDING_BYTES, so the test project's checks stay clean (W022)."""
    return _big(storage, upload_to="huge/", max_size=1024)


class S3Huge(models.Model):
    file = _huge(s3_storage)


class AzureHuge(models.Model):
    file = _huge(azure_storage)


class FsHuge(models.Model):
    file = _huge(fs_storage)
