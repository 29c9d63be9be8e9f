from django.db import models

from async_uploads.models import AsyncFileField, AsyncImageField


def attachment_path(instance, filename):
    return f"documents/{instance.pk}/{filename}"


class Document(models.Model):
    title = models.CharField(max_length=200)
    attachment = AsyncFileField(
        upload_to=attachment_path,
        blank=True,
        max_size=10,
        file_restrictions=[".pdf", ".txt", ".docx", "image/*"],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title


class Photo(models.Model):
    caption = models.CharField(max_length=200, blank=True)
    image = AsyncImageField(
        upload_to="photos/", width_field="width", height_field="height", max_size=20, file_restrictions=["image/*"]
    )
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)

    def __str__(self):
        return self.caption or f"Photo {self.pk}"

    def save(self, *args, **kwargs):
        # GraphQL inputs make a blank CharField a nullable String; store null as the empty caption.
        if self.caption is None:
            self.caption = ""
        super().save(*args, **kwargs)
