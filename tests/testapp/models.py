from django.db import models

from async_uploads.models import AsyncFileField, AsyncImageField
from async_uploads.registry import AsyncFieldRegistry
from async_uploads.storage.memory import InMemoryAsyncUploadStorage

other_registry = AsyncFieldRegistry("other")


def document_path(instance, filename):
    return f"documents/{instance.pk}/{filename}"


class Document(models.Model):
    title = models.CharField(max_length=100, blank=True)
    attachment = AsyncFileField(upload_to=document_path, blank=True, max_size=1, file_restrictions=[".pdf", "txt"])
    extra = AsyncFileField(upload_to="extras/", blank=True)

    def __str__(self):
        return self.title


class Photo(models.Model):
    image = AsyncImageField(
        upload_to="photos/",
        blank=True,
        width_field="width",
        height_field="height",
        file_restrictions=["image/*"],
        download_params={"expire": 120, "as_attachment": False},
    )
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)


class PublicNote(models.Model):
    """Anyone may upload and download."""

    file = AsyncFileField(upload_to="notes/", blank=True, perm_create=None, perm_update=None, perm_detail=None)


class OtherRegistryFile(models.Model):
    file = AsyncFileField(upload_to="other/", blank=True, async_field_registry=other_registry)


class ProxyDocument(Document):
    class Meta:
        proxy = True


class SpecialDocument(Document):
    """Multi-table child: inherits the async fields."""

    note = models.CharField(max_length=10, blank=True)


class AbstractBase(models.Model):
    file = AsyncFileField(upload_to="abstract/", blank=True, perm_create=None, perm_update=None, perm_detail=None)

    class Meta:
        abstract = True


class ConcreteFromAbstract(AbstractBase):
    pass


class PlainModel(models.Model):
    """Has no async fields: no handler of ours may run for it."""

    name = models.CharField(max_length=10)


memory_storage = InMemoryAsyncUploadStorage()


class MemoryNote(models.Model):
    """Uses the in-memory storage users can put in their own tests."""

    file = AsyncFileField(upload_to="memory-notes/", blank=True, storage=memory_storage, max_size=1)


class Profile(models.Model):
    """Both field types on one model: edited through the admin in the browser tests."""

    name = models.CharField(max_length=100)
    resume = AsyncFileField(upload_to="resumes/", blank=True, max_size=1, file_restrictions=[".pdf", ".txt"])
    avatar = AsyncImageField(upload_to="avatars/", blank=True, width_field="avatar_width", height_field="avatar_height")
    avatar_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    avatar_height = models.PositiveIntegerField(null=True, blank=True, editable=False)

    def __str__(self):
        return self.name


class ProfileAttachment(models.Model):
    """Edited as an admin inline of Profile."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="attachments")
    file = AsyncFileField(upload_to="profile-attachments/", max_size=1)
