"""The models of bench_ours.models, on the reference package's fields."""

from alliance_platform.storage.async_uploads.models import AsyncFileField, AsyncImageField
from bench_project.storages import ref_storage
from django.db import models

#: MB; large enough for the biggest upload benchmark (256 MiB) so the limit is checked, not hit.
MAX_SIZE = 300


class Document(models.Model):
    title = models.CharField(max_length=100, blank=True)
    file = AsyncFileField(upload_to="documents/", storage=ref_storage, blank=True, max_size=MAX_SIZE)


class TwoFiles(models.Model):
    title = models.CharField(max_length=100, blank=True)
    first = AsyncFileField(upload_to="first/", storage=ref_storage, blank=True, max_size=MAX_SIZE)
    second = AsyncFileField(upload_to="second/", storage=ref_storage, blank=True, max_size=MAX_SIZE)


class Photo(models.Model):
    image = AsyncImageField(
        upload_to="photos/",
        storage=ref_storage,
        blank=True,
        width_field="width",
        height_field="height",
        max_size=MAX_SIZE,
    )
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
