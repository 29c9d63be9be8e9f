"""The storage contract every async upload backend fulfils."""

from __future__ import annotations

import datetime
import functools
import inspect
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from django.core.files.storage import Storage
from django.urls import path
from django.utils.module_loading import import_string

from async_uploads import image_headers, restrictions, sniffing
from async_uploads.codes import ErrorCode
from async_uploads.conf import app_settings
from async_uploads.exceptions import UploadRejected, UploadReplaced
from async_uploads.names import MAX_NAME_BYTES, fit_name, is_temporary_key, safe_basename, temporary_key
from async_uploads.sizes import too_large
from async_uploads.storage.parts import PartLimits, PartPlan, plan_parts

if TYPE_CHECKING:
    from django.urls import URLPattern

    from async_uploads.fields import AsyncFileMixin
    from async_uploads.registry import AsyncFieldRegistry

__all__ = [
    "MAX_NAME_BYTES",
    "AsyncUploadStorage",
    "Capabilities",
    "GenerateUploadUrlResponse",
    "MultipartUpload",
    "PartTarget",
    "UploadRequest",
    "UploadedPart",
    "VerifiedUpload",
    "fit_name",
    "safe_basename",
    "takes_version",
]


class GenerateUploadUrlResponse(TypedDict):
    #: The URL the browser sends the file to.
    url: str
    #: Form fields to send along with the file (S3 POST policy fields); empty for other backends.
    fields: dict[str, str]
    #: HTTP method of the upload (``POST`` or ``PUT``).
    method: NotRequired[str]
    #: Which adapter the client needs: ``filesystem``, ``s3`` or ``azure``.
    provider: NotRequired[str]
    #: HTTP headers the upload request must carry.
    headers: NotRequired[dict[str, str]]
    #: Name of the multipart field that carries the file, for POST uploads.
    fileFieldName: NotRequired[str]
    #: When the URL stops working (timezone-aware).
    expiresAt: NotRequired[datetime.datetime]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared on its class (:attr:`AsyncUploadStorage.capabilities`).

    Callers ask these instead of probing the backend for methods.
    """

    #: Uploads in parts (:meth:`AsyncUploadStorage.create_multipart_upload` and the other multipart hooks).
    multipart: bool = False
    #: Bucket or account CORS rules the ``async_uploads_cors`` command can set
    #: (:meth:`AsyncUploadStorage.cors_rules`, :meth:`AsyncUploadStorage.apply_cors`).
    cors: bool = False
    #: :meth:`AsyncUploadStorage.copy_file` copies inside the storage service: no object bytes
    #: pass through Django (a hard link or a local copy on the filesystem).
    server_side_copy: bool = False


@dataclass(frozen=True)
class UploadRequest:
    """Everything a backend needs to sign one upload target, checked by the caller beforehand.

    The service layer builds it after the permission, type, size and quota checks passed; a
    backend maps the fields it can enforce in storage (the S3 policy, the Azure headers) and
    ignores the others.
    """

    #: The temporary key the object is uploaded to.
    key: str
    #: The registry id of the field (``app_label.Model.field``).
    field_id: str
    #: The file's original name, as the client sent it.
    filename: str = ""
    #: The MIME type the client declared (``None``: none declared).
    content_type: str | None = None
    #: The size in bytes the client declared (``None``: none declared).
    size: int | None = None
    #: The field's ``max_size`` in bytes (``None``: unbounded).
    max_size: int | None = None
    #: Seconds the target stays valid (``None``: ``ASYNC_UPLOADS["UPLOAD_URL_EXPIRY"]``).
    expire: int | None = None
    #: Base64 MD5 of the file (``Content-MD5``) the client declared, for storages that check it.
    content_md5: str | None = None
    #: The record the upload is for (``None``: a new record).
    instance: Any = None
    #: Extra upload form fields the client asked for (only S3 user metadata is signed).
    fields: Mapping[str, str] = field(default_factory=dict)
    #: The registry the field belongs to (views of the filesystem backend are reversed in its namespace).
    registry: AsyncFieldRegistry | None = None

    @property
    def expires_in(self) -> int:
        """Return the seconds the target stays valid: :attr:`expire`, else ``UPLOAD_URL_EXPIRY``."""
        return int(self.expire or app_settings.UPLOAD_URL_EXPIRY)

    @classmethod
    def from_kwargs(cls, name: str, field_id: str, **kwargs: Any) -> UploadRequest:
        """Return the request the call ``generate_upload_url(name, field_id, **kwargs)`` means."""
        return cls(
            key=name,
            field_id=field_id,
            filename=kwargs.get("filename") or "",
            content_type=kwargs.get("content_type") or None,
            size=kwargs.get("size"),
            max_size=kwargs.get("max_size"),
            expire=kwargs.get("expire"),
            content_md5=kwargs.get("content_md5") or None,
            instance=kwargs.get("instance"),
            fields=dict(kwargs.get("fields") or {}),
            registry=kwargs.get("registry"),
        )

    def as_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments a backend with alliance-platform-storage's ``generate_upload_url`` gets.

        The same names the first release passed: ``registry``, ``fields``, ``content_type``, ``size``,
        ``max_size``, and ``content_md5`` / ``expire`` only when set.
        """
        kwargs: dict[str, Any] = {
            "registry": self.registry,
            "fields": dict(self.fields),
            "content_type": self.content_type,
            "size": self.size,
            "max_size": self.max_size,
        }
        if self.content_md5:
            kwargs["content_md5"] = self.content_md5
        if self.expire:
            kwargs["expire"] = self.expire
        return kwargs


@dataclass(frozen=True)
class MultipartUpload:
    """One open upload in parts, as a backend sees it: where it goes, its storage id and its plan."""

    #: The temporary key the parts are assembled at.
    key: str
    #: The backend's id of the upload (what :meth:`AsyncUploadStorage.create_multipart_upload` returned).
    upload_id: str
    #: The registry id of the field.
    field_id: str
    #: How the declared size is cut into parts.
    plan: PartPlan
    #: The MIME type the client declared (``None``: none).
    content_type: str | None = None
    #: The field's registry (for reversing the backend's own views).
    registry: AsyncFieldRegistry | None = None


@dataclass(frozen=True)
class PartTarget:
    """Where and how a client sends one part: the raw bytes as the body, exactly this method, URL and headers."""

    number: int
    url: str
    method: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadedPart:
    """A part the storage holds for an open upload."""

    number: int
    size: int
    #: The storage's tag of the part (S3's ETag), when it has one.
    etag: str = ""


@dataclass(frozen=True)
class VerifiedUpload:
    """What :meth:`AsyncUploadStorage.verify_upload` found in an accepted upload."""

    #: Size of the object, in bytes.
    size: int
    #: The type its first bytes show (``None`` when the field has no type rules to check).
    sniffed: sniffing.Sniffed | None = None
    #: Dimensions read from the image header (image fields only).
    width: int | None = None
    height: int | None = None
    #: The version of the object that was checked (:meth:`AsyncUploadStorage.object_version`):
    #: the move copies the object only while it still has this version. ``None``: not bound.
    version: str | None = None


def takes_version(method: Any) -> bool:
    """Return whether a storage's ``copy_file`` / ``move_file`` takes the keyword ``version``.

    Custom storages written against the first release take only ``from_key`` and ``to_key``.
    """
    return accepts_keyword(method, "version")


def accepts_keyword(method: Any, name: str) -> bool:
    """Return whether ``method`` (a function or bound method) takes the keyword argument ``name``.

    Answered once per function: the save flow asks on every save, and ``inspect.signature``
    costs tens of microseconds each time.
    """
    func = getattr(method, "__func__", method)
    try:
        return _accepts_keyword(func, name)
    except TypeError:  # pragma: no cover - an unhashable callable
        return _signature_accepts(method, name)


@functools.lru_cache(maxsize=256)
def _accepts_keyword(func: Any, name: str) -> bool:
    return _signature_accepts(func, name)


def _signature_accepts(func: Any, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins and the like
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class AsyncUploadStorage(Storage):
    """Base class of storages that take uploads straight from the browser.

    A backend provides :meth:`sign_upload` (a signed target the browser uploads to, for one
    typed :class:`UploadRequest`), :meth:`generate_download_url` (a signed URL to read a key)
    and :meth:`move_file` (move an upload from its temporary key to its permanent name).
    Backends that can copy without deleting should also provide :meth:`copy_file`: the save
    flow then copies, points the record at the copy and only then deletes the temporary object,
    so a crash at any step never leaves a record pointing at a missing object. What else a
    backend can do it declares in :attr:`capabilities`.
    """

    #: What this backend can do; callers ask this instead of probing for methods.
    capabilities = Capabilities()
    #: The service's rules for uploads in parts (backends declaring ``capabilities.multipart``).
    part_limits: PartLimits | None = None

    #: Prefix of every temporary key. It must be used by temporary files only.
    temporary_key_prefix = "async-temp-files"

    #: Length of the random part of a temporary key.
    temporary_key_secret_length = 12

    def sign_upload(self, request: UploadRequest) -> GenerateUploadUrlResponse:
        """Return the signed upload target for ``request`` (its temporary key, field, limits).

        A backend written against alliance-platform-storage overrides :meth:`generate_upload_url`
        instead; it is then called with the keyword arguments of :meth:`UploadRequest.as_kwargs`.
        """
        if type(self).generate_upload_url is not AsyncUploadStorage.generate_upload_url:
            upload = self.generate_upload_url(request.key, request.field_id, **request.as_kwargs())
            if isinstance(upload, str):  # alliance-platform-storage allowed a bare URL
                return {"url": upload, "fields": {}}
            return upload
        raise NotImplementedError(
            "subclasses of AsyncUploadStorage must provide a sign_upload() method "
            "(or alliance-platform-storage's generate_upload_url())"
        )

    def generate_upload_url(self, name: str, field_id: str, *args: Any, **kwargs: Any) -> GenerateUploadUrlResponse:
        """Return the signed upload target for the temporary key ``name`` of the field ``field_id``.

        alliance-platform-storage's signature, kept for code that calls a storage directly: the
        keyword arguments (``content_type``, ``size``, ``max_size``, ``expire``, ``content_md5``,
        ``fields``, ``registry``, ``filename``, ``instance``) become an :class:`UploadRequest` for
        :meth:`sign_upload`.
        """
        if type(self).sign_upload is AsyncUploadStorage.sign_upload:
            raise NotImplementedError(
                "subclasses of AsyncUploadStorage must provide a generate_upload_url() or a sign_upload() method"
            )
        return self.sign_upload(UploadRequest.from_kwargs(name, field_id, **kwargs))

    def download_expiry(self, params: Mapping[str, Any]) -> int:
        """Return the seconds a download URL stays valid: ``params["expire"]``, else ``DOWNLOAD_URL_EXPIRY``."""
        return int(params.get("expire") or app_settings.DOWNLOAD_URL_EXPIRY)

    def content_disposition(
        self,
        key: str,
        *,
        filename: str | None = None,
        as_attachment: bool | None = True,
        content_type: str | None = None,
        requested: str | None = None,
    ) -> str:
        """Return the ``Content-Disposition`` a download of ``key`` is served with.

        ``requested`` (a value the caller set itself), else an attachment (or inline, with
        ``as_attachment=False``) named ``filename`` or the key's base name. Whatever it says, active
        content is an attachment (:meth:`must_download_as_attachment`).
        """
        from django.utils.http import content_disposition_header

        name = str(filename or posixpath.basename(key))
        disposition = str(requested or content_disposition_header(as_attachment is not False, name) or "attachment")
        if not _is_attachment(disposition) and self.must_download_as_attachment(
            key, filename=filename, content_type=content_type
        ):
            disposition = content_disposition_header(True, name) or "attachment"
        return disposition

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        """Return a free name near ``name``: an async storage never overwrites.

        django-storages overwrites by default (``AWS_S3_FILE_OVERWRITE`` / ``AZURE_OVERWRITE_FILES``);
        its backends here take this method instead of theirs, so moves and saves get Django's
        suffixed free name. :meth:`clean_storage_name` normalises ``name`` first.
        """
        return Storage.get_available_name(self, self.clean_storage_name(name), max_length=max_length)

    def clean_storage_name(self, name: str) -> str:
        """Return ``name`` as this backend spells storage names (the default: unchanged)."""
        return name

    def generate_download_url(self, key: str, field_id: str, **kwargs: Any) -> str:
        """Return a URL the object at ``key`` can be downloaded from (a signed URL)."""
        raise NotImplementedError("subclasses of AsyncUploadStorage must provide a generate_download_url() method")

    def move_file(self, from_key: str, to_key: str, *, version: str | None = None) -> None:
        """Move the object at ``from_key`` to ``to_key``.

        The default copies with :meth:`copy_file` and then deletes ``from_key``. ``version`` is as
        for :meth:`copy_file`.
        """
        if not self.supports_copy():
            raise NotImplementedError(
                "subclasses of AsyncUploadStorage must provide a move_file() or a copy_file() method"
            )
        self.copy_bound(self.copy_file, from_key, to_key, version)
        self.delete(from_key)

    def copy_file(self, from_key: str, to_key: str, *, version: str | None = None) -> None:
        """Copy the object at ``from_key`` to ``to_key`` without removing the source.

        Must not overwrite an existing ``to_key``: raise :class:`FileExistsError` instead. With a
        ``version`` (what :meth:`object_version` answered when the upload was verified), copy only
        while ``from_key`` still has it, and raise :class:`~async_uploads.exceptions.UploadReplaced`
        (leaving ``to_key`` absent) when it has not. Overrides may leave ``version`` out: the save
        flow then compares :meth:`object_version` just before the copy instead.
        """
        raise NotImplementedError("subclasses of AsyncUploadStorage must provide a copy_file() method")

    def object_version(self, key: str) -> str | None:
        """Return a string that changes whenever the object at ``key`` is replaced or rewritten.

        :meth:`verify_upload` records it before reading the object, and the move copies only that
        version (see :meth:`copy_file`). ``None`` (the default, and for a missing object): this
        backend cannot tell versions apart, so the copy is not bound.
        """
        return None

    def version_and_size(self, key: str) -> tuple[str | None, int] | None:
        """Return :meth:`object_version` and the size of the object at ``key`` (``None``: no object).

        :meth:`verify_upload` asks this first. The default asks :meth:`exists`, :meth:`object_version`
        and :meth:`size` in that order; a backend that learns all three from one request (a file's
        ``stat``, an object's ``HEAD``) can answer them at once.
        """
        if not self.exists(key):
            return None
        return self.object_version(key), self.size(key)

    def copy_bound(self, method: Any, from_key: str, to_key: str, version: str | None) -> None:
        """Call ``method`` (this storage's ``copy_file`` or ``move_file``) bound to ``version``.

        An override that does not take ``version`` gets a check of :meth:`object_version` just
        before the call (a narrower window, not a conditional copy).
        """
        if version is None:
            method(from_key, to_key)
        elif takes_version(method):
            method(from_key, to_key, version=version)
        else:
            current = self.object_version(from_key)
            if current is not None and current != version:
                raise UploadReplaced(f"{from_key!r} was replaced after it was verified; it is not moved.")
            method(from_key, to_key)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Return at most ``length`` bytes of the object at ``key`` from offset ``start``.

        Verification reads the first bytes of an upload (its type) and, for images, parts of
        the header (the dimensions) through this hook, never the whole object. The default
        opens the object and seeks; cloud backends answer with one ranged GET. Past the end of
        the object it returns fewer bytes (or ``b""``).
        """
        with self.open(key, "rb") as fh:
            fh.seek(start)
            return fh.read(length)

    def read_head(self, key: str, length: int) -> tuple[bytes, str | None]:
        """Return the first ``length`` bytes of the object at ``key`` and the content type it is stored with.

        The default reads through :meth:`read_range` and knows no stored type; cloud backends
        answer both with one ranged GET.
        """
        return self.read_range(key, 0, length), None

    def must_download_as_attachment(
        self, key: str, *, filename: str | None = None, content_type: str | None = None
    ) -> bool:
        """Return whether a download of ``key`` must be an attachment, whatever the caller asked.

        True when the object is active content (HTML, SVG, …: see
        :func:`async_uploads.restrictions.active_download_type`) by its key, the ``filename`` it is
        served as, its stored type, the ``content_type`` it is served with or its first bytes,
        unless ``ASYNC_UPLOADS["INLINE_ACTIVE_CONTENT_TYPES"]`` names that type; and when its stored
        type is one its uploader could choose that a browser would not show as the name says
        (:func:`async_uploads.restrictions.untrusted_stored_type`). Backends call it
        only for downloads that would otherwise be shown inline; an object that cannot be read
        counts as active.
        """
        try:
            head, stored = self.read_head(key, sniffing.HEAD_BYTES)
        except Exception:  # missing or unreadable: nothing tells it is safe to show inline
            return True
        if restrictions.untrusted_stored_type(key, stored) is not None:
            return True  # the uploader chose it: a list, a type browsers sniff, not the name's type
        return restrictions.active_download_type([key, filename], [stored, content_type], head) is not None

    def verify_upload(
        self,
        key: str,
        *,
        field: AsyncFileMixin,
        name: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> VerifiedUpload:
        """Check the uploaded object at ``key`` before ``field`` accepts it, and describe it.

        Raise :class:`~async_uploads.exceptions.UploadRejected` when it must not be accepted:

        - ``invalid_key``: nothing was uploaded to ``key``;
        - ``file_too_large``: the object is larger than the field's ``max_size``;
        - ``invalid_file_type``: the type sniffed from its first bytes fits no ``file_restrictions``
          entry that ``name`` (the file's original name) fits;
        - ``invalid_image`` (image fields): the dimensions cannot be read from the image header, are
          out of bounds (:func:`~async_uploads.image_headers.dimension_error`), or the client-sent
          ``width`` / ``height`` differ from them.

        Only :data:`~async_uploads.sniffing.HEAD_BYTES` (and for images at most
        :data:`~async_uploads.image_headers.MAX_IMAGE_HEADER_BYTES`) are read, through :meth:`read_range`.
        """
        from django.db.models import ImageField

        # The version is read before anything else: whatever is checked below is that version or a
        # later one, and a later one fails the version-bound copy.
        found_object = self.version_and_size(key)
        if found_object is None:
            raise UploadRejected(
                "Nothing has been uploaded to this key; upload the file before submitting the form.",
                code=ErrorCode.INVALID_KEY,
            )
        version, size = found_object
        limit = field.max_size_bytes
        if limit is not None and size > limit:
            raise UploadRejected(
                too_large(size, limit, "The uploaded file"),
                code=ErrorCode.FILE_TOO_LARGE,
            )
        is_image = isinstance(field, ImageField)
        if not field.file_restrictions and not is_image:
            return VerifiedUpload(size=size, version=version)
        head = self.read_range(key, 0, sniffing.HEAD_BYTES) if size else b""
        found = sniffing.sniff(head)
        if not restrictions.content_allowed(field.file_restrictions, name, found):
            rules = [r for r in field.file_restrictions if name is None or restrictions.name_satisfies(r, name)]
            allowed = ", ".join(rules or field.file_restrictions)
            raise UploadRejected(
                f"The uploaded content is {found}, which is not an accepted type for "
                f"{name or 'this file'} (accepted: {allowed}); upload a file of an accepted type.",
                code=ErrorCode.INVALID_FILE_TYPE,
            )
        if not is_image:
            return VerifiedUpload(size=size, sniffed=found, version=version)
        header = image_headers.read_image_header(head, lambda start, length: self.read_range(key, start, length))
        if header is None and found.kind == "magic" and found.mime and found.mime.startswith("image/"):
            # Another image format (TIFF, ICO, …): let Pillow look at the same bounded prefix.
            rest = image_headers.MAX_IMAGE_HEADER_BYTES - len(head)
            more = self.read_range(key, len(head), rest) if len(head) == sniffing.HEAD_BYTES and rest > 0 else b""
            header = image_headers.read_image_header_with_pillow(head + more)
        if header is None:
            raise UploadRejected(
                f"The uploaded content ({found}) is not an image whose dimensions can be read; "
                "upload a PNG, JPEG, GIF, WebP or BMP image (or another format Pillow reads from its first 64 KiB).",
                code=ErrorCode.INVALID_IMAGE,
            )
        bounds = image_headers.dimension_error(header.width, header.height)
        if bounds is not None:
            raise UploadRejected(
                f"The image header claims {header.width}x{header.height} pixels: {bounds} Upload a smaller image.",
                code=ErrorCode.INVALID_IMAGE,
            )
        sent = (width, height)
        if sent != (None, None):
            allowed_dims = {(header.width, header.height)}
            if header.rotated:
                allowed_dims.add((header.height, header.width))
            if not any(all(s is None or s == d for s, d in zip(sent, dims, strict=True)) for dims in allowed_dims):
                raise UploadRejected(
                    f"The image is {header.width}x{header.height} pixels but {width}x{height} was submitted; "
                    "submit the image's real width and height, or none.",
                    code=ErrorCode.INVALID_IMAGE,
                )
        return VerifiedUpload(size=size, sniffed=found, width=header.width, height=header.height, version=version)

    def is_same_object(self, key: str, other: str) -> bool:
        """Return whether ``other`` holds exactly the object at ``key`` (a copy of it).

        Recovery uses this to adopt a copy made by an interrupted move instead of leaving it
        behind. The default answers ``False`` (safe: a new copy is made under a new name).
        """
        return False

    def supports_copy(self) -> bool:
        """Return whether this backend implements :meth:`copy_file` (the save flow then copies before it deletes).

        Whether that copy stays inside the storage service is :attr:`capabilities` ``.server_side_copy``.
        """
        return type(self).copy_file is not AsyncUploadStorage.copy_file

    # ------------------------------------------------------------------ uploads in parts

    def plan_upload(self, size: int) -> PartPlan:
        """Return the part plan of an object of ``size`` bytes: ``MULTIPART_PART_SIZE`` within :attr:`part_limits`.

        Raise :class:`ValueError` when the size cannot be uploaded in parts here.
        """
        if not self.capabilities.multipart or self.part_limits is None:
            raise ValueError(f"{type(self).__name__} does not take uploads in parts.")
        return plan_parts(size, self.part_limits, int(app_settings.MULTIPART_PART_SIZE))

    def create_multipart_upload(self, request: UploadRequest) -> str:
        """Start an upload in parts to ``request.key`` and return the backend's id of it."""
        raise NotImplementedError(
            "subclasses of AsyncUploadStorage declaring multipart must provide a create_multipart_upload() method"
        )

    def sign_upload_parts(self, upload: MultipartUpload, numbers: list[int], expire: int) -> list[PartTarget]:
        """Return where each part of ``numbers`` is sent, valid for ``expire`` seconds.

        Each target is bound, where the service allows, to the part's length in the plan.
        """
        raise NotImplementedError(
            "subclasses of AsyncUploadStorage declaring multipart must provide a sign_upload_parts() method"
        )

    def list_uploaded_parts(self, upload: MultipartUpload) -> list[UploadedPart]:
        """Return the parts the storage holds for ``upload``, by part number (an empty list: none)."""
        raise NotImplementedError(
            "subclasses of AsyncUploadStorage declaring multipart must provide a list_uploaded_parts() method"
        )

    def complete_multipart_upload(self, upload: MultipartUpload, parts: list[UploadedPart]) -> None:
        """Assemble ``parts`` (every part of the plan, in order) into the object at ``upload.key``.

        Never overwrite an object at the key (raise :class:`FileExistsError`); leave no part behind.
        """
        raise NotImplementedError(
            "subclasses of AsyncUploadStorage declaring multipart must provide a complete_multipart_upload() method"
        )

    def abort_multipart_upload(self, upload: MultipartUpload) -> None:
        """Discard every part of ``upload``; nothing of it is left in storage. Aborting twice is harmless."""
        raise NotImplementedError(
            "subclasses of AsyncUploadStorage declaring multipart must provide an abort_multipart_upload() method"
        )

    def cors_rules(self, origins: list[str]) -> list[Any]:
        """Return the CORS rules a browser on ``origins`` needs (backends declaring ``capabilities.cors``)."""
        raise NotImplementedError("subclasses of AsyncUploadStorage declaring CORS must provide a cors_rules() method")

    def apply_cors(self, origins: list[str]) -> str:
        """Set :meth:`cors_rules` on the bucket or account and describe what was done (``capabilities.cors``)."""
        raise NotImplementedError("subclasses of AsyncUploadStorage declaring CORS must provide an apply_cors() method")

    def generate_temporary_path(self, filename: str, max_length: int | None = None) -> str:
        """Return a new unique temporary key for an upload of ``filename``.

        The key looks like ``async-temp-files/2021/03/03/fVy5cSVBQpOb-test.png``. The name after
        the ``-`` is cut to fit ``max_length`` but keeps its extension; when not even the prefix
        and the extension fit, :class:`~django.core.exceptions.SuspiciousFileOperation` is raised.
        Directory parts and unsafe characters of ``filename`` are dropped.
        """
        return temporary_key(
            filename,
            prefix=self.temporary_key_prefix,
            secret_length=self.temporary_key_secret_length,
            max_length=max_length,
        )

    def is_temporary_path(self, filename: str | None) -> bool:
        """Return whether ``filename`` is a temporary key that still has to be moved."""
        return is_temporary_key(filename, self.temporary_key_prefix)

    #: The views this backend serves, as ``(route, view class, URL name)``; the view class is named
    #: by dotted path, so the storage layer never imports the views and a project can swap one in a
    #: subclass. :meth:`get_url_patterns` binds each to the registry.
    url_views: tuple[tuple[str, str, str], ...] = (
        ("download-file/", "async_uploads.views.DownloadRedirectView", "download"),
        ("generate-upload-url/", "async_uploads.views.GenerateUploadUrlView", "generate-upload-url"),
        ("multipart/start/", "async_uploads.views.multipart.StartMultipartUploadView", "multipart-start"),
        ("multipart/sign/", "async_uploads.views.multipart.SignUploadPartsView", "multipart-sign"),
        ("multipart/parts/", "async_uploads.views.multipart.UploadedPartsView", "multipart-parts"),
        ("multipart/complete/", "async_uploads.views.multipart.CompleteMultipartUploadView", "multipart-complete"),
        ("multipart/abort/", "async_uploads.views.multipart.AbortMultipartUploadView", "multipart-abort"),
    )

    def get_url_patterns(self, registry: AsyncFieldRegistry) -> list[URLPattern]:
        """Return the URL patterns this backend needs, for :meth:`AsyncFieldRegistry.get_url_patterns`.

        The base class gives ``download-file/`` (:class:`~async_uploads.views.DownloadRedirectView`),
        ``generate-upload-url/`` (:class:`~async_uploads.views.GenerateUploadUrlView`) and the
        multipart views under ``multipart/`` (:mod:`async_uploads.views.multipart`); a backend
        that serves more views lists them in :attr:`url_views`.
        """
        return [
            path(route, import_string(view).as_view(registry=registry), name=name)
            for route, view, name in self.url_views
        ]


def _is_attachment(disposition: str) -> bool:
    return disposition.strip().lower().startswith("attachment")
