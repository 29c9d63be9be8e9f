"""One storage instance per implementation, each in its own media directory."""

from alliance_platform.storage.async_uploads.storage.filesystem import (
    FileSystemAsyncUploadStorage as RefFileSystemStorage,
)
from django.conf import settings

from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage

ours_storage = FileSystemAsyncUploadStorage(location=str(settings.MEDIA_OURS))
ref_storage = RefFileSystemStorage(location=str(settings.MEDIA_REF))
