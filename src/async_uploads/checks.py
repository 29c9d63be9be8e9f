"""System checks for settings and registries."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

from async_uploads.conf import DEFAULTS, app_settings

__all__ = ["check_registries", "check_settings"]


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    try:
        app_settings.reload()
        app_settings.user_settings  # noqa: B018 (validates the keys)
    except ImproperlyConfigured as e:
        return [checks.Error(str(e), id="async_uploads.E010")]
    for name in ("UPLOAD_URL_EXPIRY", "DOWNLOAD_URL_EXPIRY"):
        value = getattr(app_settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            errors.append(
                checks.Error(
                    f"ASYNC_UPLOADS[{name!r}] must be a positive number of seconds, got {value!r}.",
                    hint="Use e.g. 3600 (one hour).",
                    id="async_uploads.E011",
                )
            )
    for name in ("MAX_PENDING_UPLOADS", "MAX_PENDING_BYTES", "MAX_UPLOAD_URLS_PER_REQUEST"):
        value = getattr(app_settings, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            errors.append(
                checks.Error(
                    f"ASYNC_UPLOADS[{name!r}] must be a positive whole number or None (no limit), got {value!r}.",
                    hint=f"Leave it out for the default ({DEFAULTS[name]!r}), or set None to switch the limit off.",  # type: ignore[literal-required]
                    id="async_uploads.E014",
                )
            )
    for name in ("RESOLVE_PERM_NAME", "CHECK_PERMISSION"):
        try:
            value = getattr(app_settings, name)
        except ImproperlyConfigured as e:
            errors.append(checks.Error(str(e), id="async_uploads.E012"))
            continue
        if not callable(value):
            errors.append(checks.Error(f"ASYNC_UPLOADS[{name!r}] must be callable.", id="async_uploads.E012"))
    errors.extend(_check_background_settings())
    for name, unit in (
        ("MULTIPART_PART_SIZE", "bytes"),
        ("MULTIPART_THRESHOLD", "bytes"),
        ("MULTIPART_SESSION_EXPIRY", "seconds"),
        ("MULTIPART_CONCURRENCY", "parts"),
    ):
        value = getattr(app_settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            errors.append(
                checks.Error(
                    f"ASYNC_UPLOADS[{name!r}] must be a positive whole number of {unit}, got {value!r}.",
                    hint=f"Leave it out for the default ({DEFAULTS[name]!r}).",  # type: ignore[literal-required]
                    id="async_uploads.E020",
                )
            )
    inline = app_settings.INLINE_ACTIVE_CONTENT_TYPES
    if not isinstance(inline, list | tuple) or not all(isinstance(t, str) and "/" in t for t in inline):
        errors.append(
            checks.Error(
                f"ASYNC_UPLOADS['INLINE_ACTIVE_CONTENT_TYPES'] must be a list of MIME types, got {inline!r}.",
                hint='Use e.g. ["image/svg+xml"], or leave it out (default []).',
                id="async_uploads.E013",
            )
        )
    return errors


def _check_background_settings() -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    move = app_settings.MOVE_IN_BACKGROUND
    if not isinstance(move, bool):
        errors.append(
            checks.Error(
                f"ASYNC_UPLOADS['MOVE_IN_BACKGROUND'] must be True or False, got {move!r}.",
                hint="Use True to move uploads in a background task, and BACKGROUND_MOVE_MIN_SIZE to do so only "
                "for large ones.",
                id="async_uploads.E015",
            )
        )
    for name, allow_none in (("BACKGROUND_MOVE_MIN_SIZE", False), ("BACKGROUND_VERIFY_MIN_SIZE", True)):
        value = getattr(app_settings, name)
        if (value is None and allow_none) or (not isinstance(value, bool) and isinstance(value, int) and value >= 0):
            continue
        errors.append(
            checks.Error(
                f"ASYNC_UPLOADS[{name!r}] must be a whole number of bytes (0 or more)"
                f"{' or None' if allow_none else ''}, got {value!r}.",
                hint=f"Leave it out for the default ({DEFAULTS[name]!r}).",  # type: ignore[literal-required]
                id="async_uploads.E016",
            )
        )
    lease = app_settings.BACKGROUND_MOVE_LEASE
    if isinstance(lease, bool) or not isinstance(lease, int) or lease < 3:
        errors.append(
            checks.Error(
                f"ASYNC_UPLOADS['BACKGROUND_MOVE_LEASE'] must be a whole number of seconds, at least 3, got {lease!r}.",
                hint="Use e.g. 60: a move task renews its lease every 20 seconds.",
                id="async_uploads.E017",
            )
        )
    for name in ("BACKGROUND_MOVE_BACKEND", "BACKGROUND_MOVE_QUEUE"):
        value = getattr(app_settings, name)
        if not isinstance(value, str) or not value:
            errors.append(
                checks.Error(
                    f"ASYNC_UPLOADS[{name!r}] must be a non-empty string, got {value!r}.",
                    hint='Leave it out for the default ("default").',
                    id="async_uploads.E018",
                )
            )
    if errors or (move is not True and app_settings.BACKGROUND_VERIFY_MIN_SIZE is None):
        return errors
    from async_uploads.tasks import check_task_backend

    return check_task_backend()


@checks.register(checks.Tags.urls)
def check_registries(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from async_uploads.fields import AsyncFileMixin
    from async_uploads.registry import AsyncFieldRegistry

    registries: dict[int, AsyncFieldRegistry] = {}
    anonymous: list[AsyncFileMixin] = []
    from django.apps import apps

    messages: list[checks.CheckMessage] = []
    try:
        max_bytes = app_settings.MAX_PENDING_BYTES
    except ImproperlyConfigured:  # reported by check_settings
        max_bytes = None
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, AsyncFileMixin):
                registries[id(field.async_field_registry)] = field.async_field_registry
                if field._perm_create is None or field._perm_update is None:
                    anonymous.append(field)
                limit = field.max_size_bytes if isinstance(field.max_size, int | float) else None
                if isinstance(max_bytes, int) and limit is not None and limit > max_bytes:
                    messages.append(
                        checks.Warning(
                            f"max_size allows {limit} bytes, more than ASYNC_UPLOADS['MAX_PENDING_BYTES'] "
                            f"({max_bytes}): a file of that size is refused with quota_exceeded.",
                            hint="Raise MAX_PENDING_BYTES to at least the largest max_size, or lower max_size.",
                            obj=field,
                            id="async_uploads.W022",
                        )
                    )
    for registry in registries.values():
        try:
            reverse(f"{registry.url_namespace}:generate-upload-url")
        except NoReverseMatch:
            messages.append(
                checks.Warning(
                    f"{registry} has fields but its URLs are not in the URLconf.",
                    hint='Add path("async-uploads/", include(registry.get_url_patterns())) to your urls.py.',
                    obj=registry,
                    id="async_uploads.W020",
                )
            )
    if anonymous and "django.contrib.sessions.middleware.SessionMiddleware" not in settings.MIDDLEWARE:
        messages.append(
            checks.Warning(
                "Some async fields let anonymous users upload, but SessionMiddleware is not installed.",
                hint="Anonymous uploads are tied to the uploader's session; add "
                "django.contrib.sessions.middleware.SessionMiddleware to MIDDLEWARE.",
                obj=anonymous[0],
                id="async_uploads.W021",
            )
        )
    return messages
