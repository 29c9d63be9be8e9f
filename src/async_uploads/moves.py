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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Case, Value, When
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from async_uploads.exceptions import UploadRejected, UploadReplaced
from async_uploads.models import (
    PENDING_MOVES_ATTR,
    PREVIOUS_VALUES_ATTR,
    AsyncFileMixin,
    AsyncTempFile,
    async_fields_of,
)
from async_uploads.names import fit_name, safe_basename

if TYPE_CHECKING:
    from async_uploads.storage.base import AsyncUploadStorage

__all__ = [
    "claim_for_holder",
    "claim_temporary_files",
    "complete_move",
    "find_referencing_records",
    "name_held_by_another",
    "permanent_name",
]

logger = logging.getLogger("async_uploads")


@dataclass
class _Move:
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
    moves: list[_Move] = []
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
            _Move(field, temp_file, key, target or permanent_name(field, instance, temp_file.original_filename))
        )
    if not moves:
        return
    lost = _claim(moves, pk, using)
    if lost:
        _reject_lost_claims(sender, instance, moves, lost, using)
    # In autocommit mode this runs at once; in a transaction, when it commits (never on rollback).
    transaction.on_commit(lambda: _finish_moves(sender, instance, pk, moves, using), using=using, robust=True)


def _claim(moves: list[_Move], pk: str, using: str) -> list[_Move]:
    """Claim every key for record ``pk``; return the moves whose key is gone or taken by another record.

    One conditional UPDATE claims free keys. A key this record claimed before (a double submit,
    a second save) keeps the permanent name recorded then.
    """
    rows = AsyncTempFile.objects.using(using)
    ids = [m.temp_file.pk for m in moves]
    claimed = (
        rows.filter(pk__in=ids, object_pk__isnull=True).update(
            object_pk=pk,
            claimed_at=timezone.now(),
            moved_to_location=Case(
                *[When(pk=m.temp_file.pk, then=Value(m.target)) for m in moves],
                output_field=models.TextField(),
            ),
            verified_version=Case(
                *[When(pk=m.temp_file.pk, then=Value(m.temp_file.verified_version)) for m in moves],
                output_field=models.CharField(),
            ),
        )
        if any(m.temp_file.object_pk is None for m in moves)
        else 0
    )
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


def _finish_moves(model: type[models.Model], instance: models.Model, pk: str, moves: list[_Move], using: str) -> None:
    """After commit: put each object at its permanent name, point the record there, drop the originals."""
    placed: list[_Move] = []
    for m in moves:
        try:
            m.field.before_move_file(instance)
            _place(m, using)
            placed.append(m)
        except UploadReplaced as e:
            previous = (instance.__dict__.get(PREVIOUS_VALUES_ATTR) or {}).get(m.field.name, "")
            restored = _refuse_replaced(model, m, pk, using, previous, e)
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
        holds = _point_record_at_moves(model, pk, placed, using)
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
    _tidy(placed, holds)


def _place(m: _Move, using: str) -> None:
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
                if storage.exists(planned) and not _held_by_another(m, planned, using):
                    m.target, m.created, m.source_left = planned, False, False  # moved by an earlier run
                    break
                raise FileNotFoundError(m.key) from e
            if isinstance(e, FileNotFoundError):
                raise
            if _same(storage, m.key, m.target) and not _held_by_another(m, m.target, using):
                m.created, m.source_left = False, True  # a copy an earlier run made
                break
            m.target = storage.get_available_name(m.target, max_length=m.field.max_length)
    else:
        raise FileExistsError(f"Could not find a free name to move {m.key!r} to.")
    if m.target != planned:
        AsyncTempFile.objects.using(using).filter(pk=m.temp_file.pk).update(moved_to_location=m.target)
        m.temp_file.moved_to_location = m.target


def _same(storage: AsyncUploadStorage, a: str, b: str) -> bool:
    try:
        return storage.is_same_object(a, b)
    except OSError:
        return False


def _held_by_another(m: _Move, name: str, using: str) -> bool:
    return name_held_by_another(m.field, name, m.temp_file.object_pk, m.temp_file.pk, using)


def name_held_by_another(
    field: AsyncFileMixin, name: str, record_pk: str | None, temp_file_pk: int, using: str = "default"
) -> bool:
    """Return whether a record other than ``record_pk``, or a claim other than ``temp_file_pk``, owns ``name``.

    Only asked on rare paths (a name turns out to be taken, a key is submitted again): the file
    column has no index.
    """
    records = field.model._base_manager.using(using).filter(**{field.attname: name})
    if records.exclude(pk=record_pk).exists():
        return True
    claims = AsyncTempFile.objects.using(using).filter(moved_to_location=name, object_pk__isnull=False)
    return claims.exclude(pk=temp_file_pk).exists()


def _refuse_replaced(
    model: type[models.Model], m: _Move, pk: str, using: str, previous: str, error: UploadReplaced
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
        f"upload_replaced: {error} The object at the key is not the one verified when the form was "
        f"submitted, so it was not moved: the record was given back {restore!r} and the object deleted."
    )
    logger.error("%s(pk=%s), AsyncTempFile(pk=%s): %s", model.__name__, pk, m.temp_file.pk, message)
    _record_failure(m, pk, using, message)
    return restore if changed else None


def _point_record_at_moves(model: type[models.Model], pk: str, moved: list[_Move], using: str) -> dict[str, str | None]:
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


def _tidy(placed: list[_Move], holds: dict[str, str | None]) -> None:
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
    # A key assigned as a plain string by server code (trusted, as in the seed): find its record.
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
    sender: type[models.Model], instance: models.Model, moves: list[_Move], lost: list[_Move], using: str
) -> None:
    message = "This upload has just been saved to another record or removed; upload the file again."
    errors = {m.field.name: [ValidationError(message, code="invalid_key")] for m in lost}
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        # Nothing of this save may commit, even if the caller catches the error.
        transaction.set_rollback(True, using=using)
    else:
        # Autocommit: the row is already written. Give the lost fields back the value they had before
        # (nothing, for a new record), so the record neither shares an object nor loses its old file.
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
    raise UploadRejected(errors, code="invalid_key")


def _log_failure(m: _Move, pk: str) -> str:
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


def _record_failure(m: _Move, pk: str, using: str, error: str) -> None:
    try:
        AsyncTempFile.objects.using(using).filter(pk=m.temp_file.pk).update(error=error)
        m.temp_file.error = error
    except Exception:
        logger.exception("Recording the failed move of AsyncTempFile(pk=%s) failed too.", m.temp_file.pk)


def find_referencing_records(temp_files: list[AsyncTempFile], using: str = "default") -> dict[int, str]:
    """Return ``{temp_file.pk: record pk}`` for keys that a record of their field holds.

    One query per field and batch of 500 keys (the file column has no index: keep batches few).
    """
    by_field: dict[tuple[int, str], list[AsyncTempFile]] = {}
    for temp_file in temp_files:
        by_field.setdefault((temp_file.content_type_id, temp_file.field_name), []).append(temp_file)
    found: dict[int, str] = {}
    for group in by_field.values():
        field = group[0].get_field()
        keys = {t.key: t for t in group}
        names = list(keys)
        for start in range(0, len(names), 500):
            rows = (
                field.model._base_manager.using(using)
                .filter(**{f"{field.attname}__in": names[start : start + 500]})
                .values_list("pk", field.attname)
            )
            for record_pk, key in rows:
                if key in keys:  # exact match, whatever the collation
                    found[keys[key].pk] = str(record_pk)
    return found


def claim_for_holder(temp_file: AsyncTempFile, record_pk: str, using: str = "default") -> bool:
    """Claim an unclaimed key for the record that holds it anyway; return whether it worked."""
    claimed = (
        AsyncTempFile.objects.using(using)
        .filter(pk=temp_file.pk, object_pk__isnull=True)
        .update(object_pk=record_pk, claimed_at=timezone.now())
    )
    if claimed:
        temp_file.object_pk = record_pk
    return bool(claimed)


def complete_move(temp_file: AsyncTempFile, using: str = "default") -> str:
    """Bring a claimed temporary file to its end state; return what was done.

    Used by ``retry_async_file_moves`` and ``cleanup_async_temp_files``. Results:
    ``"moved"`` (the record now holds the permanent name), ``"done"`` (it already did),
    ``"orphan"`` (no record holds the key: the temporary object was deleted),
    ``"unclaimed"`` (no record took the key yet: nothing to do), ``"refused"`` (the object at the
    key is not the verified one: the record was cleared, the object deleted, the row's ``error``
    says so). A move that cannot be done raises; the row keeps its ``error``.
    """
    if temp_file.object_pk is None:
        return "unclaimed"
    field = temp_file.get_field()
    storage = field.storage
    manager = field.model._base_manager.using(using)
    rows = AsyncTempFile.objects.using(using).filter(pk=temp_file.pk)
    row = manager.filter(pk=temp_file.object_pk).values(field.attname).first()
    current = row[field.attname] if row else None
    if current == temp_file.key:
        target = temp_file.moved_to_location
        if not target:
            target = permanent_name(field, manager.get(pk=temp_file.object_pk), temp_file.original_filename)
        m = _Move(field, temp_file, temp_file.key, target)
        try:
            _place(m, using)
        except UploadReplaced as e:
            _refuse_replaced(field.model, m, temp_file.object_pk, using, "", e)
            return "refused"
        holds = _point_record_at_moves(field.model, temp_file.object_pk, [m], using)
        _tidy([m], holds)
        if holds.get(field.attname) != m.target:
            if storage.exists(temp_file.key):
                storage.delete(temp_file.key)
            rows.update(error=None)
            return "orphan"
        rows.update(error=None)
        temp_file.error = None
        return "moved"
    target = temp_file.moved_to_location
    done = current is not None and current == target
    if not done and target and storage.exists(temp_file.key) and storage.exists(target):
        # A copy an interrupted run made for a record that no longer wants it: nobody else may hold it.
        m = _Move(field, temp_file, temp_file.key, target)
        if _same(storage, temp_file.key, target) and not _held_by_another(m, target, using):
            storage.delete(target)
    if storage.exists(temp_file.key):
        storage.delete(temp_file.key)
    rows.update(error=None)
    temp_file.error = None
    return "done" if done else "orphan"
