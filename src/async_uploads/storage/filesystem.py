"""Uploads to the Django server's own disk, through signed single-use URLs."""

from __future__ import annotations

import datetime
import errno
import filecmp
import os
import shutil
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core import signing
from django.core.files.storage import FileSystemStorage
from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.deconstruct import deconstructible

from async_uploads.conf import app_settings
from async_uploads.exceptions import UploadReplaced
from async_uploads.storage.base import AsyncUploadStorage, GenerateUploadUrlResponse

if TYPE_CHECKING:
    from async_uploads.registry import AsyncFieldRegistry

__all__ = ["DOWNLOAD_SALT", "UPLOAD_SALT", "FileSystemAsyncUploadStorage"]

#: Salts keep upload and download tokens apart: neither can stand in for the other.
UPLOAD_SALT = "async_uploads.filesystem.upload"
DOWNLOAD_SALT = "async_uploads.filesystem.download"


def _version(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


_REVERSED: dict[tuple[Any, str, str], str] = {}


def _reverse(viewname: str) -> str:
    """``reverse(viewname)``, remembered per URL resolver and script prefix (it runs for every URL signed).

    Keyed by the resolver object itself: a changed URLconf (``override_settings``,
    ``clear_url_caches``, a request's own ``urlconf``) is a new resolver, so it is reversed anew.
    """
    key = (get_resolver(get_urlconf()), get_script_prefix(), viewname)
    url = _REVERSED.get(key)
    if url is None:
        if len(_REVERSED) >= 64:  # old resolvers (tests swap URLconfs) are not kept alive for ever
            _REVERSED.clear()
        url = _REVERSED[key] = reverse(viewname)
    return url


def _registry(kwargs: dict[str, Any]) -> AsyncFieldRegistry:
    from async_uploads.registry import default_async_field_registry

    return kwargs.get("registry") or default_async_field_registry


@deconstructible(path="async_uploads.storage.filesystem.FileSystemAsyncUploadStorage")
class FileSystemAsyncUploadStorage(FileSystemStorage, AsyncUploadStorage):
    """Take uploads on the Django server itself: useful in development and on single servers.

    The browser posts the file (multipart field ``file``) to a signed, single-use URL served by
    :class:`~async_uploads.views.filesystem.FileSystemAsyncStorageUploadView`, which enforces the
    field's ``max_size`` and ``file_restrictions`` while it streams the body to disk. Downloads go
    through signed, expiring URLs served by
    :class:`~async_uploads.views.filesystem.FileSystemAsyncStorageDownloadView`. Use it as the
    default storage::

        STORAGES = {"default": {"BACKEND": "async_uploads.storage.filesystem.FileSystemAsyncUploadStorage"}, ...}

    or pass an instance as a field's ``storage``.
    """

    def generate_upload_url(self, name: str, field_id: str, *args: Any, **kwargs: Any) -> GenerateUploadUrlResponse:
        """Return a signed single-use URL the browser POSTs the file for key ``name`` to."""
        expire = int(kwargs.get("expire") or app_settings.UPLOAD_URL_EXPIRY)
        expires_at = timezone.now() + datetime.timedelta(seconds=expire)
        payload = {"k": name, "f": field_id, "p": "u", "e": int(expires_at.timestamp())}
        token = signing.Signer(salt=UPLOAD_SALT).sign_object(payload)
        url = _reverse(f"{_registry(kwargs).url_namespace}:filesystem-upload") + "?" + urlencode({"token": token})
        return {
            "url": url,
            "fields": {},
            "method": "POST",
            "provider": "filesystem",
            "headers": {},
            "fileFieldName": "file",
            "expiresAt": expires_at,
        }

    def generate_download_url(self, key: str, field_id: str, **kwargs: Any) -> str:
        """Return a signed URL that serves ``key`` until it expires.

        ``expire`` (seconds) defaults to ``DOWNLOAD_URL_EXPIRY``; ``as_attachment`` (default
        ``True``) and ``filename`` shape the ``Content-Disposition`` header; active content (HTML,
        SVG, …) is an attachment even with ``as_attachment=False``, unless
        ``ASYNC_UPLOADS["INLINE_ACTIVE_CONTENT_TYPES"]`` names its type.
        """
        expire = int(kwargs.get("expire") or app_settings.DOWNLOAD_URL_EXPIRY)
        payload: dict[str, Any] = {
            "k": key,
            "f": field_id,
            "p": "d",
            "e": int(timezone.now().timestamp()) + expire,
        }
        if kwargs.get("as_attachment") is False and not self.must_download_as_attachment(
            key, filename=kwargs.get("filename")
        ):
            payload["i"] = 1
        if kwargs.get("filename"):
            payload["n"] = str(kwargs["filename"])
        token = signing.Signer(salt=DOWNLOAD_SALT).sign_object(payload)
        return _reverse(f"{_registry(kwargs).url_namespace}:filesystem-download") + "?" + urlencode({"token": token})

    def object_version(self, key: str) -> str | None:
        """Return device, inode, size and modification time (ns) of the file (``None``: no file).

        The upload view writes each upload to a new file and renames it into place, so a new
        upload is a new inode; a rewrite in place changes the size or the modification time.
        """
        try:
            return _version(os.stat(self.path(key)))
        except FileNotFoundError:
            return None

    def version_and_size(self, key: str) -> tuple[str | None, int] | None:
        """Return :meth:`object_version` and the size of the file ``key`` from one ``stat`` (``None``: no file)."""
        try:
            st = os.stat(self.path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _version(st), st.st_size

    def copy_file(self, from_key: str, to_key: str, *, version: str | None = None) -> None:
        """Copy ``from_key`` to ``to_key`` (a hard link where possible); never overwrite.

        With a ``version`` (see :meth:`object_version`) the linked (or opened) file must still have
        it, else the new name is removed again and ``UploadReplaced`` raised.
        """
        source = self.path(from_key)
        target = self.path(to_key)
        directory = os.path.dirname(target)
        if self.directory_permissions_mode is not None:
            old_umask = os.umask(0o777 & ~self.directory_permissions_mode)
            try:
                os.makedirs(directory, self.directory_permissions_mode, exist_ok=True)
            finally:
                os.umask(old_umask)
        else:
            os.makedirs(directory, exist_ok=True)
        try:
            os.link(source, target)
            # The link names one inode: if that is still the verified file, the new name holds it.
            if version is not None and _version(os.stat(target)) != version:
                os.remove(target)
                raise UploadReplaced(f"{from_key!r} was replaced after it was verified; it is not copied.")
        except FileExistsError:
            raise
        except UploadReplaced:
            raise
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                raise
            with open(source, "rb") as src:
                # The open file is one inode whatever happens to the name meanwhile.
                if version is not None and _version(os.fstat(src.fileno())) != version:
                    raise UploadReplaced(f"{from_key!r} was replaced after it was verified; it is not copied.") from e
                with open(target, "xb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
        if self.file_permissions_mode is not None:
            os.chmod(target, self.file_permissions_mode)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Return at most ``length`` bytes of the file ``key`` from offset ``start``."""
        with open(self.path(key), "rb") as fh:
            fh.seek(start)
            return fh.read(length)

    def is_same_object(self, key: str, other: str) -> bool:
        """Return whether ``other`` is a hard link to, or a byte-identical copy of, ``key``."""
        a, b = self.path(key), self.path(other)
        try:
            return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
        except OSError:
            return False

    #: Adds the upload (``upload-file-direct/``) and download (``download-file-direct/``) views.
    url_views = (
        *AsyncUploadStorage.url_views,
        (
            "upload-file-direct/",
            "async_uploads.views.filesystem.FileSystemAsyncStorageUploadView",
            "filesystem-upload",
        ),
        (
            "download-file-direct/",
            "async_uploads.views.filesystem.FileSystemAsyncStorageDownloadView",
            "filesystem-download",
        ),
    )
