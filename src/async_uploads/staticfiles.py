"""A ``ManifestStaticFilesStorage`` that leaves some files' names alone."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import unquote, urlsplit

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.core.exceptions import ImproperlyConfigured

__all__ = ["ExcludingManifestStaticFilesStorage"]


class ExcludingManifestStaticFilesStorage(ManifestStaticFilesStorage):
    """Hash and post-process static files as ``ManifestStaticFilesStorage`` does, except the excluded ones.

    Files whose path (relative to ``STATIC_ROOT``) matches one of ``exclude_patterns``
    (:func:`fnmatch.fnmatchcase` patterns, where ``*`` also matches ``/``) keep their names: they
    are not hashed and not post-processed, and references to them from other CSS / JS files stay
    unhashed. Use it for files a bundler already named with a hash, or that browsers never cache::

        STORAGES = {
            "staticfiles": {
                "BACKEND": "async_uploads.staticfiles.ExcludingManifestStaticFilesStorage",
                "OPTIONS": {"exclude_patterns": ["frontend/build/*", "*.pdf"]},
            }
        }

    The excluded files are listed in the manifest under their own names, so ``manifest_strict``
    (the default) still finds them in every process that loads it.
    """

    def __init__(self, *args: Any, exclude_patterns: Sequence[str] | None = None, **kwargs: Any) -> None:
        if exclude_patterns is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} needs the 'exclude_patterns' option: set "
                'STORAGES["staticfiles"]["OPTIONS"]["exclude_patterns"] to a list of fnmatch patterns '
                '(e.g. ["frontend/build/*", "*.pdf"]), or to [] to exclude nothing.'
            )
        if isinstance(exclude_patterns, str | bytes) or not all(isinstance(p, str) for p in exclude_patterns):
            raise ImproperlyConfigured(
                f"{type(self).__name__}'s 'exclude_patterns' must be a list of fnmatch patterns (strings), "
                f"got {exclude_patterns!r}."
            )
        self.exclude_patterns = list(exclude_patterns)
        self._excluded_names: list[str] = []
        super().__init__(*args, **kwargs)

    def is_excluded(self, name: str) -> bool:
        """Return whether ``name`` (a path relative to the static root, maybe with a query) is excluded."""
        path = self.clean_name(urlsplit(unquote(name)).path.strip())
        return any(fnmatchcase(path, pattern) for pattern in self.exclude_patterns)

    def hashed_name(self, name: str, content: Any = None, filename: str | None = None) -> str:
        """Return ``name`` unchanged for an excluded file (also when another file refers to it)."""
        if self.is_excluded(name):
            return name
        return super().hashed_name(name, content, filename)

    def post_process(self, paths: dict[str, Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Post-process the files that are not excluded; list the excluded ones in the manifest as they are."""
        self._excluded_names = [name for name in paths if self.is_excluded(name)]
        excluded = set(self._excluded_names)
        kept = {name: value for name, value in paths.items() if name not in excluded}
        yield from super().post_process(kept, *args, **kwargs)

    def save_manifest(self) -> None:
        # ManifestFilesMixin.post_process saves the manifest at its end; the identity entries must be
        # in it (not only in this instance's memory), or a fresh process in strict mode fails on them.
        for name in self._excluded_names:
            cleaned = self.clean_name(name)
            self.hashed_files[self.hash_key(cleaned)] = cleaned
        super().save_manifest()
