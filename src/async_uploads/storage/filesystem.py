"""Uploads to the Django server's own disk, through signed single-use URLs."""

from __future__ import annotations

import datetime
import errno
import filecmp
import hashlib
import hmac
import os
import shutil
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core import signing
from django.core.files.storage import FileSystemStorage
from django.core.signals import setting_changed
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.encoding import force_bytes

from async_uploads.exceptions import UploadReplaced
from async_uploads.registry import cached_reverse, default_async_field_registry
from async_uploads.storage.base import AsyncUploadStorage, Capabilities, GenerateUploadUrlResponse, UploadRequest

if TYPE_CHECKING:
    from async_uploads.registry import AsyncFieldRegistry

__all__ = ["DOWNLOAD_SALT", "UPLOAD_SALT", "FileSystemAsyncUploadStorage"]

#: Salts keep upload and download tokens apart: neither can stand in for the other.
UPLOAD_SALT = "async_uploads.filesystem.upload"
DOWNLOAD_SALT = "async_uploads.filesystem.download"


class _DownloadSigner(signing.Signer):
    """``Signer(salt=DOWNLOAD_SALT)`` whose signatures skip re-deriving the HMAC key every time.

    ``Signer.signature()`` hashes the salt and the secret into the HMAC key for every value
    (``salted_hmac``); this one derives it once. Signatures are the same bytes, so the download
    view checks them with a plain ``Signer``.
    """

    def __init__(self) -> None:
        super().__init__(salt=DOWNLOAD_SALT)
        self._derived = (
            hashlib.sha256(force_bytes(self.salt) + b"signer" + force_bytes(self.key)).digest()
            if self.algorithm == "sha256"
            else None
        )

    def signature(self, value: str | bytes, key: str | bytes | None = None) -> str:
        if self._derived is None or (key and key != self.key):
            return super().signature(value, key)
        digest = hmac.digest(self._derived, force_bytes(value), "sha256")
        return signing.b64_encode(digest).decode()

    def sign_flat(self, payload: dict[str, Any]) -> str:
        """Return ``sign_object(payload)`` for a dict of strings and integers, without a JSON encoder.

        ``json.dumps(payload, separators=(",", ":"))`` writes such a dict as this does: keys in
        order, strings through ``encode_basestring_ascii`` and integers through ``int.__repr__``;
        any other value falls back to ``sign_object``.
        """
        parts = []
        for name, value in payload.items():
            if isinstance(value, str):
                encoded = encode_basestring_ascii(value)
            elif type(value) is int:
                encoded = int.__repr__(value)
            else:
                return self.sign_object(payload)
            parts.append(f"{encode_basestring_ascii(name)}:{encoded}")
        data = ("{" + ",".join(parts) + "}").encode("latin-1")
        return self.sign(signing.b64_encode(data).decode())


#: The download signer, built from SECRET_KEY when first needed; dropped when a setting changes.
_download_signer: list[_DownloadSigner] = []


def _signer() -> _DownloadSigner:
    if not _download_signer:
        _download_signer.append(_DownloadSigner())
    return _download_signer[0]


def _forget_signer(**kwargs: Any) -> None:
    # SECRET_KEY and SECRET_KEY_FALLBACKS are read when the signer is built; any change of
    # settings (override_settings in tests) builds it again.
    _download_signer.clear()


setting_changed.connect(_forget_signer)


def _version(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _registry(registry: AsyncFieldRegistry | None) -> AsyncFieldRegistry:
    return registry or default_async_field_registry


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

    capabilities = Capabilities(multipart=False, cors=False, server_side_copy=True)

    def sign_upload(self, request: UploadRequest) -> GenerateUploadUrlResponse:
        """Return a signed single-use URL the browser POSTs the file for the request's key to."""
        expires_at = timezone.now() + datetime.timedelta(seconds=request.expires_in)
        payload = {"k": request.key, "f": request.field_id, "p": "u", "e": int(expires_at.timestamp())}
        token = signing.Signer(salt=UPLOAD_SALT).sign_object(payload)
        namespace = _registry(request.registry).url_namespace
        url = cached_reverse(f"{namespace}:filesystem-upload") + "?" + urlencode({"token": token})
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
        expire = self.download_expiry(kwargs)
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
        token = _signer().sign_flat(payload)
        base = cached_reverse(f"{_registry(kwargs.get('registry')).url_namespace}:filesystem-download")
        # urlencode({"token": token}): a token is URL-safe base64 joined by ":", the only
        # character quote_plus() changes in it.
        return f"{base}?token={token.replace(':', '%3A')}"

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
