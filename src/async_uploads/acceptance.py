"""The one decision: is this submitted value accepted for this field, record and uploader?

Model assignment (the fields' descriptors), forms, the DRF fields and the GraphQL inputs all
come here: :func:`validate_key` holds every rule a key must pass (issued for this field, this
record and this uploader, uploaded, verified, used once), :func:`accept_input` turns an accepted
value into what the field stores and what the save flow moves.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import ValidationError

from async_uploads.codes import ErrorCode
from async_uploads.conf import app_settings
from async_uploads.exceptions import UploadRejected
from async_uploads.sizes import human_size
from async_uploads.storage.base import accepts_keyword

if TYPE_CHECKING:
    from django.db import models

    from async_uploads.fields import AsyncFileMixin
    from async_uploads.inputs import AsyncFileInputData
    from async_uploads.models import AsyncTempFile
    from async_uploads.storage.base import VerifiedUpload

__all__ = [
    "PENDING_DIMENSIONS_ATTR",
    "PENDING_MOVES_ATTR",
    "PREVIOUS_VALUES_ATTR",
    "REFUSED_VALUES_ATTR",
    "RefusedKey",
    "accept_input",
    "name_held_by_another",
    "refusal_errors",
    "validate_key",
    "verified_in_background",
    "verify_temp_file",
]

logger = logging.getLogger("async_uploads")


def _temp_files() -> type[AsyncTempFile]:
    # Through the app registry, not an import: async_uploads.models re-exports the fields (the
    # alliance-platform-storage import path), and the fields use this module.
    return apps.get_model("async_uploads", "AsyncTempFile")  # type: ignore[return-value]


#: Instance attribute holding, per field name, the validated temporary-file record to move on save.
PENDING_MOVES_ATTR = "_async_uploads_pending_moves"


#: Instance attribute holding, per field name, the value a field had before a temporary key was assigned.
PREVIOUS_VALUES_ATTR = "_async_uploads_previous_values"


#: Instance attribute holding, per field name, client-sent ``(width, height)`` of a new image.
PENDING_DIMENSIONS_ATTR = "_async_uploads_pending_dimensions"


#: Instance attribute holding, per field name, the errors of a client value refused on assignment
#: (a GraphQL value): raised by ``full_clean()`` with the other fields' errors, and by ``save()``.
REFUSED_VALUES_ATTR = "_async_uploads_refused_values"


class RefusedKey(str):
    """What a field holds after a client's value was refused: the submitted key (or ``"refused"``).

    Never saved: ``full_clean()`` reports the refusal as the field's error and ``save()`` raises it.
    A non-empty value, so that ``full_clean()`` validates the field even when it is ``blank=True``.
    """

    __slots__ = ()


def refusal_errors(error: UploadRejected) -> list[ValidationError]:
    if hasattr(error, "error_dict"):
        return [e for errors in error.error_dict.values() for e in errors]
    return list(error.error_list)


def accept_input(field: AsyncFileMixin, instance: models.Model, value: AsyncFileInputData) -> str:
    """Validate a client's value for ``field`` and return the key to store."""
    existing = instance.__dict__.get(field.attname)
    temp_file = validate_key(value, field, existing, instance=instance)
    pending = instance.__dict__.setdefault(PENDING_MOVES_ATTR, {})
    if temp_file is None:
        return value.key
    if temp_file.object_pk is not None:
        # This record took the key before (a double submit, a form sent again): validate_key found
        # where the file is now (the permanent name this record holds), or that its move is unfinished.
        resolved = value.__dict__.get("_resolved")
        if resolved is None or resolved[0] is not field or resolved[1] != temp_file.key:  # pragma: no cover
            raise UploadRejected({field.name: ["This upload has already been used."]}, code=ErrorCode.INVALID_KEY)
        if resolved[2] is not None:
            pending.pop(field.name, None)
            return resolved[2]
    pending[field.name] = temp_file
    previous = instance.__dict__.setdefault(PREVIOUS_VALUES_ATTR, {})
    previous.setdefault(field.name, getattr(existing, "name", existing) or "")
    value.update_dimension_cache(field, instance)
    return value.key


def validate_key(
    value: AsyncFileInputData,
    field: AsyncFileMixin,
    existing_value: Any,
    *,
    instance: models.Model | None = None,
) -> AsyncTempFile | None:
    """Check that ``field`` may take ``value``'s key; see :meth:`AsyncFileInputData.validate_key`."""

    def reject(message: str, code: str = ErrorCode.INVALID_KEY) -> ValidationError:
        logger.warning(
            "Rejected key %r for %s: %s",
            value.key,
            field,
            message,
            extra={"async_field": str(field), "reason": code},
        )
        return UploadRejected({field.name: [ValidationError(message, code=code)]}, code=code)

    if value.error:
        raise reject(f"The upload failed in the browser: {value.error}", code=ErrorCode.INVALID_INPUT)
    existing_key = getattr(existing_value, "name", existing_value) or None
    if existing_key is not None and value.key == existing_key:
        return None
    if not field.storage.is_temporary_path(value.key):
        raise reject(
            "This key is neither the field's current file nor a temporary upload key; "
            "request an upload URL and submit the key it returns."
        )
    memo = value.__dict__.get("_verified")
    if memo is not None and memo[0] is field and memo[1] == value.key:
        # The same value checked moments ago (a form or serializer checks before the model
        # assigns it; strawberry_django's create fills a throwaway instance first): reuse the
        # row read then. The rules below run again for this instance, and the claim on save
        # is a conditional UPDATE, so a row taken in between still loses there.
        temp_file = memo[2]
    else:
        temp_file = _temp_files().get_by_key(value.key)
    if temp_file is None:
        raise reject("No upload was issued with this key; request a new upload URL.")
    if not temp_file.is_for_field(field):
        raise reject("This key was issued for another field.")
    if value.request is not None:
        if not temp_file.is_owned_by(value.request):
            raise reject("This key was issued to another user.")
    elif not value.trusted:
        raise reject(
            "Cannot tell who submitted this key: pass the request "
            "(AsyncFileInputData.create_from_user_input(..., request=request); forms: AsyncFileFormMixin), "
            "or trusted=True for a key your own code chose."
        )

    pk = None if instance is None or instance._state.adding else instance.pk
    if temp_file.object_pk is not None:
        if pk is None or temp_file.object_pk != str(pk):
            raise reject("This upload has already been saved to another record; upload the file again.")
        # A key is accepted once. This record took it before: it is only the same submission
        # again (a double submit, the same form sent twice, a second save) while the record
        # still holds the key or the permanent name it was moved to.
        value.__dict__["_resolved"] = (field, value.key, _resolve_claimed(field, temp_file, pk, reject))
        return temp_file
    if instance is not None:
        if temp_file.instance_pk is None and pk is not None:
            raise reject("This key was issued for a new record; request the upload URL with this record's id.")
        if temp_file.instance_pk is not None and temp_file.instance_pk != str(pk):
            raise reject("This key was issued for another record.")
    if temp_file.error:
        raise reject("This upload could not be moved into place earlier; upload the file again.")
    if memo is not None and memo[0] is field and memo[1] == temp_file.key:
        return temp_file  # the object was checked moments ago: do not ask the storage twice
    if verified_in_background(temp_file):
        # Too large to verify here: the background task verifies it before it moves it, and the
        # record serves no file until then (the claim stores the flag).
        temp_file.verification_pending = True
        value.__dict__["_verified"] = (field, temp_file.key, temp_file)
        return temp_file
    try:
        verified = verify_temp_file(field, temp_file, width=value.width, height=value.height)
    except UploadRejected as e:
        raise reject(e.messages[0], code=e.error_list[0].code or ErrorCode.INVALID_KEY) from e
    except Exception as e:
        # The storage could not be asked (a network error, a refused request): the key cannot
        # be accepted unchecked, and the client gets a field error, not a server error.
        logger.exception("Checking the upload %r for %s failed.", temp_file.key, field)
        raise reject("The uploaded file could not be checked; submit the form again.") from e
    if verified is not None and verified.width and verified.height and (value.width is None or value.height is None):
        # Dimensions from the image header spare the full download ImageField would make.
        value.width, value.height = verified.width, verified.height
    # The claim stores it: the move copies only the object that was checked here.
    temp_file.verified_version = getattr(verified, "version", None)
    temp_file.verified_size = getattr(verified, "size", None)
    value.__dict__["_verified"] = (field, temp_file.key, temp_file)
    return temp_file


def verified_in_background(temp_file: AsyncTempFile) -> bool:
    """Return whether ``temp_file``'s upload is left for the background task to verify.

    Decided on the size declared when the upload URL was issued (``BACKGROUND_VERIFY_MIN_SIZE``):
    the object itself is not asked, since asking is what the request is spared.
    """
    threshold = app_settings.BACKGROUND_VERIFY_MIN_SIZE
    declared = temp_file.declared_size
    return threshold is not None and declared is not None and declared >= threshold


def verify_temp_file(
    field: AsyncFileMixin, temp_file: AsyncTempFile, *, width: int | None = None, height: int | None = None
) -> VerifiedUpload | None:
    """Verify the object uploaded to ``temp_file``'s key for ``field``, as every acceptance must.

    The storage's :meth:`~async_uploads.storage.base.AsyncUploadStorage.verify_upload` checks the
    object against the field (size, type, image header, client-sent ``width`` / ``height``); the
    size must also be the one declared when the upload URL was issued, since the quotas counted
    that size (an S3 POST policy binds it, an Azure SAS cannot, and a custom backend may not).
    Raises :class:`~async_uploads.exceptions.UploadRejected`; a storage error propagates.
    """
    extra: dict[str, Any] = {}
    if _takes_upload_details(field.storage.verify_upload):
        extra = {"name": temp_file.original_filename, "width": width, "height": height}
    verified = field.storage.verify_upload(temp_file.key, field=field, **extra)
    declared = temp_file.declared_size
    if verified is not None and declared is not None and verified.size != declared:
        raise UploadRejected(
            f"The uploaded file is {human_size(verified.size, unlike=declared)}, but "
            f"{human_size(declared, unlike=verified.size)} were declared when the "
            "upload URL was issued; request a new upload URL with the file's real size.",
            code=ErrorCode.INVALID_INPUT,
        )
    return verified


def _takes_upload_details(verify: Any) -> bool:
    """Return whether a storage's ``verify_upload`` takes ``name``/``width``/``height`` (custom
    storages written against the first release take only ``key`` and ``field``)."""
    return accepts_keyword(verify, "name")


def _resolve_claimed(field: AsyncFileMixin, temp_file: AsyncTempFile, pk: Any, reject: Any) -> str | None:
    """Decide what a key this record already took stands for now.

    Returns the permanent name to store when the object was moved there for this record, or
    ``None`` when the move has not finished (the record still holds the key, and the move,
    bound to the verified version, finishes it). Raises ``reject(...)`` when the record has
    moved on (cleared, replaced): the key was used, and whatever is at it now was never checked.
    """
    storage = field.storage
    target = temp_file.moved_to_location
    row = field.model._base_manager.filter(pk=pk).values(field.attname).first()
    current = row[field.attname] if row else None
    if current == temp_file.key:
        if storage.exists(temp_file.key):
            return None
        if target and storage.exists(target) and not name_held_by_another(field, target, str(pk), temp_file.pk):
            return target  # a backend without copy moved it; the record is pointed there next
        raise reject("This upload no longer exists; upload the file again.")
    if target and current == target:
        if storage.exists(target) and not name_held_by_another(field, target, str(pk), temp_file.pk):
            return target
        raise reject("This upload no longer exists; upload the file again.")
    raise reject(
        "This upload has already been used, and the record no longer holds its file; "
        "request a new upload URL and upload the file again."
    )


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
    claims = _temp_files().objects.using(using).filter(moved_to_location=name, object_pk__isnull=False)
    return claims.exclude(pk=temp_file_pk).exists()
