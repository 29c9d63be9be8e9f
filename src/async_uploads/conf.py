"""The ``ASYNC_UPLOADS`` setting: one dict, read lazily, re-read when tests change it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

__all__ = ["DEFAULTS", "AsyncUploadsSettings", "app_settings"]


class AsyncUploadsSettings(TypedDict, total=False):
    #: Seconds an upload URL stays valid. Default 3600.
    UPLOAD_URL_EXPIRY: int
    #: Seconds a download URL stays valid when the field's ``download_params`` give no ``expire``.
    #: Default 3600.
    DOWNLOAD_URL_EXPIRY: int
    #: Callable (or dotted path to one) ``(model, action) -> str`` giving the permission name
    #: checked for ``action`` in ``"create"``, ``"update"``, ``"detail"``. Default: Django's
    #: ``app_label.add_model`` / ``change_model`` / ``view_model``.
    RESOLVE_PERM_NAME: Callable[[Any, str], str] | str
    #: Callable (or dotted path) ``(user, perm, obj) -> bool`` deciding a permission check.
    #: Default: the user holds ``perm`` globally or on ``obj``.
    CHECK_PERMISSION: Callable[[Any, str, Any], bool] | str
    #: MIME types of active content (HTML, SVG, XML, JavaScript, executables) that downloads may
    #: show inline when the field's ``download_params`` ask for it. A download of any other active
    #: type is always an attachment (and ``nosniff`` on the filesystem backend). Default ``[]``.
    INLINE_ACTIVE_CONTENT_TYPES: list[str]
    #: Most uploads one uploader (the user, or the session of an anonymous client) may hold
    #: issued but not yet saved to a record; ``None``: no limit. Default 100.
    MAX_PENDING_UPLOADS: int | None
    #: Most bytes those uploads may add up to, by declared size (an upload without one counts
    #: as its field's ``max_size``, or as this whole limit when the field has none); ``None``: no
    #: limit. Default 1 GiB.
    MAX_PENDING_BYTES: int | None
    #: Most upload URLs one HTTP request may ask for, across every ``generateUploadUrl`` and
    #: ``generateUploadUrls`` field (aliases included) of a GraphQL request; also the largest
    #: ``generateUploadUrls`` batch. ``None``: no limit. Default 50.
    MAX_UPLOAD_URLS_PER_REQUEST: int | None
    #: Where the move of a saved upload from its temporary key to its permanent name runs:
    #: ``False``, in the request that saves the record, once its transaction commits; ``True``, in a
    #: background task (Django's Tasks API), enqueued when the transaction commits. Until the task
    #: finishes, the record serves its file from the temporary key. Default ``False``.
    MOVE_IN_BACKGROUND: bool
    #: With ``MOVE_IN_BACKGROUND``, only uploads of at least this many bytes move in the task;
    #: smaller ones move in the request. An upload whose size is not known counts as large.
    #: Default 0 (every upload moves in the task).
    BACKGROUND_MOVE_MIN_SIZE: int
    #: Uploads declared (when the upload URL was issued) at this many bytes or more are verified by
    #: the background task, before it moves them, instead of when the key is submitted; until that
    #: passes, the record serves no file. ``None``: every upload is verified on submission. Such an
    #: upload moves in the task whatever ``MOVE_IN_BACKGROUND`` says. Default ``None``.
    BACKGROUND_VERIFY_MIN_SIZE: int | None
    #: Alias in ``TASKS`` of the backend the move task is enqueued on. Default ``"default"``.
    BACKGROUND_MOVE_BACKEND: str
    #: Queue of that backend the move task is enqueued on. Default ``"default"``.
    BACKGROUND_MOVE_QUEUE: str
    #: Seconds a running move task may go without a sign of life before another run of the task
    #: takes its move over (the worker died: killed, out of memory, host lost). A running task
    #: renews it every third of this time. Default 60.
    BACKGROUND_MOVE_LEASE: int
    #: Preferred size in bytes of each part of an upload in parts; raised or lowered to what the
    #: backend's service allows (S3: 5 MiB to 5 GiB and 10,000 parts). Default 16 MiB.
    MULTIPART_PART_SIZE: int
    #: Seconds a multipart session stays open after it started; an open session past it is
    #: aborted by ``cleanup_async_temp_files``. Default 86400 (a day).
    MULTIPART_SESSION_EXPIRY: int
    #: Size in bytes from which clients (the widget, the demo page) upload in parts. Default 100 MiB.
    MULTIPART_THRESHOLD: int
    #: How many parts of one upload the widget sends at the same time. Default 4.
    MULTIPART_CONCURRENCY: int


DEFAULTS: AsyncUploadsSettings = {
    "UPLOAD_URL_EXPIRY": 3600,
    "DOWNLOAD_URL_EXPIRY": 3600,
    "RESOLVE_PERM_NAME": "async_uploads.permissions.default_resolve_perm_name",
    "CHECK_PERMISSION": "async_uploads.permissions.default_check_permission",
    "INLINE_ACTIVE_CONTENT_TYPES": [],
    "MAX_PENDING_UPLOADS": 100,
    "MAX_PENDING_BYTES": 1024**3,
    "MAX_UPLOAD_URLS_PER_REQUEST": 50,
    "MOVE_IN_BACKGROUND": False,
    "BACKGROUND_MOVE_MIN_SIZE": 0,
    "BACKGROUND_VERIFY_MIN_SIZE": None,
    "BACKGROUND_MOVE_BACKEND": "default",
    "BACKGROUND_MOVE_QUEUE": "default",
    "BACKGROUND_MOVE_LEASE": 60,
    "MULTIPART_PART_SIZE": 16 * 1024**2,
    "MULTIPART_SESSION_EXPIRY": 86400,
    "MULTIPART_THRESHOLD": 100 * 1024**2,
    "MULTIPART_CONCURRENCY": 4,
}

_CALLABLE_KEYS = {"RESOLVE_PERM_NAME", "CHECK_PERMISSION"}


class _AppSettings:
    """Attribute access to ``settings.ASYNC_UPLOADS`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "ASYNC_UPLOADS", None) or {}
        if not isinstance(value, dict):
            raise ImproperlyConfigured(f"settings.ASYNC_UPLOADS must be a dict, got {type(value).__name__}.")
        unknown = sorted(set(value) - set(DEFAULTS))
        if unknown:
            raise ImproperlyConfigured(
                f"Invalid setting {unknown[0]!r} for ASYNC_UPLOADS; valid keys are {', '.join(sorted(DEFAULTS))}."
            )
        return value

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid ASYNC_UPLOADS setting: {name!r}")
        if name in self._cache:
            return self._cache[name]
        value = self.user_settings.get(name, DEFAULTS[name])  # type: ignore[literal-required]
        if name in _CALLABLE_KEYS and isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as e:
                raise ImproperlyConfigured(f"ASYNC_UPLOADS[{name!r}] names {value!r}, which cannot be imported.") from e
        self._cache[name] = value
        return value

    def reload(self) -> None:
        self._cache.clear()


app_settings = _AppSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "ASYNC_UPLOADS":
        app_settings.reload()


setting_changed.connect(_reload)
