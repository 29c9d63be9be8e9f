"""A faster end to transactional tests: the content types and permissions come back from a copy.

A ``django_db(transaction=True)`` test ends with ``flush``, which empties every table and then emits
``post_migrate``. Its two receivers here (``create_contenttypes`` and ``create_permissions``) query
every app's models and insert each content type and permission again: about 45 ms a test on SQLite
and more on PostgreSQL, for rows that come out the same after every flush.

This plugin copies those rows once per test database, right after migrate wrote them, and puts the
copy back where the flush would emit ``post_migrate``: two INSERTs. The rows keep their primary
keys, which is what a test sees at the start of the session. A flush that inhibits the signal (a
test with ``available_apps`` or a serialized rollback) is left as Django runs it, and a database
with no copy gets the signal.

On PostgreSQL the flush also deletes the rows instead of truncating the tables. ``TRUNCATE`` gives
each table and index a new file: about 60 ms a test for this project's few rows, which ``DELETE``
removes in a fraction of that. Django's foreign keys there are deferred to the commit, so the order
of the tables does not matter. (Django's flush on MySQL and MariaDB already deletes when it keeps
the sequences.)
"""

from __future__ import annotations

from typing import Any

import pytest

_copies: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}


def _copy(alias: str) -> None:
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    _copies[alias] = (
        list(ContentType.objects.using(alias).values("id", "app_label", "model")),
        list(Permission.objects.using(alias).values("id", "name", "content_type_id", "codename")),
    )


def _restore_or_emit(verbosity: int, interactive: bool, db: str, **kwargs: Any) -> None:
    if db not in _copies:
        _emit_post_migrate_signal(verbosity, interactive, db, **kwargs)
        return
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    content_types, permissions = _copies[db]
    ContentType.objects.using(db).bulk_create(ContentType(**row) for row in content_types)
    Permission.objects.using(db).bulk_create(Permission(**row) for row in permissions)
    ContentType.objects.clear_cache()  # as create_contenttypes does


def _sql_flush_deleting_on_postgresql(
    style: Any, connection: Any, reset_sequences: bool = True, allow_cascade: bool = False
) -> list[str]:
    if connection.vendor != "postgresql" or reset_sequences or allow_cascade:
        return _sql_flush(style, connection, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    return [f"DELETE FROM {connection.ops.quote_name(table)};" for table in tables]


_emit_post_migrate_signal: Any = None
_sql_flush: Any = None


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases, then the copy of each one's content types and permissions."""
    global _emit_post_migrate_signal, _sql_flush
    from django.core.management.commands import flush
    from django.db import connections

    with django_db_blocker.unblock():
        for alias in connections:
            _copy(alias)
    _emit_post_migrate_signal, _sql_flush = flush.emit_post_migrate_signal, flush.sql_flush
    flush.emit_post_migrate_signal, flush.sql_flush = _restore_or_emit, _sql_flush_deleting_on_postgresql
    yield
    flush.emit_post_migrate_signal, flush.sql_flush = _emit_post_migrate_signal, _sql_flush
    _copies.clear()
