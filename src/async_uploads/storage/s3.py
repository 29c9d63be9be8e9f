"""Uploads straight to Amazon S3 (or an S3-compatible service) through presigned POST policies."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone
from django.utils.deconstruct import deconstructible

from async_uploads.exceptions import AsyncUploadsImproperlyInstalled, UploadReplaced
from async_uploads.storage.base import (
    AsyncUploadStorage,
    Capabilities,
    GenerateUploadUrlResponse,
    MultipartUpload,
    PartTarget,
    UploadedPart,
    UploadRequest,
)
from async_uploads.storage.parts import S3_LIMITS

try:
    from botocore.exceptions import ClientError
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name, setting
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise AsyncUploadsImproperlyInstalled(e.name or "boto3", "s3") from e

__all__ = ["S3AsyncUploadStorage"]

#: S3 copies at most 5 GiB in one request; larger objects are copied part by part.
MAX_SINGLE_COPY = 5 * 1024**3


def _status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


@deconstructible(path="async_uploads.storage.s3.S3AsyncUploadStorage")
class S3AsyncUploadStorage(S3Storage, AsyncUploadStorage):
    """Take uploads straight from the browser to an S3 bucket.

    Configured exactly as django-storages' ``S3Storage`` (``AWS_STORAGE_BUCKET_NAME``,
    ``AWS_S3_REGION_NAME``, ``AWS_S3_ENDPOINT_URL``, ``AWS_LOCATION``… or the same names in
    ``STORAGES[...]["OPTIONS"]``). The browser POSTs the file with a presigned (SigV4) policy that
    fixes the key, bounds the length by the field's ``max_size`` (exactly the declared size when
    the client declared one), binds the declared content type and, when the client sent one, the
    ``Content-MD5`` S3 checks the body against. Moves are server-side copies (part by part above
    :attr:`multipart_copy_threshold`) followed by a delete: no object bytes pass through Django.
    """

    capabilities = Capabilities(multipart=True, cors=True, server_side_copy=True)
    part_limits = S3_LIMITS

    #: Objects larger than this are copied with a multipart copy.
    multipart_copy_threshold = MAX_SINGLE_COPY
    #: Size of each part of a multipart copy (S3 allows 5 MiB to 5 GiB).
    multipart_copy_part_size = 512 * 1024**2

    def get_default_settings(self) -> dict[str, Any]:
        """Return django-storages' defaults, with SigV4 unless ``AWS_S3_SIGNATURE_VERSION`` says otherwise."""
        defaults = super().get_default_settings()
        defaults["signature_version"] = setting("AWS_S3_SIGNATURE_VERSION") or "s3v4"
        return defaults

    @property
    def client(self) -> Any:
        """Return the boto3 S3 client of this storage (one per thread)."""
        return self.connection.meta.client

    def object_key(self, name: str) -> str:
        """Return the S3 key of the storage name ``name`` (``AWS_LOCATION`` applied)."""
        return self._normalize_name(clean_name(name))

    #: Never overwrite: the base's free-name rule, not django-storages' overwriting one.
    get_available_name = AsyncUploadStorage.get_available_name

    def clean_storage_name(self, name: str) -> str:
        """Return ``name`` cleaned as django-storages cleans S3 names."""
        return clean_name(name)

    def sign_upload(self, request: UploadRequest) -> GenerateUploadUrlResponse:
        """Return a presigned POST (URL and form fields) for uploading to the request's key.

        The policy fixes the key, limits ``content-length-range`` to ``[size, size]`` when the
        client declared a ``size``, else to ``[0, max_size]``, binds ``Content-Type`` to the
        declared ``content_type`` and ``Content-MD5`` to the client's ``content_md5``. Extra
        ``fields`` are signed only when they are user metadata (``x-amz-meta-*``).
        """
        expire = request.expires_in
        key = self.object_key(request.key)
        fields: dict[str, str] = {}
        conditions: list[Any] = []
        if request.size is not None:
            conditions.append(["content-length-range", int(request.size), int(request.size)])
        elif request.max_size is not None:
            conditions.append(["content-length-range", 0, int(request.max_size)])
        if request.content_type:
            fields["Content-Type"] = request.content_type
        if request.content_md5:
            fields["Content-MD5"] = request.content_md5
        if self.default_acl:
            fields["acl"] = self.default_acl
        for field_name, value in request.fields.items():
            if field_name.lower().startswith("x-amz-meta-"):
                fields[field_name.lower()] = value
        conditions.extend({k: v} for k, v in fields.items())
        presigned = self.client.generate_presigned_post(
            Bucket=self.bucket_name, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expire
        )
        return {
            "url": presigned["url"],
            "fields": presigned["fields"],
            "method": "POST",
            "provider": "s3",
            "headers": {},
            "fileFieldName": "file",
            "expiresAt": timezone.now() + datetime.timedelta(seconds=expire),
        }

    def generate_download_url(self, key: str, field_id: str, **kwargs: Any) -> str:
        """Return a presigned GET URL for ``key``.

        ``expire`` (seconds) defaults to ``DOWNLOAD_URL_EXPIRY``. The response is an attachment
        named after the key unless ``as_attachment=False``; ``filename`` names it. ``parameters``
        are passed to ``get_object`` (``ResponseCacheControl``…; ``cache_control``,
        ``content_type``, ``content_disposition`` and ``content_language`` are accepted too).

        Active content (HTML, SVG, …) is always an attachment, whatever these ask, unless
        ``ASYNC_UPLOADS["INLINE_ACTIVE_CONTENT_TYPES"]`` names its type (see
        :meth:`~async_uploads.storage.base.AsyncUploadStorage.must_download_as_attachment`).
        """
        expire = self.download_expiry(kwargs)
        params: dict[str, Any] = {}
        for name, value in (kwargs.get("parameters") or {}).items():
            params[_RESPONSE_PARAMS.get(name, name)] = value
        params["ResponseContentDisposition"] = self.content_disposition(
            key,
            filename=kwargs.get("filename"),
            as_attachment=kwargs.get("as_attachment", True),
            content_type=params.get("ResponseContentType"),
            requested=params.get("ResponseContentDisposition"),
        )
        return self.url(key, parameters=params, expire=expire)  # type: ignore[call-arg]

    def read_head(self, key: str, length: int) -> tuple[bytes, str | None]:
        """Return the first ``length`` bytes of ``key`` and its stored ``Content-Type``, with one ranged GET."""
        response = self.client.get_object(
            Bucket=self.bucket_name, Key=self.object_key(key), Range=f"bytes=0-{length - 1}"
        )
        body = response["Body"]
        try:
            return bytes(body.read(length)), response.get("ContentType")
        finally:
            body.close()

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Return at most ``length`` bytes of ``key`` from ``start``, with one ranged GET."""
        if length <= 0:
            return b""
        try:
            response = self.client.get_object(
                Bucket=self.bucket_name, Key=self.object_key(key), Range=f"bytes={start}-{start + length - 1}"
            )
        except ClientError as e:
            if _status(e) == 416:  # the range starts past the end of the object
                return b""
            raise
        body = response["Body"]
        try:
            return bytes(body.read(length))
        finally:
            body.close()

    def object_version(self, key: str) -> str | None:
        """Return the object's ETag (``None`` when there is no object at ``key``)."""
        try:
            head = self.client.head_object(Bucket=self.bucket_name, Key=self.object_key(key))
        except ClientError as e:
            if _status(e) == 404:
                return None
            raise
        return head.get("ETag")

    def copy_file(self, from_key: str, to_key: str, *, version: str | None = None) -> None:
        """Copy ``from_key`` to ``to_key`` inside S3 (multipart above the threshold); never overwrite.

        With a ``version`` (an ETag), the copy carries ``x-amz-copy-source-if-match`` (every part of
        a multipart copy too), so S3 copies only that object; another one raises ``UploadReplaced``.
        """
        source = self.object_key(from_key)
        target = self.object_key(to_key)
        if self.exists(to_key):
            raise FileExistsError(f"{to_key!r} already exists in bucket {self.bucket_name!r}; it is not overwritten.")
        head = self.client.head_object(Bucket=self.bucket_name, Key=source)
        if version is not None and head.get("ETag") != version:
            raise UploadReplaced(f"{from_key!r} was replaced after it was verified; it is not copied.")
        copy_source = {"Bucket": self.bucket_name, "Key": source}
        extra: dict[str, Any] = {}
        if self.default_acl:
            extra["ACL"] = self.default_acl
        condition = {"CopySourceIfMatch": version} if version is not None else {}
        # exists() above answers for now; If-None-Match makes S3 itself refuse to replace an object
        # that appeared meanwhile (another record's move to the same name), so a race cannot
        # overwrite a file another record points at.
        try:
            if head["ContentLength"] <= self.multipart_copy_threshold:
                self.client.copy_object(
                    Bucket=self.bucket_name,
                    Key=target,
                    CopySource=copy_source,
                    MetadataDirective="COPY",
                    IfNoneMatch="*",
                    **condition,
                    **extra,
                )
                return
            self._multipart_copy(copy_source, target, head, extra, condition)
        except ClientError as e:
            if _status(e) in (409, 412):
                # Both conditions answer 412: which one failed?
                if version is not None and self.object_version(from_key) != version:
                    raise UploadReplaced(f"{from_key!r} was replaced during the copy; it is not copied.") from e
                raise FileExistsError(
                    f"{to_key!r} appeared in bucket {self.bucket_name!r} during the copy; it is not overwritten."
                ) from e
            raise

    def _multipart_copy(
        self,
        copy_source: dict[str, str],
        target: str,
        head: dict[str, Any],
        extra: dict,
        condition: dict[str, str] | None = None,
    ) -> None:
        for name in ("ContentType", "ContentDisposition", "ContentEncoding", "ContentLanguage", "CacheControl"):
            if head.get(name):
                extra[name] = head[name]
        if head.get("Metadata"):
            extra["Metadata"] = head["Metadata"]
        upload = self.client.create_multipart_upload(Bucket=self.bucket_name, Key=target, **extra)
        upload_id = upload["UploadId"]
        size = head["ContentLength"]
        part_size = self.multipart_copy_part_size
        try:
            parts = []
            for number, start in enumerate(range(0, size, part_size), start=1):
                end = min(start + part_size, size) - 1
                result = self.client.upload_part_copy(
                    Bucket=self.bucket_name,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{end}",
                    **(condition or {}),
                )
                parts.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.bucket_name,
                Key=target,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket_name, Key=target, UploadId=upload_id)
            raise

    def is_same_object(self, key: str, other: str) -> bool:
        """Return whether ``other`` has the size and ETag of ``key`` (a single-request copy of it)."""
        try:
            a = self.client.head_object(Bucket=self.bucket_name, Key=self.object_key(key))
            b = self.client.head_object(Bucket=self.bucket_name, Key=self.object_key(other))
        except ClientError:
            return False
        return a["ContentLength"] == b["ContentLength"] and a.get("ETag") == b.get("ETag")

    # ------------------------------------------------------------------ uploads in parts

    def create_multipart_upload(self, request: UploadRequest) -> str:
        """Start an S3 multipart upload to the request's key (CreateMultipartUpload) and return its UploadId."""
        extra: dict[str, Any] = {}
        if request.content_type:
            extra["ContentType"] = request.content_type
        if self.default_acl:
            extra["ACL"] = self.default_acl
        created = self.client.create_multipart_upload(
            Bucket=self.bucket_name, Key=self.object_key(request.key), **extra
        )
        return str(created["UploadId"])

    def sign_upload_parts(self, upload: MultipartUpload, numbers: list[int], expire: int) -> list[PartTarget]:
        """Return a presigned UploadPart URL per part, each signed for the part's ``Content-Length``.

        The browser sets ``Content-Length`` from the body itself, so no header is listed: a part of
        another length fails the signature.
        """
        key = self.object_key(upload.key)
        return [
            PartTarget(
                number=n,
                url=self.client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket_name,
                        "Key": key,
                        "UploadId": upload.upload_id,
                        "PartNumber": n,
                        "ContentLength": upload.plan.part_length(n),
                    },
                    ExpiresIn=expire,
                ),
                method="PUT",
            )
            for n in numbers
        ]

    def list_uploaded_parts(self, upload: MultipartUpload) -> list[UploadedPart]:
        """Return the parts S3 holds for the upload (ListParts, every page)."""
        parts: list[UploadedPart] = []
        paginator = self.client.get_paginator("list_parts")
        try:
            for page in paginator.paginate(
                Bucket=self.bucket_name, Key=self.object_key(upload.key), UploadId=upload.upload_id
            ):
                parts.extend(
                    UploadedPart(number=int(p["PartNumber"]), size=int(p["Size"]), etag=str(p["ETag"]))
                    for p in page.get("Parts", [])
                )
        except ClientError as e:
            if _status(e) == 404:  # NoSuchUpload: completed or aborted
                return []
            raise
        return sorted(parts, key=lambda p: p.number)

    def complete_multipart_upload(self, upload: MultipartUpload, parts: list[UploadedPart]) -> None:
        """Complete the upload from ``parts`` (CompleteMultipartUpload); S3 then drops the parts.

        ``If-None-Match: *`` makes S3 refuse to replace an object at the key.
        """
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket_name,
                Key=self.object_key(upload.key),
                UploadId=upload.upload_id,
                MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]},
                IfNoneMatch="*",
            )
        except ClientError as e:
            if _status(e) in (409, 412):
                raise FileExistsError(f"{upload.key!r} already exists in bucket {self.bucket_name!r}.") from e
            raise

    def abort_multipart_upload(self, upload: MultipartUpload) -> None:
        """Abort the upload (AbortMultipartUpload): S3 deletes every part. An unknown upload is already gone."""
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket_name, Key=self.object_key(upload.key), UploadId=upload.upload_id
            )
        except ClientError as e:
            if _status(e) != 404:
                raise

    def cors_rules(self, origins: list[str]) -> list[dict[str, Any]]:
        """Return the bucket CORS rules a browser on ``origins`` needs to upload and download."""
        return [
            {
                "AllowedOrigins": list(origins),
                "AllowedMethods": ["POST", "PUT", "GET", "HEAD"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag", "Location"],
                "MaxAgeSeconds": 3600,
            }
        ]

    def apply_cors(self, origins: list[str]) -> str:
        """Set the bucket's CORS rules to :meth:`cors_rules` and describe what was done."""
        self.client.put_bucket_cors(Bucket=self.bucket_name, CORSConfiguration={"CORSRules": self.cors_rules(origins)})
        return f"S3 bucket {self.bucket_name!r}: CORS allows POST/PUT/GET/HEAD from {', '.join(origins)}"


_RESPONSE_PARAMS = {
    "cache_control": "ResponseCacheControl",
    "content_type": "ResponseContentType",
    "content_disposition": "ResponseContentDisposition",
    "content_language": "ResponseContentLanguage",
    "content_encoding": "ResponseContentEncoding",
}
