"""Finishing moves that a failure or a crash left unfinished: what the maintenance commands use.

``retry_async_file_moves`` and ``cleanup_async_temp_files`` call these; they reuse the save
flow's idempotent steps (:mod:`async_uploads.moves`), so a run adopts what an earlier one did.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from async_uploads.acceptance import verify_temp_file
from async_uploads.codes import ErrorCode
from async_uploads.exceptions import UploadRejected, UploadReplaced
from async_uploads.models import AsyncTempFile
from async_uploads.moves import (
    Move,
    held_by_another,
    permanent_name,
    place,
    point_record_at_moves,
    refuse_replaced,
    same_object,
    tidy,
)

__all__ = ["claim_for_holder", "complete_move", "find_referencing_records", "verify_claimed"]

logger = logging.getLogger("async_uploads")


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


def claim_for_holder(temp_file: AsyncTempFile, record_pk: str, using: str = "default") -> str:
    """Claim an unclaimed key for the record that holds it anyway, verifying its object first.

    Such a record took the key without the save flow's claim (``bulk_create()``, ``update()``, a
    crash between its INSERT and the claim), so nothing recorded which object was verified, and
    the object may have been uploaded again since: it is verified now, like a new upload, and its
    version is stored with the claim, so the move copies only that object. Returns ``"claimed"``,
    ``"taken"`` (another run claimed it meanwhile) or ``"refused"`` (the object fails verification:
    the record is emptied where it still holds the key, the object deleted, the row removed).
    """
    field = temp_file.get_field()
    try:
        verified = verify_temp_file(field, temp_file)
    except UploadRejected as e:
        manager = field.model._base_manager.using(using)
        manager.filter(pk=record_pk, **{field.attname: temp_file.key}).update(**{field.attname: ""})
        if field.storage.exists(temp_file.key):
            field.storage.delete(temp_file.key)
        AsyncTempFile.objects.using(using).filter(pk=temp_file.pk, object_pk__isnull=True).delete()
        logger.error(
            "%s(pk=%s) held the unclaimed key %r, whose object fails verification (%s): the record was "
            "emptied and the object deleted.",
            field.model.__name__,
            record_pk,
            temp_file.key,
            " ".join(e.messages),
        )
        return "refused"
    version = getattr(verified, "version", None)
    claimed = (
        AsyncTempFile.objects.using(using)
        .filter(pk=temp_file.pk, object_pk__isnull=True)
        .update(object_pk=record_pk, claimed_at=timezone.now(), verified_version=version)
    )
    if not claimed:
        return "taken"
    temp_file.object_pk, temp_file.verified_version = record_pk, version
    return "claimed"


def verify_claimed(temp_file: AsyncTempFile, using: str = "default") -> bool:
    """Verify an upload a record took unverified (``verification_pending``); return whether it passed.

    The checks are those of a submission (:func:`~async_uploads.acceptance.verify_temp_file`),
    with the width and height the record holds for an image. On success the verified version is
    stored (the move copies only it), the record's empty dimension columns are filled from the
    header, and the flag is cleared. On refusal the record is emptied where it still holds the key,
    the object deleted, and the row's ``error`` starts with the refusal's code. A storage error
    propagates, leaving everything as it was.
    """
    field = temp_file.get_field()
    manager = field.model._base_manager.using(using)
    width_field: str | None = getattr(field, "width_field", None) or None
    height_field: str | None = getattr(field, "height_field", None) or None
    columns = [c for c in (width_field, height_field) if c]
    sent: dict[str, Any] = {}
    if columns:
        sent = manager.filter(pk=temp_file.object_pk).values(*columns).first() or {}
    width = sent.get(width_field) if width_field else None
    height = sent.get(height_field) if height_field else None
    rows = AsyncTempFile.objects.using(using).filter(pk=temp_file.pk)
    try:
        verified = verify_temp_file(field, temp_file, width=width, height=height)
    except UploadRejected as e:
        code = e.error_list[0].code or ErrorCode.INVALID_KEY
        manager.filter(pk=temp_file.object_pk, **{field.attname: temp_file.key}).update(**{field.attname: ""})
        if field.storage.exists(temp_file.key):
            field.storage.delete(temp_file.key)
        message = (
            f"{code}: {' '.join(e.messages)} The upload failed the verification the background task made, so "
            "it was not moved: the record's file was cleared and the object deleted."
        )
        logger.error(
            "%s(pk=%s), AsyncTempFile(pk=%s): %s", field.model.__name__, temp_file.object_pk, temp_file.pk, message
        )
        rows.update(error=message, verification_pending=False)
        temp_file.error, temp_file.verification_pending = message, False
        return False
    version = getattr(verified, "version", None)
    dimensions: dict[str, int] = {}
    if verified is not None and verified.width and verified.height:
        if width_field and width is None:
            dimensions[width_field] = verified.width
        if height_field and height is None:
            dimensions[height_field] = verified.height
    if dimensions:
        manager.filter(pk=temp_file.object_pk, **{field.attname: temp_file.key}).update(**dimensions)
    rows.update(verified_version=version, verification_pending=False)
    temp_file.verified_version, temp_file.verification_pending = version, False
    return True


def complete_move(temp_file: AsyncTempFile, using: str = "default") -> str:
    """Bring a claimed temporary file to its end state; return what was done.

    Used by ``retry_async_file_moves`` and ``cleanup_async_temp_files``. Results:
    ``"moved"`` (the record now holds the permanent name), ``"done"`` (it already did),
    ``"orphan"`` (no record holds the key: the temporary object was deleted),
    ``"unclaimed"`` (no record took the key yet: nothing to do), ``"refused"`` (the object at the
    key is not the verified one, or fails the verification left for the background task: the
    record was cleared, the object deleted, the row's ``error`` says so). A move that cannot be
    done raises; the row keeps its ``error``.
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
        if temp_file.verification_pending and not verify_claimed(temp_file, using):
            return "refused"
        target = temp_file.moved_to_location
        if not target:
            target = permanent_name(field, manager.get(pk=temp_file.object_pk), temp_file.original_filename)
        m = Move(field, temp_file, temp_file.key, target)
        try:
            place(m, using)
        except UploadReplaced as e:
            refuse_replaced(field.model, m, temp_file.object_pk, using, "", e)
            return "refused"
        holds = point_record_at_moves(field.model, temp_file.object_pk, [m], using)
        tidy([m], holds)
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
        m = Move(field, temp_file, temp_file.key, target)
        if same_object(storage, temp_file.key, target) and not held_by_another(m, target, using):
            storage.delete(target)
    if storage.exists(temp_file.key):
        storage.delete(temp_file.key)
    rows.update(error=None)
    temp_file.error = None
    return "done" if done else "orphan"
