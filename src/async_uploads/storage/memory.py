"""An in-memory async upload storage for your own tests."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage
from django.utils import timezone
from django.utils.deconstruct import deconstructible

from async_uploads.storage.base import AsyncUploadStorage, GenerateUploadUrlResponse, UploadRequest

__all__ = ["InMemoryAsyncUploadStorage"]


@deconstructible(path="async_uploads.storage.memory.InMemoryAsyncUploadStorage")
class InMemoryAsyncUploadStorage(InMemoryStorage, AsyncUploadStorage):
    """Keep uploads in memory, for tests of code that uses async file fields.

    Upload targets are ``memory://`` URLs no browser can reach: a test stands in for the browser
    with :meth:`receive_upload`. Everything else (temporary keys, verification, moves on save,
    download URLs) behaves as with the real backends::

        storage = InMemoryAsyncUploadStorage()
        # in a model: AsyncFileField(storage=storage)
        issued = client.post(generate_upload_url, {...}).json()
        storage.receive_upload(issued["key"], b"%PDF-1.7 ...")
    """

    def sign_upload(self, request: UploadRequest) -> GenerateUploadUrlResponse:
        """Return a ``memory://`` target for the request's key; upload to it with :meth:`receive_upload`."""
        expire = request.expires_in
        return {
            "url": f"memory://{request.key}",
            "fields": {},
            "method": "PUT",
            "provider": "memory",
            "headers": {},
            "fileFieldName": "file",
            "expiresAt": timezone.now() + datetime.timedelta(seconds=expire),
        }

    def generate_download_url(self, key: str, field_id: str, **kwargs: Any) -> str:
        """Return ``memory://key`` (with ``?expire=`` when given)."""
        expire = kwargs.get("expire")
        return f"memory://{key}" + (f"?expire={int(expire)}" if expire else "")

    def receive_upload(self, key: str, content: bytes) -> None:
        """Store ``content`` at ``key`` as a browser's upload would; an existing key is refused."""
        if self.exists(key):
            raise FileExistsError(f"{key!r} has already been uploaded.")
        stored = self.save(key, ContentFile(content))
        if stored != key:  # pragma: no cover - save() only renames when the key exists
            self.delete(stored)
            raise FileExistsError(f"{key!r} has already been uploaded.")

    def copy_file(self, from_key: str, to_key: str, *, version: str | None = None) -> None:
        """Copy ``from_key`` to ``to_key``; never overwrite.

        This storage tells no versions apart (``object_version`` answers ``None``), so ``version``
        is always ``None`` here.
        """
        if self.exists(to_key):
            raise FileExistsError(to_key)
        with self.open(from_key, "rb") as source:
            self.save(to_key, ContentFile(source.read()))

    def is_same_object(self, key: str, other: str) -> bool:
        with self.open(key, "rb") as a, self.open(other, "rb") as b:
            return a.read() == b.read()
