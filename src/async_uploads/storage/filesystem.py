"""Uploads to the Django server's own disk, through signed single-use URLs."""

from __future__ import annotations

import datetime
import errno
import filecmp
import hashlib
import hmac
import os
import re
import secrets
import shutil
import tempfile
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core import signing
from django.core.files.storage import FileSystemStorage
from django.core.signals import setting_changed
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.encoding import force_bytes

from async_uploads.exceptions import UploadReplaced
from async_uploads.registry import cached_reverse, default_async_field_registry
from async_uploads.storage.base import (
    AsyncUploadStorage,
    Capabilities,
    GenerateUploadUrlResponse,
    MultipartUpload,
    PartTarget,
    UploadedPart,
    UploadRequest,
)
from async_uploads.storage.parts import FILESYSTEM_LIMITS

if TYPE_CHECKING:
    from async_uploads.registry import AsyncFieldRegistry

__all__ = ["DOWNLOAD_SALT", "PART_SALT", "UPLOAD_SALT", "FileSystemAsyncUploadStorage"]

#: Salts keep upload and download tokens apart: neither can stand in for the other.
UPLOAD_SALT = "async_uploads.filesystem.upload"
DOWNLOAD_SALT = "async_uploads.filesystem.download"
PART_SALT = "async_uploads.filesystem.part"

#: Bytes read from the request and copied between files at a time: memory stays flat whatever the size.
CHUNK = 1024 * 1024
_PART_FILE = re.compile(r"^([0-9]{5})\.part$")


class _FlatSigner(signing.Signer):
    """``Signer(salt=salt)`` whose signatures skip re-deriving the HMAC key every time.

    ``Signer.signature()`` hashes the salt and the secret into the HMAC key for every value
    (``salted_hmac``); this one derives it once. Signatures are the same bytes, so the views
    check them with a plain ``Signer``.
    """

    def __init__(self, salt: str) -> None:
        super().__init__(salt=salt)
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


#: The signers by salt, built from SECRET_KEY when first needed; dropped when a setting changes.
_signers: dict[str, _FlatSigner] = {}


def _signer(salt: str = DOWNLOAD_SALT) -> _FlatSigner:
    signer = _signers.get(salt)
    if signer is None:
        signer = _signers[salt] = _FlatSigner(salt)
    return signer


def _forget_signer(**kwargs: Any) -> None:
    # SECRET_KEY and SECRET_KEY_FALLBACKS are read when the signer is built; any change of
    # settings (override_settings in tests) builds it again.
    _signers.clear()


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

    capabilities = Capabilities(multipart=True, cors=False, server_side_copy=True)
    part_limits = FILESYSTEM_LIMITS

    def sign_upload(self, request: UploadRequest) -> GenerateUploadUrlResponse:
        """Return a signed single-use URL the browser POSTs the file for the request's key to."""
        expires_at = timezone.now() + datetime.timedelta(seconds=request.expires_in)
        payload = {"k": request.key, "f": request.field_id, "p": "u", "e": int(expires_at.timestamp())}
        token = _signer(UPLOAD_SALT).sign_flat(payload)
        namespace = _registry(request.registry).url_namespace
        # urlencode({"token": token}), as in generate_download_url.
        url = f"{cached_reverse(f'{namespace}:filesystem-upload')}?token={token.replace(':', '%3A')}"
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

    # ------------------------------------------------------------------ uploads in parts

    def parts_directory(self, upload_id: str) -> str:
        """Return the directory the parts of ``upload_id`` are written to, beside the temporary prefix."""
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise ValueError("Not an upload id of this storage.")
        return self.path(f"{self.temporary_key_prefix}-parts/{upload_id}")

    def create_multipart_upload(self, request: UploadRequest) -> str:
        """Make the directory of a new upload in parts and return its (random) id."""
        upload_id = secrets.token_hex(16)
        os.makedirs(self.parts_directory(upload_id), exist_ok=False)
        return upload_id

    def sign_upload_parts(self, upload: MultipartUpload, numbers: list[int], expire: int) -> list[PartTarget]:
        """Return a signed URL of the part view per part, bound to the key, field, upload id, number and length."""
        expires = int(timezone.now().timestamp()) + expire
        signer = signing.Signer(salt=PART_SALT)
        base = cached_reverse(f"{_registry(upload.registry).url_namespace}:filesystem-upload-part")
        targets = []
        for n in numbers:
            payload = {
                "k": upload.key,
                "f": upload.field_id,
                "p": "p",
                "u": upload.upload_id,
                "n": n,
                "s": upload.plan.part_length(n),
                "e": expires,
            }
            targets.append(
                PartTarget(number=n, url=base + "?" + urlencode({"token": signer.sign_object(payload)}), method="PUT")
            )
        return targets

    def receive_part(self, upload_id: str, number: int, body: IO[bytes], length: int) -> int:
        """Stream ``length`` bytes of ``body`` to the file of part ``number``, replacing an earlier one.

        Raise :class:`FileNotFoundError` when the upload is gone (completed or aborted) and
        :class:`ValueError` when the body ends early; nothing is left of a failed part.
        """
        directory = self.parts_directory(upload_id)
        fd, temp = tempfile.mkstemp(prefix=".receiving-", dir=directory)
        try:
            received = 0
            with os.fdopen(fd, "wb") as out:
                while received < length:
                    chunk = body.read(min(CHUNK, length - received))
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                if received != length:
                    raise ValueError(f"{received} bytes arrived but the part is {length} bytes.")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, os.path.join(directory, f"{number:05d}.part"))
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise
        return received

    def list_uploaded_parts(self, upload: MultipartUpload) -> list[UploadedPart]:
        """Return the part files of the upload and their sizes."""
        try:
            entries = list(os.scandir(self.parts_directory(upload.upload_id)))
        except FileNotFoundError:
            return []
        parts = []
        for entry in entries:
            match = _PART_FILE.match(entry.name)
            if match:
                parts.append(UploadedPart(number=int(match.group(1)), size=entry.stat().st_size))
        return sorted(parts, key=lambda p: p.number)

    def complete_multipart_upload(self, upload: MultipartUpload, parts: list[UploadedPart]) -> None:
        """Copy the part files in order into the file at the key, chunk by chunk, then remove the parts.

        The file is written beside the key and linked into place, so the key never holds half a file
        and an existing file is never overwritten (:class:`FileExistsError`).
        """
        directory = self.parts_directory(upload.upload_id)
        target = self.path(upload.key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".assembling-", dir=os.path.dirname(target))
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(os.path.join(directory, f"{part.number:05d}.part"), "rb") as src:
                        shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(temp, self.file_permissions_mode)
            os.link(temp, target)
        finally:
            os.unlink(temp)
        shutil.rmtree(directory, ignore_errors=True)

    def abort_multipart_upload(self, upload: MultipartUpload) -> None:
        """Remove the upload's directory and every part in it."""
        shutil.rmtree(self.parts_directory(upload.upload_id), ignore_errors=True)

    #: Adds the upload (``upload-file-direct/``), part (``upload-part-direct/``) and download
    #: (``download-file-direct/``) views.
    url_views = (
        *AsyncUploadStorage.url_views,
        (
            "upload-file-direct/",
            "async_uploads.views.filesystem.FileSystemAsyncStorageUploadView",
            "filesystem-upload",
        ),
        (
            "upload-part-direct/",
            "async_uploads.views.filesystem.FileSystemAsyncStoragePartView",
            "filesystem-upload-part",
        ),
        (
            "download-file-direct/",
            "async_uploads.views.filesystem.FileSystemAsyncStorageDownloadView",
            "filesystem-download",
        ),
    )
