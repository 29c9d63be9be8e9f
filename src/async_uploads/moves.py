"""Moving uploads from their temporary keys to their permanent names, safely.

The order of steps is what keeps data safe:

1. ``post_save``, inside the saving transaction: claim each temporary key for the record and
   record its permanent name (``AsyncTempFile.object_pk`` / ``moved_to_location``). A key taken
   by another record fails the save (and, inside ``atomic()``, marks the transaction for
   rollback). A rollback undoes the claim: the upload is untouched and can be submitted again.
2. After commit: copy the object to its permanent name (only the version verified when the key
   was accepted, ``AsyncTempFile.verified_version``: another object at the key is refused, the
   record given back its previous file and the object deleted), point the record at the copy with a
   conditional ``UPDATE`` (only where it still holds the temporary key), then delete the
   temporary object. At every step the record points at an object that exists.

In autocommit mode each step commits on its own, in the same order. Every step is idempotent: a
second run (a double submit of the same record, two saves in one transaction, a retry, recovery
after a crash) finds the copy already made (the same object at the recorded name) or the object
already moved, and only finishes what is left.

A failure stores the traceback on the ``AsyncTempFile`` and leaves the record on its temporary
key (whose object still exists); ``retry_async_file_moves`` finishes it. A crash between steps
leaves a claimed row (or a record holding an unclaimed key) and at most a copy identical to the
temporary object; ``cleanup_async_temp_files`` finishes such moves and adopts that copy.
"""

from __future__ import annotations

import logging
import posixpath
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, models, transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import class_prepared, post_save
from django.utils import timezone

from async_uploads.acceptance import PENDING_MOVES_ATTR, PREVIOUS_VALUES_ATTR, name_held_by_another
from async_uploads.codes import ErrorCode
from async_uploads.exceptions import UploadRejected, UploadReplaced
from async_uploads.fields import AsyncFileMixin, async_fields_of
from async_uploads.models import AsyncTempFile
from async_uploads.names import fit_name, safe_basename

if TYPE_CHECKING:
    from async_uploads.storage.base import AsyncUploadStorage

__all__ = [
    "Move",
    "claim_temporary_files",
    "connect_models",
    "held_by_another",
    "permanent_name",
    "place",
    "point_record_at_moves",
    "refuse_replaced",
    "same_object",
    "set_background_dispatcher",
    "tidy",
]

logger = logging.getLogger("async_uploads")

#: Takes the moves of one save that run in a background task (and enqueues them), returns the
#: rest to move here. Installed by :mod:`async_uploads.tasks` when the app is ready; the save flow
#: sits below the task, which reuses recovery's steps, so the task hands itself in.
_background_dispatcher: Callable[[list[Move], str], list[Move]] | None = None


def set_background_dispatcher(dispatcher: Callable[[list[Move], str], list[Move]] | None) -> None:
    """Install ``dispatcher`` as the step that hands moves to the background task (``None``: none)."""
    global _background_dispatcher
    _background_dispatcher = dispatcher


@dataclass
class Move:
    field: AsyncFileMixin
    temp_file: AsyncTempFile
    key: str
    target: str
    #: This run created the object at ``target`` (so it may delete it if nobody takes it).
    created: bool = False
    #: The object at ``key`` is still there and goes once the record points at ``target``.
    source_left: bool = False


def permanent_name(field: AsyncFileMixin, instance: models.Model, original_filename: str) -> str:
    """Return a free permanent name for ``original_filename`` (``upload_to`` applied, cut to ``max_length``)."""
    # The original name is the client's: keep only its last component, made safe.
    name = field.generate_filename(instance, fit_name(safe_basename(original_filename)))  # type: ignore[attr-defined]
    directory, base = posixpath.split(name)
    name = posixpath.join(directory, fit_name(base))
    return field.storage.get_available_name(name, max_length=field.max_length)


def _current_key(instance: models.Model, field: AsyncFileMixin) -> str | None:
    value = instance.__dict__.get(field.attname)
    return getattr(value, "name", value) or None


def claim_temporary_files(
    sender: type[models.Model],
    instance: models.Model,
    raw: bool = False,
    using: str = "default",
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """``post_save`` receiver: claim the record's temporary keys and move their objects after commit."""
    if raw:
        return
    pending: dict[str, AsyncTempFile] = instance.__dict__.get(PENDING_MOVES_ATTR) or {}
    pk = str(instance.pk)
    moves: list[Move] = []
    for field in async_fields_of(sender):
        if update_fields is not None and field.attname not in update_fields:
            continue
        key = _current_key(instance, field)
        if not key or not field.storage.is_temporary_path(key):
            pending.pop(field.name, None)
            continue
        temp_file = pending.pop(field.name, None)
        if temp_file is None or temp_file.key != key:
            temp_file = _lookup_assigned_key(field, key, using)
            if temp_file is None:
                continue
        field.before_process_file(instance)
        target = temp_file.moved_to_location if temp_file.object_pk == pk else ""
        moves.append(
            Move(field, temp_file, key, target or permanent_name(field, instance, temp_file.original_filename))
        )
    if not moves:
        return
    lost = _claim(moves, pk, using)
    deferred = [m.temp_file.pk for m in moves if m.temp_file.verification_pending and m not in lost]
    if deferred:
        # Uploads left for the background task to verify (rare: only large ones); in the saving
        # transaction, so a rollback takes the flag back with the claim.
        AsyncTempFile.objects.using(using).filter(pk__in=deferred).update(verification_pending=True)
    if lost:
        _reject_lost_claims(sender, instance, moves, lost, using, created=bool(kwargs.get("created")))
    # In autocommit mode this runs at once; in a transaction, when it commits (never on rollback).
    transaction.on_commit(lambda: _finish_moves(sender, instance, pk, moves, using), using=using, robust=True)


def _claim(moves: list[Move], pk: str, using: str) -> list[Move]:
    """Claim every key for record ``pk``; return the moves whose key is gone or taken by another record.

    One conditional UPDATE claims free keys. A key this record claimed before (a double submit,
    a second save) keeps the permanent name recorded then.
    """
    rows = AsyncTempFile.objects.using(using)
    ids = [m.temp_file.pk for m in moves]
    claimed = _claim_free(moves, pk, using) if any(m.temp_file.object_pk is None for m in moves) else 0
    if claimed == len(moves):
        for m in moves:
            m.temp_file.object_pk = pk
            m.temp_file.moved_to_location = m.target
        return []
    current = {
        row_id: (owner, target, version)
        for row_id, owner, target, version in rows.filter(pk__in=ids).values_list(
            "pk", "object_pk", "moved_to_location", "verified_version"
        )
    }
    lost = []
    for m in moves:
        owner, target, version = current.get(m.temp_file.pk, (None, "", None))
        if m.temp_file.pk not in current or owner != pk:
            lost.append(m)
            continue
        # The version the first claim stored is what this record's move may copy.
        m.temp_file.verified_version = version
        if target:
            m.target = target
        else:
            rows.filter(pk=m.temp_file.pk).update(moved_to_location=m.target)
        m.temp_file.object_pk, m.temp_file.moved_to_location = pk, m.target
    return lost


def _claim_free(moves: list[Move], pk: str, using: str) -> int:
    """Claim the moves' rows that no record holds yet for record ``pk``; return how many were claimed.

    One conditional UPDATE (``... WHERE id IN (...) AND object_pk IS NULL``) that also stores each
    row's permanent name and verified version. Written once per database and number of keys: the
    ORM built the same statement (CASE expressions per column) anew on every save.
    """
    connection = connections[using]
    opts = AsyncTempFile._meta
    claimed_at = opts.get_field("claimed_at").get_db_prep_value(timezone.now(), connection)  # type: ignore[union-attr]
    params: list[Any] = [pk, claimed_at]
    for m in moves:
        params += [m.temp_file.pk, m.target]
    for m in moves:
        params += [m.temp_file.pk, m.temp_file.verified_version]
    params += [m.temp_file.pk for m in moves]
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection, len(moves)), params)
        return cursor.rowcount


_CLAIM_SQL: dict[tuple[str, int], str] = {}


def _column(opts: Any, name: str) -> str:
    return str(opts.get_field(name).column)


def _claim_sql(connection: Any, n: int) -> str:
    cache_key = (connection.alias, n)
    sql = _CLAIM_SQL.get(cache_key)
    if sql is None:
        q = connection.ops.quote_name
        opts = AsyncTempFile._meta
        col = {name: q(_column(opts, name)) for name in ("object_pk", "claimed_at", "moved_to_location")}
        version, pk_col = q(_column(opts, "verified_version")), q(opts.pk.column)  # type: ignore[union-attr]
        each = " ".join(["WHEN %s THEN %s"] * n)
        sql = (
            f"UPDATE {q(opts.db_table)} SET {col['object_pk']} = %s, {col['claimed_at']} = %s, "  # noqa: S608 (quoted names; values are parameters)
            f"{col['moved_to_location']} = CASE {pk_col} {each} END, {version} = CASE {pk_col} {each} END "
            f"WHERE {pk_col} IN ({', '.join(['%s'] * n)}) AND {col['object_pk']} IS NULL"
        )
        _CLAIM_SQL[cache_key] = sql
    return sql


def _finish_moves(model: type[models.Model], instance: models.Model, pk: str, moves: list[Move], using: str) -> None:
    """After commit: put each object at its permanent name, point the record there, drop the originals.

    Moves that run in the background task are handed to it first; the record keeps their
    temporary keys until the task finishes them.
    """
    if _background_dispatcher is not None:
        moves = _background_dispatcher(moves, using)
    for m in moves:
        if m.temp_file.verification_pending:
            # Never moved unverified: recovery verifies it first (retry_async_file_moves).
            _record_failure(m, pk, using, "The upload waits for verification, but no background task took it.")
    moves = [m for m in moves if not m.temp_file.verification_pending]
    placed: list[Move] = []
    for m in moves:
        try:
            m.field.before_move_file(instance)
            place(m, using)
            placed.append(m)
        except UploadReplaced as e:
            previous = (instance.__dict__.get(PREVIOUS_VALUES_ATTR) or {}).get(m.field.name, "")
            restored = refuse_replaced(model, m, pk, using, previous, e)
            file = instance.__dict__.get(m.field.attname)
            if restored is not None and getattr(file, "name", file) == m.key:
                if isinstance(file, FieldFile):
                    file.name = restored or None
                else:
                    instance.__dict__[m.field.attname] = restored or None
        except Exception:
            _record_failure(m, pk, using, _log_failure(m, pk))
    if not placed:
        return
    try:
        holds = point_record_at_moves(model, pk, placed, using)
    except Exception:
        # The copies stay where the rows say (moved_to_location): a retry adopts them.
        for m in placed:
            _record_failure(m, pk, using, _log_failure(m, pk))
        return
    for m in placed:
        if holds.get(m.field.attname) == m.target:
            file = instance.__dict__.get(m.field.attname)
            if getattr(file, "name", file) == m.key:
                if isinstance(file, FieldFile):
                    file.name = m.target
                else:
                    instance.__dict__[m.field.attname] = m.target
    tidy(placed, holds)


def place(m: Move, using: str) -> None:
    """Put the object at ``m.key`` under ``m.target`` (or a free variant), idempotently."""
    storage: AsyncUploadStorage = m.field.storage
    planned = m.target
    for _ in range(5):
        try:
            # Bound to the verified version: an object put at the key after verification is refused.
            version = m.temp_file.verified_version
            if storage.supports_copy():
                storage.copy_bound(storage.copy_file, m.key, m.target, version)
                m.created, m.source_left = True, True
            else:
                if storage.exists(m.target):  # move_file of a custom backend may overwrite: never let it
                    raise FileExistsError(m.target)
                storage.copy_bound(storage.move_file, m.key, m.target, version)
                m.created, m.source_left = True, False
            break
        except (FileExistsError, FileNotFoundError) as e:
            if not storage.exists(m.key):
                if storage.exists(planned) and not held_by_another(m, planned, using):
                    m.target, m.created, m.source_left = planned, False, False  # moved by an earlier run
                    break
                raise FileNotFoundError(m.key) from e
            if isinstance(e, FileNotFoundError):
                raise
            if same_object(storage, m.key, m.target) and not held_by_another(m, m.target, using):
                m.created, m.source_left = False, True  # a copy an earlier run made
                break
            m.target = storage.get_available_name(m.target, max_length=m.field.max_length)
    else:
        raise FileExistsError(f"Could not find a free name to move {m.key!r} to.")
    if m.target != planned:
        AsyncTempFile.objects.using(using).filter(pk=m.temp_file.pk).update(moved_to_location=m.target)
        m.temp_file.moved_to_location = m.target


def same_object(storage: AsyncUploadStorage, a: str, b: str) -> bool:
    try:
        return storage.is_same_object(a, b)
    except OSError:
        return False


def held_by_another(m: Move, name: str, using: str) -> bool:
    return name_held_by_another(m.field, name, m.temp_file.object_pk, m.temp_file.pk, using)


def refuse_replaced(
    model: type[models.Model], m: Move, pk: str, using: str, previous: str, error: UploadReplaced
) -> str | None:
    """The object at the key is not the one verified: never point the record at it.

    Where the record still holds the key, give it back its previous file (when that still exists
    and nobody else holds it) or nothing; delete the replaced object; record why on the row.
    Returns what the record holds now (``None``: it no longer held the key, nothing was changed).
    """
    storage = m.field.storage
    restore = ""
    try:
        others = model._base_manager.using(using).filter(**{m.field.attname: previous}).exclude(pk=pk)
        if previous and storage.exists(previous) and not others.exists():
            restore = previous
    except Exception:
        logger.exception("Checking the previous file %r of %s(pk=%s) failed.", previous, model.__name__, pk)
    manager = model._base_manager.using(using)
    changed = manager.filter(pk=pk, **{m.field.attname: m.key}).update(**{m.field.attname: restore})
    try:
        if storage.exists(m.key):
            storage.delete(m.key)
    except Exception:
        logger.exception("Deleting the replaced upload %r failed; cleanup_async_temp_files will retry.", m.key)
    message = (
        f"{ErrorCode.UPLOAD_REPLACED}: {error} The object at the key is not the one verified when the form was "
        f"submitted, so it was not moved: the record was given back {restore!r} and the object deleted."
    )
    logger.error("%s(pk=%s), AsyncTempFile(pk=%s): %s", model.__name__, pk, m.temp_file.pk, message)
    _record_failure(m, pk, using, message)
    return restore if changed else None


def point_record_at_moves(model: type[models.Model], pk: str, moved: list[Move], using: str) -> dict[str, str | None]:
    """Point the record's columns at their permanent names where they still hold the temporary keys.

    Returns what each column holds afterwards (``None`` when the record is gone).
    """
    manager = model._base_manager.using(using)
    # Usually every column still holds its temporary key: one conditional UPDATE does them all.
    condition = {m.field.attname: m.key for m in moved}
    if manager.filter(pk=pk, **condition).update(**{m.field.attname: m.target for m in moved}):
        return {m.field.attname: m.target for m in moved}
    # Something changed meanwhile (another save, a duplicate submission that got there first).
    for m in moved:
        manager.filter(pk=pk, **{m.field.attname: m.key}).update(**{m.field.attname: m.target})
    return manager.filter(pk=pk).values(*[m.field.attname for m in moved]).first() or {}


def tidy(placed: list[Move], holds: dict[str, str | None]) -> None:
    """Delete what nobody needs any more: moved originals, and copies no record took."""
    for m in placed:
        if holds.get(m.field.attname) == m.target:
            doomed = m.key if m.source_left else None
        else:
            # The record was deleted or given another file meanwhile: a copy made now belongs to nobody.
            doomed = m.target if m.created else None
        if doomed:
            try:
                m.field.storage.delete(doomed)
            except Exception:
                logger.exception("Deleting %r from %s failed; cleanup_async_temp_files will retry.", doomed, m.field)


def _lookup_assigned_key(field: AsyncFileMixin, key: str, using: str) -> AsyncTempFile | None:
    # A key assigned as a plain string by server code (trusted, as in alliance-platform-storage): find its record.
    ct = ContentType.objects.db_manager(using).get_for_model(field.model, for_concrete_model=False)
    temp_file = AsyncTempFile.get_by_key(key, using)
    if temp_file is None or temp_file.content_type_id != ct.pk or temp_file.field_name != field.name:
        logger.error(
            "%s holds the temporary key %r but no AsyncTempFile matches it; the file cannot be moved "
            "to a permanent name.",
            field,
            key,
        )
        return None
    return temp_file


def _reject_lost_claims(
    sender: type[models.Model],
    instance: models.Model,
    moves: list[Move],
    lost: list[Move],
    using: str,
    *,
    created: bool = False,
) -> None:
    message = "This upload has just been saved to another record or removed; upload the file again."
    errors = {m.field.name: [ValidationError(message, code=ErrorCode.INVALID_KEY)] for m in lost}
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        # Nothing of this save may commit, even if the caller catches the error.
        transaction.set_rollback(True, using=using)
    elif created:
        # Autocommit, a new record: its row is already written. A refused save writes nothing, so
        # the row goes again and the keys this save did claim are free for a corrected submission.
        kept = [m for m in moves if m not in lost]
        if kept:
            AsyncTempFile.objects.using(using).filter(
                pk__in=[m.temp_file.pk for m in kept], object_pk=str(instance.pk)
            ).update(object_pk=None, claimed_at=None, moved_to_location="", verification_pending=False)
            for m in kept:
                m.temp_file.object_pk, m.temp_file.moved_to_location = None, ""
                m.temp_file.verification_pending = False
        sender._base_manager.using(using).filter(pk=instance.pk).delete()
        instance._state.adding = True
        for m in lost:
            instance.__dict__[m.field.attname] = None
    else:
        # Autocommit, an existing record: the row is already written. Give the lost fields back the
        # value they had before, so the record neither shares an object nor loses its old file.
        previous = instance.__dict__.get(PREVIOUS_VALUES_ATTR) or {}
        restore = {m.field.attname: previous.get(m.field.name, "") for m in lost}
        sender._base_manager.using(using).filter(pk=instance.pk).update(**restore)
        for m in lost:
            instance.__dict__[m.field.attname] = restore[m.field.attname] or None
        kept = [m for m in moves if m not in lost]
        if kept:
            transaction.on_commit(
                lambda: _finish_moves(sender, instance, str(instance.pk), kept, using), using=using, robust=True
            )
    raise UploadRejected(errors, code=ErrorCode.INVALID_KEY)


def _log_failure(m: Move, pk: str) -> str:
    logger.error(
        "Moving %r of %s(pk=%s) to its permanent name failed; the record keeps its temporary key. "
        "Run 'manage.py retry_async_file_moves' once the cause is fixed. See AsyncTempFile(pk=%s).",
        m.key,
        m.field.model.__name__,
        pk,
        m.temp_file.pk,
        exc_info=True,
    )
    return traceback.format_exc()


def _record_failure(m: Move, pk: str, using: str, error: str) -> None:
    try:
        AsyncTempFile.objects.using(using).filter(pk=m.temp_file.pk).update(error=error)
        m.temp_file.error = error
    except Exception:
        logger.exception("Recording the failed move of AsyncTempFile(pk=%s) failed too.", m.temp_file.pk)


def _connect_model(sender: type[models.Model], **kwargs: Any) -> None:
    # Per-model receivers: models without async fields never see a handler of ours.
    if sender._meta.abstract or sender.__module__ == "__fake__" or not async_fields_of(sender):
        return
    post_save.connect(
        claim_temporary_files, sender=sender, weak=False, dispatch_uid=f"async_uploads:{sender._meta.label}"
    )


def connect_models() -> None:
    """Run the save flow for every model with async file fields: those loaded now and any defined later.

    Called once by the app's ``ready()``.
    """
    for model in apps.get_models():
        _connect_model(model)
    class_prepared.connect(_connect_model, dispatch_uid="async_uploads:connect_model")
