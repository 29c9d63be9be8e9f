from alliance_platform.storage.async_uploads.models import AsyncFileField as SeedAsyncFileField
from alliance_platform.storage.async_uploads.storage.filesystem import (
    FileSystemAsyncUploadStorage as SeedFileSystemStorage,
)
from django.db import models

from async_uploads.models import AsyncFileField


class Migrating(models.Model):
    """A model moving from the seed's field to ours, one field at a time."""

    old_file = SeedAsyncFileField(storage=SeedFileSystemStorage(), blank=True)
    new_file = AsyncFileField(blank=True)

    class Meta:
        app_label = "both"
