from async_uploads.storage.base import AsyncUploadStorage, GenerateUploadUrlResponse

__all__ = ["AsyncUploadStorage", "GenerateUploadUrlResponse"]
