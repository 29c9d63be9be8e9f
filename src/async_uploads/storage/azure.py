"""Uploads straight to Azure Blob Storage through blob-scoped, create-only SAS URLs."""

from __future__ import annotations

import base64
import datetime
import secrets
import time
from typing import Any
from urllib.parse import quote

from django.utils.deconstruct import deconstructible

from async_uploads.exceptions import AsyncUploadError, AsyncUploadsImproperlyInstalled, UploadReplaced
from async_uploads.storage.base import (
    AsyncUploadStorage,
    Capabilities,
    GenerateUploadUrlResponse,
    MultipartUpload,
    PartTarget,
    UploadedPart,
    UploadRequest,
)
from async_uploads.storage.parts import AZURE_LIMITS

try:
    from azure.core import MatchConditions
    from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
    from azure.storage.blob import (
        BlobBlock,
        BlobPrefix,
        BlobSasPermissions,
        ContentSettings,
        CorsRule,
        generate_blob_sas,
    )
    from storages.backends.azure_storage import AzureStorage
    from storages.utils import clean_name
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise AsyncUploadsImproperlyInstalled(e.name or "azure-storage-blob", "azure") from e

__all__ = ["AzureAsyncUploadStorage", "AzureCopyError"]


class AzureCopyError(AsyncUploadError, OSError):
    """A server-side copy failed, was aborted, or was still pending when the wait ran out."""

    code = "copy_failed"


@deconstructible(path="async_uploads.storage.azure.AzureAsyncUploadStorage")
class AzureAsyncUploadStorage(AzureStorage, AsyncUploadStorage):
    """Take uploads straight from the browser to an Azure Blob Storage container.

    Configured exactly as django-storages' ``AzureStorage`` (``AZURE_ACCOUNT_NAME``,
    ``AZURE_ACCOUNT_KEY`` or ``AZURE_CONNECTION_STRING``, ``AZURE_CONTAINER``, ``AZURE_LOCATION``…
    or the same names in ``STORAGES[...]["OPTIONS"]``). An account key (or a token credential,
    for user delegation SAS) is needed to sign. The browser PUTs the file to a SAS URL scoped to
    the one blob, with only the create permission, that expires after ``UPLOAD_URL_EXPIRY``, and
    sends the headers the upload target lists. Moves are server-side copies; a pending copy is
    waited for (at most :attr:`copy_timeout` seconds) and the source is deleted only after the
    copy succeeded.
    """

    capabilities = Capabilities(multipart=True, cors=True, server_side_copy=True)
    part_limits = AZURE_LIMITS

    #: Seconds to wait for a pending server-side copy before giving up (and keeping the source).
    copy_timeout = 300.0
    #: First interval between polls of a pending copy, in seconds (doubles up to 5 s).
    copy_poll_interval = 0.2

    def blob_name(self, name: str) -> str:
        """Return the blob name of the storage name ``name`` (``AZURE_LOCATION`` applied)."""
        return self._get_valid_path(name)

    def _sas(
        self, blob: str, permission: BlobSasPermissions, expire: int, **params: Any
    ) -> tuple[str, datetime.datetime]:
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=expire)
        delegation_key = self.get_user_delegation_key(expiry.replace(tzinfo=None))
        token = generate_blob_sas(
            self.account_name,
            self.azure_container,
            blob,
            account_key=self.account_key,
            user_delegation_key=delegation_key,
            permission=permission,
            expiry=expiry,
            **params,
        )
        return token, expiry

    #: Never overwrite: the base's free-name rule, not django-storages' overwriting one.
    get_available_name = AsyncUploadStorage.get_available_name

    def clean_storage_name(self, name: str) -> str:
        """Return ``name`` cleaned as django-storages cleans blob names."""
        return clean_name(name)

    def sign_upload(self, request: UploadRequest) -> GenerateUploadUrlResponse:
        """Return a create-only SAS URL for the request's blob and the headers the PUT must carry.

        ``x-ms-blob-type: BlockBlob`` and ``If-None-Match: *`` (never overwrite) always;
        ``x-ms-blob-content-type`` with the declared ``content_type``; ``Content-MD5`` with the
        client's ``content_md5`` (Azure refuses a body that does not match). Azure SAS cannot
        limit the size: :meth:`verify_upload` enforces ``max_size`` before a key is accepted.
        """
        blob = self.blob_name(request.key)
        token, expiry = self._sas(blob, BlobSasPermissions(create=True), request.expires_in)
        headers = {"x-ms-blob-type": "BlockBlob", "If-None-Match": "*"}
        if request.content_type:
            headers["x-ms-blob-content-type"] = request.content_type
        if request.content_md5:
            headers["Content-MD5"] = request.content_md5
        return {
            "url": f"{self.client.get_blob_client(blob).url}?{token}",
            "fields": {},
            "method": "PUT",
            "provider": "azure",
            "headers": headers,
            "fileFieldName": "",
            "expiresAt": expiry,
        }

    def generate_download_url(self, key: str, field_id: str, **kwargs: Any) -> str:
        """Return a read-only SAS URL for ``key``.

        ``expire`` (seconds) defaults to ``DOWNLOAD_URL_EXPIRY``. The response is an attachment
        named after the key unless ``as_attachment=False``; ``filename`` names it. ``parameters``
        (``cache_control``, ``content_type``, ``content_disposition``…) go into the SAS.

        Active content (HTML, SVG, …) is always an attachment, whatever these ask, unless
        ``ASYNC_UPLOADS["INLINE_ACTIVE_CONTENT_TYPES"]`` names its type (see
        :meth:`~async_uploads.storage.base.AsyncUploadStorage.must_download_as_attachment`).
        """
        expire = self.download_expiry(kwargs)
        params = dict(kwargs.get("parameters") or {})
        params["content_disposition"] = self.content_disposition(
            key,
            filename=kwargs.get("filename"),
            as_attachment=kwargs.get("as_attachment", True),
            content_type=params.get("content_type"),
            requested=params.get("content_disposition"),
        )
        blob = self.blob_name(key)
        token, _ = self._sas(blob, BlobSasPermissions(read=True), expire, **params)
        return f"{self.client.get_blob_client(blob).url}?{token}"

    def read_head(self, key: str, length: int) -> tuple[bytes, str | None]:
        """Return the first ``length`` bytes of ``key`` and its stored content type, with one ranged GET."""
        stream = self.client.get_blob_client(self.blob_name(key)).download_blob(
            offset=0, length=length, max_concurrency=1
        )
        return bytes(stream.readall()), stream.properties.content_settings.content_type

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Return at most ``length`` bytes of ``key`` from ``start``, with one ranged GET."""
        if length <= 0:
            return b""
        try:
            stream = self.client.get_blob_client(self.blob_name(key)).download_blob(
                offset=start, length=length, max_concurrency=1
            )
            return bytes(stream.readall())
        except HttpResponseError as e:
            if e.status_code == 416:  # the range starts past the end of the blob
                return b""
            raise

    def object_version(self, key: str) -> str | None:
        """Return the blob's ETag (``None`` when there is no blob at ``key``)."""
        try:
            return str(self.client.get_blob_client(self.blob_name(key)).get_blob_properties().etag)
        except ResourceNotFoundError:
            return None

    def copy_file(self, from_key: str, to_key: str, *, version: str | None = None) -> None:
        """Copy ``from_key`` to ``to_key`` inside Azure and wait for the copy; never overwrite.

        Raise :class:`FileExistsError` when ``to_key`` exists and :class:`AzureCopyError` when
        the copy fails, is aborted, or is still pending after :attr:`copy_timeout` seconds (the
        pending copy is aborted and the partial target removed; the source is never touched).
        With a ``version`` (an ETag) the copy carries ``x-ms-source-if-match``: Azure copies only
        that blob, and another one raises :class:`~async_uploads.exceptions.UploadReplaced`.
        """
        source = self.client.get_blob_client(self.blob_name(from_key))
        target = self.client.get_blob_client(self.blob_name(to_key))
        token, _ = self._sas(source.blob_name, BlobSasPermissions(read=True), 3600)
        condition: dict[str, Any] = {}
        if version is not None:
            condition = {"source_etag": version, "source_match_condition": MatchConditions.IfNotModified}
        try:
            copy = target.start_copy_from_url(f"{source.url}?{token}", if_none_match="*", **condition)
        except ResourceExistsError as e:
            raise FileExistsError(f"{to_key!r} already exists in container {self.azure_container!r}.") from e
        except HttpResponseError as e:
            if e.status_code == 404:
                # The source is gone (an earlier run of the same move deleted it): say so as the other backends do.
                raise FileNotFoundError(f"{from_key!r} does not exist in container {self.azure_container!r}.") from e
            if e.status_code in (409, 412):
                # Both conditions can answer 412: which one failed?
                if version is not None and (
                    getattr(e, "error_code", None) == "SourceConditionNotMet"
                    or self.object_version(from_key) != version
                ):
                    raise UploadReplaced(f"{from_key!r} was replaced after it was verified; it is not copied.") from e
                raise FileExistsError(f"{to_key!r} already exists in container {self.azure_container!r}.") from e
            raise
        status = copy.get("copy_status")
        copy_id = copy.get("copy_id")
        deadline = time.monotonic() + self.copy_timeout
        interval = self.copy_poll_interval
        while status == "pending":
            if time.monotonic() >= deadline:
                try:
                    target.abort_copy(copy_id)
                finally:
                    target.delete_blob()
                raise AzureCopyError(
                    f"Copying {from_key!r} to {to_key!r} was still pending after {self.copy_timeout:g} s; "
                    f"it was aborted and {from_key!r} kept. Retry with retry_async_file_moves, or raise copy_timeout."
                )
            time.sleep(interval)
            interval = min(interval * 2, 5.0)
            properties = target.get_blob_properties()
            status = properties.copy.status
        if status != "success":
            description = ""
            try:
                description = target.get_blob_properties().copy.status_description or ""
                target.delete_blob()
            except ResourceNotFoundError:
                pass
            raise AzureCopyError(
                f"Copying {from_key!r} to {to_key!r} ended with status {status!r} {description}; "
                f"{from_key!r} was kept. Retry with retry_async_file_moves."
            )

    # ------------------------------------------------------------------ uploads in parts

    def create_multipart_upload(self, request: UploadRequest) -> str:
        """Return a new id for an upload in blocks; Azure itself keeps nothing until the first block."""
        return secrets.token_hex(16)

    def sign_upload_parts(self, upload: MultipartUpload, numbers: list[int], expire: int) -> list[PartTarget]:
        """Return a Put Block URL per part, all under one SAS scoped to the blob that allows writing only.

        Block ids are the part number in six digits (all of one length, as Azure requires), base64 in the URL.
        """
        blob = self.blob_name(upload.key)
        token, _ = self._sas(blob, BlobSasPermissions(write=True), expire)
        url = self.client.get_blob_client(blob).url
        return [
            PartTarget(
                number=n,
                url=f"{url}?comp=block&blockid={quote(_block_id(n), safe='')}&{token}",
                method="PUT",
            )
            for n in numbers
        ]

    def list_uploaded_parts(self, upload: MultipartUpload) -> list[UploadedPart]:
        """Return the uncommitted blocks of the blob (Get Block List) whose ids are part numbers."""
        try:
            _, uncommitted = self.client.get_blob_client(self.blob_name(upload.key)).get_block_list("uncommitted")
        except ResourceNotFoundError:
            return []
        parts = []
        for block in uncommitted:
            number = _part_number(block.id)
            if number is not None:
                parts.append(UploadedPart(number=number, size=int(block.size), etag=block.id))
        return sorted(parts, key=lambda p: p.number)

    def complete_multipart_upload(self, upload: MultipartUpload, parts: list[UploadedPart]) -> None:
        """Commit the blocks of ``parts`` (Put Block List) with the declared content type; never overwrite.

        Azure discards the uncommitted blocks that are not in the list.
        """
        settings = ContentSettings(content_type=upload.content_type) if upload.content_type else None
        try:
            self.client.get_blob_client(self.blob_name(upload.key)).commit_block_list(
                [BlobBlock(block_id=_block_id_text(p.number)) for p in parts],
                content_settings=settings,
                match_condition=MatchConditions.IfMissing,
            )
        except ResourceExistsError as e:
            raise FileExistsError(f"{upload.key!r} already exists in container {self.azure_container!r}.") from e

    def abort_multipart_upload(self, upload: MultipartUpload) -> None:
        """Discard the uncommitted blocks: commit an empty list (Azure drops the others), then delete that empty blob.

        Azure has no call that drops uncommitted blocks alone; left alone they would stay a week. Only
        an open session is aborted, and its key holds no accepted object, so whatever blob a client
        put there with the write SAS goes too.
        """
        blob = self.client.get_blob_client(self.blob_name(upload.key))
        blob.commit_block_list([])
        try:
            blob.delete_blob()
        except ResourceNotFoundError:
            pass

    def is_same_object(self, key: str, other: str) -> bool:
        """Return whether ``other`` has the size and content MD5 of ``key``."""
        try:
            a = self.client.get_blob_client(self.blob_name(key)).get_blob_properties()
            b = self.client.get_blob_client(self.blob_name(other)).get_blob_properties()
        except ResourceNotFoundError:
            return False
        md5_a, md5_b = a.content_settings.content_md5, b.content_settings.content_md5
        return a.size == b.size and md5_a is not None and md5_a == md5_b

    def listdir(self, path: str = "") -> tuple[list[str], list[str]]:
        """Return the "folders" and blobs directly under ``path``."""
        prefix = self._get_valid_path(path) if path else ""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        directories: list[str] = []
        files: list[str] = []
        for item in self.client.walk_blobs(name_starts_with=prefix or None, delimiter="/"):
            relative = item.name[len(prefix) :]
            if isinstance(item, BlobPrefix):
                directories.append(relative.rstrip("/"))
            else:
                files.append(relative)
        return directories, files

    def cors_rules(self, origins: list[str]) -> list[CorsRule]:
        """Return the CORS rules a browser on ``origins`` needs to upload and download."""
        return [
            CorsRule(
                allowed_origins=list(origins),
                allowed_methods=["PUT", "GET", "HEAD", "OPTIONS"],  # Put Block is a PUT too
                allowed_headers=[
                    "x-ms-blob-type",
                    "x-ms-blob-content-type",
                    "content-type",
                    "content-md5",
                    "if-none-match",
                    "x-ms-*",
                ],
                exposed_headers=["etag", "x-ms-*"],
                max_age_in_seconds=3600,
            )
        ]

    def apply_cors(self, origins: list[str]) -> str:
        """Set the account's Blob service CORS rules to :meth:`cors_rules` and describe what was done.

        Azure keeps CORS per storage account (Blob service), not per container.
        """
        self.service_client.set_service_properties(cors=self.cors_rules(origins))
        return (
            f"Azure Blob service of account {self.account_name!r}: CORS allows PUT/GET/HEAD from {', '.join(origins)}"
        )


def _block_id_text(number: int) -> str:
    """The block id of part ``number`` as the SDK takes it (it base64-encodes it on the wire)."""
    return f"{number:06d}"


def _block_id(number: int) -> str:
    """The block id of part ``number`` as it goes in a Put Block URL (base64)."""
    return base64.b64encode(_block_id_text(number).encode()).decode()


def _part_number(block_id: str) -> int | None:
    """The part number of a block id the SDK decoded (``None``: not one of ours)."""
    if len(block_id) == 6 and block_id.isdigit():
        return int(block_id)
    return None
