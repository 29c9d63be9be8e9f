"""One exception root for the package; each member also inherits the matching Django type."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError

from async_uploads.codes import ErrorCode

__all__ = [
    "AsyncUploadError",
    "AsyncUploadsImproperlyInstalled",
    "UploadPermissionDenied",
    "UploadRejected",
    "UploadReplaced",
]


class AsyncUploadError(Exception):
    """Base class of every error this package raises on purpose."""

    #: A stable code clients can branch on.
    code: str | None = "async_upload_error"


class UploadPermissionDenied(AsyncUploadError, PermissionDenied):
    code = ErrorCode.PERMISSION_DENIED


class UploadRejected(AsyncUploadError, ValidationError):
    """An upload (or a request for an upload URL) breaks a rule of the field.

    Its ``code`` (on each message) is one of ``invalid_file_type``, ``file_too_large``,
    ``invalid_input``, ``invalid_key``, ``invalid_image``, ``not_found``, ``quota_exceeded``
    (the uploader holds too many unsaved uploads: ``MAX_PENDING_UPLOADS`` / ``MAX_PENDING_BYTES``).
    """

    def __init__(self, message: Any, code: str | None = ErrorCode.INVALID_INPUT, params: dict | None = None):
        if isinstance(message, dict):
            # Django drops ``code`` for a dict of messages: give it to each plain message instead.
            message = {
                field: [m if isinstance(m, ValidationError) else ValidationError(m, code=code) for m in _as_list(msgs)]
                for field, msgs in message.items()
            }
        super().__init__(message, code=code, params=params)


class UploadReplaced(AsyncUploadError, OSError):
    """The object at a temporary key is no longer the one that was verified: it is not moved.

    Raised by a storage's ``copy_file`` / ``move_file`` given a ``version`` the source no longer has.
    """

    code = ErrorCode.UPLOAD_REPLACED


def _as_list(messages: Any) -> list[Any]:
    return list(messages) if isinstance(messages, list | tuple) else [messages]


class AsyncUploadsImproperlyInstalled(AsyncUploadError, ImproperlyConfigured, ImportError):
    """An optional dependency is missing; the message names the pip extra that brings it."""

    code = "improperly_installed"

    def __init__(self, missing_package: str, extra: str):
        self.missing_package = missing_package
        self.extra = extra
        super().__init__(
            f"{missing_package} is not installed, and this part of django-async-uploads needs it. "
            f'Install it with: pip install "django-async-uploads[{extra}]"'
        )
