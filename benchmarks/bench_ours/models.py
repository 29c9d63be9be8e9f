"""Models on django-async-uploads' fields. bench_ref.models mirrors them with the reference's."""

from bench_project.storages import ours_storage
from django.db import models

from async_uploads.models import AsyncFileField, AsyncImageField

#: MB; large enough for the biggest upload benchmark (256 MiB) so the limit is checked, not hit.
MAX_SIZE = 300


class Document(models.Model):
    title = models.CharField(max_length=100, blank=True)
    file = AsyncFileField(upload_to="documents/", storage=ours_storage, blank=True, max_size=MAX_SIZE)


class TwoFiles(models.Model):
    title = models.CharField(max_length=100, blank=True)
    first = AsyncFileField(upload_to="first/", storage=ours_storage, blank=True, max_size=MAX_SIZE)
    second = AsyncFileField(upload_to="second/", storage=ours_storage, blank=True, max_size=MAX_SIZE)


class Photo(models.Model):
    image = AsyncImageField(
        upload_to="photos/",
        storage=ours_storage,
        blank=True,
        width_field="width",
        height_field="height",
        max_size=MAX_SIZE,
    )
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)


class Record(models.Model):
    """A file and an image on one record: the list of section 9f reads both."""

    title = models.CharField(max_length=100, blank=True)
    attachment = AsyncFileField(upload_to="records/", storage=ours_storage, blank=True, max_size=MAX_SIZE)
    image = AsyncImageField(
        upload_to="records/images/",
        storage=ours_storage,
        blank=True,
        width_field="width",
        height_field="height",
        max_size=MAX_SIZE,
        suppress_pillow_check=True,
    )
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
