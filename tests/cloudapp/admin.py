from django.contrib import admin

from async_uploads.admin import AsyncFileAdminMixin
from tests.cloudapp.models import AzureDoc, AzureImage, S3Doc, S3Image


# The widget against S3 (moto) and Azure Blob (Azurite) in the browser tests.
@admin.register(S3Doc, S3Image, AzureDoc, AzureImage)
class CloudAdmin(AsyncFileAdminMixin, admin.ModelAdmin):
    pass
