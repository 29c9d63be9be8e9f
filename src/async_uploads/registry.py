"""Registries map the ids clients send to the async file fields they name."""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language

if TYPE_CHECKING:
    from django.urls import URLPattern

    from async_uploads.fields import AsyncFileMixin
    from async_uploads.storage.base import AsyncUploadStorage

__all__ = ["AsyncFieldRegistry", "cached_reverse", "default_async_field_registry"]

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class AsyncFieldRegistry:
    """Look up async file fields by the id a client sends.

    Every :class:`~async_uploads.models.AsyncFileField` registers itself with the registry it
    names (:data:`default_async_field_registry` unless told otherwise). Each registry gets its
    own URLs (:meth:`get_url_patterns`) under its own URL namespace.
    """

    def __init__(self, name: str):
        if not _NAME_RE.match(name):
            raise ImproperlyConfigured(
                f"AsyncFieldRegistry name {name!r} must start with a letter and hold only letters, "
                "digits and underscores (it becomes a URL namespace)."
            )
        self.name = name
        self.fields_by_id: dict[str, AsyncFileMixin] = {}

    def __repr__(self) -> str:
        return f"AsyncFieldRegistry(name={self.name!r})"

    __str__ = __repr__

    @property
    def url_namespace(self) -> str:
        """The URL namespace of this registry's views: ``async_uploads`` for the default one."""
        return "async_uploads" if self.name == "default" else f"async_uploads_{self.name}"

    def generate_id(self, field: AsyncFileMixin) -> str:
        """Return the id of ``field``: ``app_label.ModelName.field_name``."""
        return f"{field.model._meta.label}.{field.name}"

    def register_field(self, field: AsyncFileMixin) -> None:
        """Register ``field``; a second field with the same id raises ``ImproperlyConfigured``."""
        if field.model.__module__ == "__fake__":
            # Historical models built by migrations are not real fields to upload to.
            return
        field_id = self.generate_id(field)
        existing = self.fields_by_id.get(field_id)
        if existing is not None and existing is not field and not _same_field(existing, field):
            raise ImproperlyConfigured(f"Two fields share the async field id {field_id!r}: {existing} and {field}.")
        self.fields_by_id[field_id] = field

    def get_field(self, field_id: str) -> AsyncFileMixin | None:
        """Return the field registered as ``field_id``, or ``None``."""
        return self.fields_by_id.get(field_id)

    def get_url_patterns(self) -> tuple[list[URLPattern], str]:
        """Return this registry's URL patterns for ``include()``.

        Usage::

            path("async-uploads/", include(default_async_field_registry.get_url_patterns()))

        The result is ``(patterns, namespace)``, so the URLs are named inside
        :attr:`url_namespace` (``async_uploads:generate-upload-url`` and so on).
        """
        patterns: list[URLPattern] = []
        seen: set[str] = set()
        storages: list[AsyncUploadStorage] = []
        for field in self.fields_by_id.values():
            if all(field.storage is not s for s in storages):
                storages.append(field.storage)
        for storage in storages:
            for pattern in storage.get_url_patterns(self):
                key = str(pattern.pattern)
                if key not in seen:
                    seen.add(key)
                    patterns.append(pattern)
        return patterns, self.url_namespace


def _same_field(a: AsyncFileMixin, b: AsyncFileMixin) -> bool:
    # The test runner and autoreloader can import one model twice; those are the same field.
    return a.model._meta.label == b.model._meta.label and a.name == b.name


#: The registry fields use unless given another.
default_async_field_registry = AsyncFieldRegistry("default")


#: ``reverse()`` results by resolver, script prefix, language and view name (see cached_reverse).
_reversed: dict[tuple[Any, str, str | None, str], str] = {}
_REVERSED_MAX = 512

#: While set, ``cached_reverse()`` answers from and fills this dict: the GraphQL layer sets it to
#: a memo of its request's state around the storage calls of that request, where the URLconf,
#: the script prefix and the language cannot change from one value to the next.
request_reversed: ContextVar[dict[str, str] | None] = ContextVar("async_uploads_request_reversed", default=None)


def cached_reverse(viewname: str) -> str:
    """Return ``reverse(viewname)`` (a URL name without arguments), remembering it.

    A download URL per value reverses the same two names over and over. The answer depends on
    nothing but the URLconf's resolver (a new object after ``clear_url_caches()`` or another
    ``ROOT_URLCONF``), the script prefix and the active language (``i18n_patterns``), so they
    are the key: the cache is as fresh as Django's own resolver caches. It is also emptied on
    ``setting_changed``. Inside one request, :data:`request_reversed` spares even the key.
    """
    memo = request_reversed.get()
    if memo is not None:
        url = memo.get(viewname)
        if url is None:
            url = memo[viewname] = _reverse(viewname)
        return url
    return _reverse(viewname)


def _reverse(viewname: str) -> str:
    key = (get_resolver(get_urlconf()), get_script_prefix(), get_language(), viewname)
    url = _reversed.get(key)
    if url is None:
        url = reverse(viewname)
        if len(_reversed) >= _REVERSED_MAX:
            _reversed.clear()
        _reversed[key] = url
    return url


def _forget_reversed(**kwargs: Any) -> None:
    _reversed.clear()


setting_changed.connect(_forget_reversed)
