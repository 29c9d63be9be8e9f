from django.contrib import admin

from async_uploads.admin import AsyncFileAdminMixin
from tests.cloudapp.models import AzureBig, AzureDoc, AzureImage, FsBig, S3Big, S3Doc, S3Image


# The widget against S3 (moto) and Azure Blob (Azurite) in the browser tests; the *Big models take
# uploads in parts (the filesystem one too).
@admin.register(S3Doc, S3Image, AzureDoc, AzureImage, S3Big, AzureBig, FsBig)
class CloudAdmin(AsyncFileAdminMixin, admin.ModelAdmin):
    pass
