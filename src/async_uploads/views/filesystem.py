"""The upload and download endpoints of :class:`~async_uploads.storage.filesystem.FileSystemAsyncUploadStorage`."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from typing import Any

from django.core import signing
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from async_uploads.codes import ErrorCode
from async_uploads.fields import AsyncFileMixin
from async_uploads.models import AsyncTempFile, UploadSession
from async_uploads.names import is_clean_key, safe_basename
from async_uploads.sizes import human_size
from async_uploads.storage.filesystem import DOWNLOAD_SALT, PART_SALT, UPLOAD_SALT, FileSystemAsyncUploadStorage
from async_uploads.views import RegistryView, json_error

__all__ = ["FileSystemAsyncStorageDownloadView", "FileSystemAsyncStoragePartView", "FileSystemAsyncStorageUploadView"]

logger = logging.getLogger("async_uploads")

#: Multipart framing allowed on top of ``max_size`` before a Content-Length is refused outright.
MULTIPART_OVERHEAD = 64 * 1024


def _read_token(request: HttpRequest, salt: str, purpose: str) -> dict[str, Any] | JsonResponse:
    token = request.GET.get("token")
    if not token:
        return json_error(ErrorCode.INVALID_INPUT, "The URL has no token.")
    try:
        payload = signing.Signer(salt=salt).unsign_object(token)
    except signing.BadSignature:
        return json_error(ErrorCode.INVALID_SIGNATURE, "The URL's signature is not valid.")
    if not isinstance(payload, dict) or payload.get("p") != purpose:
        return json_error(ErrorCode.INVALID_SIGNATURE, "The URL's signature is not valid.")
    key, expires = payload.get("k"), payload.get("e")
    if not isinstance(key, str) or not is_clean_key(key) or not isinstance(expires, int):
        return json_error(ErrorCode.INVALID_SIGNATURE, "The URL's signature is not valid.")
    if timezone.now().timestamp() > expires:
        return json_error(ErrorCode.URL_EXPIRED, "The URL has expired; ask for a new one.")
    return payload


#: After this many bytes written, a background thread starts writing them back to disk
#: (``fdatasync``) while the rest arrives, so the sync before the 201 has little left to do.
SYNC_EVERY = 32 * 1024 * 1024


class _BackgroundSync:
    """``fdatasync`` of one open file on a helper thread, asked for again and again while it is written.

    Writes go on meanwhile (the kernel allows both on one file); the final ``fsync`` in
    ``file_complete`` is still what the 201 waits for. :meth:`stop` must be called before the file
    is closed, so the thread never syncs a closed (or reused) descriptor.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="async-uploads-sync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                os.fdatasync(self.fd)
            except OSError:  # the final fsync reports what matters
                return

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()


class _StreamToDisk(FileUploadHandler):
    """Write the ``file`` part straight to a temporary file beside its destination, within limits."""

    def __init__(self, request: HttpRequest, field: AsyncFileMixin, temp_file: AsyncTempFile, directory: str):
        super().__init__(request)
        self.field = field
        self.temp_file = temp_file
        self.directory = directory
        self.limit = field.max_size_bytes
        self.received = 0
        self._out: Any = None  # not named 'file': MultiPartParser closes handler.file
        self.path: str | None = None
        self.error: tuple[ErrorCode, str] | None = None
        self.done = False
        self._sync: _BackgroundSync | None = None
        self._unsynced = 0

    def new_file(self, field_name: str, file_name: str, content_type: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, content_type, *args, **kwargs)
        if field_name != "file" or self._out is not None or self.done:
            raise SkipFile()
        original = self.temp_file.original_filename
        if not (
            self.field.is_valid_filetype(original, content_type or None)
            and self.field.is_valid_filetype(file_name or original)
        ):
            # 415, not the code's 400: the body itself is of a media type this URL refuses.
            self.error = (
                ErrorCode.INVALID_FILE_TYPE,
                f"{file_name or original!r} ({content_type}) is not an accepted file type.",
            )
            raise StopUpload(connection_reset=False)
        os.makedirs(self.directory, exist_ok=True)
        fd, self.path = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=self.directory)
        self._out = os.fdopen(fd, "wb")

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self._out is None:
            return None
        self.received += len(raw_data)
        if self.limit is not None and self.received > self.limit:
            self.error = (
                ErrorCode.FILE_TOO_LARGE,
                f"The file is larger than this field's limit of {human_size(self.limit)}.",
            )
            self.discard()
            raise StopUpload(connection_reset=False)
        self._out.write(raw_data)
        self._unsynced += len(raw_data)
        if self._unsynced >= SYNC_EVERY:
            self._unsynced = 0
            self._out.flush()
            if self._sync is None:
                self._sync = _BackgroundSync(self._out.fileno())
            self._sync.request()
        return None

    def _stop_sync(self) -> None:
        if self._sync is not None:
            self._sync.stop()
            self._sync = None

    def file_complete(self, file_size: int) -> Any:
        if self._out is None:
            return None
        self._out.flush()
        self._stop_sync()
        os.fsync(self._out.fileno())
        self._out.close()
        self._out = None
        self.done = True
        return _Received(self.received)

    def discard(self) -> None:
        self._stop_sync()
        if self._out is not None:
            self._out.close()
            self._out = None
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)
        self.path = None


class _Received:
    """What the handler hands to ``request.FILES``: only the size; the bytes are already on disk."""

    def __init__(self, size: int):
        self.size = size

    def close(self) -> None:
        pass


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class FileSystemAsyncStorageUploadView(RegistryView):
    """Receive a browser's upload for :class:`FileSystemAsyncUploadStorage`.

    The signed URL (from ``generate_upload_url``) is the authority: it names the key and field,
    works once, and expires after ``UPLOAD_URL_EXPIRY`` seconds; permissions were checked when it
    was issued. CSRF does not apply for that reason: nobody can forge the URL. The ``file`` part
    of a multipart ``POST`` is streamed to disk in chunks (memory stays flat whatever the size),
    refused past the field's ``max_size`` (413) or when its name or type breaks
    ``file_restrictions`` (415), and moved into place only when complete. Answers 201
    ``{"key", "size"}``; errors are JSON ``{"code", "message"}``.
    """

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest) -> HttpResponse:
        payload = _read_token(request, UPLOAD_SALT, "u")
        if isinstance(payload, JsonResponse):
            return payload
        key = payload["k"]
        field = self.registry.get_field(payload.get("f", ""))
        if field is None or not isinstance(field.storage, FileSystemAsyncUploadStorage):
            return json_error(ErrorCode.INVALID_INPUT, "The URL names no field of this registry.")
        storage: FileSystemAsyncUploadStorage = field.storage
        temp_file = AsyncTempFile.get_by_key(key)
        if temp_file is None or not temp_file.is_for_field(field):
            return json_error(ErrorCode.NOT_FOUND, "This upload key no longer exists; ask for a new upload URL.")
        if not (request.content_type or "").startswith("multipart/form-data"):
            return json_error(ErrorCode.INVALID_INPUT, "Send the file as multipart/form-data in a part named 'file'.")
        limit = field.max_size_bytes
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(ErrorCode.INVALID_INPUT, "Invalid Content-Length.")
        if length <= 0:
            # Under WSGI a body without Content-Length (chunked) reads as empty; say so instead of "no file".
            return json_error(ErrorCode.LENGTH_REQUIRED, "Send the upload with a Content-Length header.")
        if limit is not None and length > limit + MULTIPART_OVERHEAD:
            return json_error(
                ErrorCode.FILE_TOO_LARGE, f"The file is larger than this field's limit of {human_size(limit)}."
            )

        # Single use: only the first request to claim the key may write it.
        if not AsyncTempFile.objects.filter(pk=temp_file.pk, uploaded_at__isnull=True).update(
            uploaded_at=timezone.now()
        ):
            return json_error(ErrorCode.UPLOAD_URL_USED, "This upload URL has already been used; ask for a new one.")

        destination = storage.path(key)
        handler = _StreamToDisk(request, field, temp_file, os.path.dirname(destination))
        request.upload_handlers = [handler]
        try:
            try:
                received = request.FILES.get("file")
            except MultiPartParserError as e:
                handler.discard()
                return self._fail(temp_file, ErrorCode.INVALID_INPUT, f"Malformed multipart body: {e}")
            if handler.error:
                handler.discard()
                return self._fail(temp_file, *handler.error)
            if received is None or handler.path is None:
                handler.discard()
                return self._fail(temp_file, ErrorCode.INVALID_INPUT, "No file was sent in a part named 'file'.")
            if temp_file.declared_size is not None and handler.received != temp_file.declared_size:
                handler.discard()
                return self._fail(
                    temp_file,
                    ErrorCode.INVALID_INPUT,
                    f"{handler.received} bytes arrived but {temp_file.declared_size} were declared.",
                )
            if storage.file_permissions_mode is not None:
                os.chmod(handler.path, storage.file_permissions_mode)
            os.replace(handler.path, destination)
            handler.path = None
        except BaseException:
            handler.discard()
            AsyncTempFile.objects.filter(pk=temp_file.pk).update(uploaded_at=None)
            raise
        return JsonResponse({"key": key, "size": handler.received}, status=201)

    def _fail(self, temp_file: AsyncTempFile, code: ErrorCode, message: str) -> JsonResponse:
        # Nothing was stored, so the URL may be used again for a corrected upload.
        AsyncTempFile.objects.filter(pk=temp_file.pk).update(uploaded_at=None)
        status = 415 if code is ErrorCode.INVALID_FILE_TYPE else None
        return json_error(code, message, status=status)


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class FileSystemAsyncStoragePartView(RegistryView):
    """Receive one part of an upload in parts for :class:`FileSystemAsyncUploadStorage`.

    The signed URL (from ``signUploadParts``) names the key, field, upload id, part number and the
    part's exact length; permissions were checked when it was signed. The part is the raw request
    body of a ``PUT`` (no form encoding), streamed to a part file in chunks, so memory stays flat.
    Sending a part again replaces it. Answers 200 ``{"partNumber", "size"}`` with an ``ETag``;
    errors are JSON ``{"code", "message"}`` (400 wrong length, 404 the session is no longer open).
    """

    http_method_names = ["put", "options"]

    def put(self, request: HttpRequest) -> HttpResponse:
        payload = _read_token(request, PART_SALT, "p")
        if isinstance(payload, JsonResponse):
            return payload
        number, length, upload_id = payload.get("n"), payload.get("s"), payload.get("u")
        if not isinstance(number, int) or not isinstance(length, int) or not isinstance(upload_id, str):
            return json_error(ErrorCode.INVALID_SIGNATURE, "The URL's signature is not valid.")
        field = self.registry.get_field(payload.get("f", ""))
        if field is None or not isinstance(field.storage, FileSystemAsyncUploadStorage):
            return json_error(ErrorCode.INVALID_INPUT, "The URL names no field of this registry.")
        session = UploadSession.get_by_key(payload["k"])
        if (
            session is None
            or session.upload_id != upload_id
            or session.state != UploadSession.State.OPEN
            or not session.is_for_field(field)
        ):
            return json_error(ErrorCode.NOT_FOUND, "This upload is no longer open; start a new one.")
        try:
            sent = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(ErrorCode.INVALID_INPUT, "Invalid Content-Length.")
        if sent <= 0 and length > 0:
            return json_error(ErrorCode.LENGTH_REQUIRED, "Send the part with a Content-Length header.")
        if sent != length:
            return json_error(ErrorCode.INVALID_INPUT, f"Part {number} is {length} bytes; {sent} were sent.")
        try:
            received = field.storage.receive_part(upload_id, number, request, length)  # type: ignore[arg-type]
        except FileNotFoundError:
            return json_error(ErrorCode.NOT_FOUND, "This upload is no longer open; start a new one.")
        except ValueError as e:
            return json_error(ErrorCode.INVALID_INPUT, str(e))
        response = JsonResponse({"partNumber": number, "size": received})
        response["ETag"] = f'"{number}-{received}"'
        return response


def _moved_from(storage: FileSystemAsyncUploadStorage, key: str) -> str | None:
    """Return where the upload at temporary ``key`` was moved, or ``None``.

    A URL signed while the record still held its temporary key (a background move pending) would
    otherwise stop working the moment the move deletes that key. The move copied those same bytes
    to the permanent name before it deleted anything, so the URL serves them from there.
    """
    if not storage.is_temporary_path(key):
        return None
    moved = (
        AsyncTempFile.objects.filter(key=key, error__isnull=True)
        .exclude(moved_to_location="")
        .values_list("moved_to_location", flat=True)
        .first()
    )
    return moved or None


class FileSystemAsyncStorageDownloadView(RegistryView):
    """Serve a file of :class:`FileSystemAsyncUploadStorage` from a signed, expiring URL.

    Permissions were checked when the URL was signed (by ``DownloadRedirectView``). Upload URLs
    are signed with another salt and purpose, so one cannot stand in for the other. Every response
    carries ``X-Content-Type-Options: nosniff`` and a sandboxing CSP; active content (HTML, SVG, …)
    is an attachment unless ``ASYNC_UPLOADS["INLINE_ACTIVE_CONTENT_TYPES"]`` names its type.
    """

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest) -> HttpResponseBase:
        payload = _read_token(request, DOWNLOAD_SALT, "d")
        if isinstance(payload, JsonResponse):
            return payload
        field = self.registry.get_field(payload.get("f", ""))
        if field is None or not isinstance(field.storage, FileSystemAsyncUploadStorage):
            return json_error(ErrorCode.INVALID_INPUT, "The URL names no field of this registry.")
        key = payload["k"]
        try:
            handle = field.storage.open(key, "rb")
        except (FileNotFoundError, IsADirectoryError):
            moved = _moved_from(field.storage, key)
            try:
                if moved is None:
                    raise FileNotFoundError(key)
                handle = field.storage.open(moved, "rb")
            except (FileNotFoundError, IsADirectoryError):
                return json_error(ErrorCode.NOT_FOUND, "The file no longer exists.")
            key = moved
        filename = payload.get("n") or safe_basename(key)
        inline = bool(payload.get("i"))
        if inline and field.storage.must_download_as_attachment(key, filename=payload.get("n")):
            inline = False  # checked again here: the object or the setting may have changed since signing
        response = FileResponse(handle, as_attachment=not inline, filename=filename)
        response["Cache-Control"] = "private, max-age=60"
        response["X-Content-Type-Options"] = "nosniff"
        # Users' files are served from the site's own origin: never let one run as a page (HTML, SVG).
        response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'"
        return response
