"""What a client submits for an async file field, and the rules for accepting it."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from async_uploads.exceptions import UploadRejected
from async_uploads.image_headers import MAX_IMAGE_DIMENSION, dimension_error
from async_uploads.names import is_text

if TYPE_CHECKING:
    from django.db.models import Model
    from django.http import HttpRequest

    from async_uploads.models import AsyncFileMixin, AsyncTempFile

__all__ = ["MAX_IMAGE_DIMENSION", "AsyncFileInputData", "RawFileInput"]

logger = logging.getLogger("async_uploads")

_VALID_KEYS = ("key", "name", "width", "height", "error")
_IGNORED_KEYS = ("url",)


def _takes_upload_details(verify: Any) -> bool:
    """Return whether a storage's ``verify_upload`` takes ``name``/``width``/``height`` (custom
    storages written against the first release take only ``key`` and ``field``)."""
    try:
        params = inspect.signature(verify).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins and the like
        return False
    return "name" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _dimension(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise UploadRejected(f"{name} must be a whole number of pixels, got {value!r}.", code="invalid_input")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise UploadRejected(f"{name} must be a whole number of pixels, got {value!r}.", code="invalid_input") from e
    if isinstance(value, float) and value != number:
        raise UploadRejected(f"{name} must be a whole number of pixels, got {value!r}.", code="invalid_input")
    error = dimension_error(number, None)
    if error is not None:
        raise UploadRejected(
            f"{name} must be between 1 and {MAX_IMAGE_DIMENSION} pixels, got {number}.", code="invalid_input"
        )
    return number


@dataclass
class AsyncFileInputData:
    """A client's submission for an async file field: ``{key, name, width?, height?}``.

    ``width`` and ``height`` let an :class:`~async_uploads.models.AsyncImageField` fill its
    ``width_field`` / ``height_field`` without reading the image. ``request`` and ``trusted`` are
    not user input: views pass the request (forms through :class:`~async_uploads.forms.AsyncFileFormMixin`)
    so the key's uploader can be checked; server code that assigns a key it trusts says ``trusted=True``.
    """

    #: The key the file was uploaded to.
    key: str
    #: The original name of the file.
    name: str = ""
    #: Width of an image, in pixels.
    width: int | None = None
    #: Height of an image, in pixels.
    height: int | None = None
    #: Set by a client whose upload failed.
    error: str | None = None
    #: The request that submitted this value: the key must have been issued to its user (or, for
    #: anonymous users, its session).
    request: HttpRequest | None = field(default=None, repr=False, compare=False, kw_only=True)
    #: Set by server code that assigns a key it trusts (a data migration, a task): the uploader is
    #: then not checked. Without a ``request`` or ``trusted=True`` a temporary key is refused.
    trusted: bool = field(default=False, repr=False, compare=False, kw_only=True)

    @classmethod
    def create_from_user_input(cls, values: Any, *, request: HttpRequest | None = None) -> AsyncFileInputData:
        """Build an instance from client input, rejecting anything malformed.

        ``values`` must be a mapping with a non-empty string ``key``; ``name``, ``width``,
        ``height`` and ``error`` are optional; ``url`` is accepted and ignored. Any other key,
        or a value of the wrong type, raises :class:`~async_uploads.exceptions.UploadRejected`
        (a ``ValidationError`` with code ``invalid_input``).
        """
        if not isinstance(values, dict):
            raise UploadRejected(
                f"A file value must be an object with a 'key', got {type(values).__name__}.", code="invalid_input"
            )
        unknown = [k for k in values if k not in _VALID_KEYS and k not in _IGNORED_KEYS]
        if unknown:
            raise UploadRejected(f"Invalid input keys received: {', '.join(map(str, unknown))}.", code="invalid_input")
        key = values.get("key")
        if not isinstance(key, str) or not key or not is_text(key):
            raise UploadRejected("A file value needs a non-empty string 'key'.", code="invalid_input")
        name = values.get("name") or ""
        if not isinstance(name, str) or not is_text(name):
            raise UploadRejected("A file's 'name' must be a string.", code="invalid_input")
        error = values.get("error")
        if error is not None and not isinstance(error, str):
            raise UploadRejected("A file's 'error' must be a string.", code="invalid_input")
        width = _dimension("width", values.get("width"))
        height = _dimension("height", values.get("height"))
        out_of_bounds = dimension_error(width, height)
        if out_of_bounds is not None:
            raise UploadRejected(out_of_bounds, code="invalid_input")
        return cls(
            key=key,
            name=name,
            width=width,
            height=height,
            error=error or None,
            request=request,
        )

    def update_dimension_cache(self, field: AsyncFileMixin, instance: Model | None = None) -> None:
        """Remember this value's width and height for ``instance``'s ``field``.

        The dimensions are kept on the model instance (never on the shared field object), and
        :meth:`~async_uploads.models.AsyncImageField.update_dimension_fields` applies them.
        """
        if instance is None or not (self.width and self.height):
            return
        from async_uploads.models import PENDING_DIMENSIONS_ATTR

        instance.__dict__.setdefault(PENDING_DIMENSIONS_ATTR, {})[field.name] = (self.width, self.height)

    def validate_key(
        self,
        field: AsyncFileMixin,
        existing_value: Any,
        *,
        instance: Model | None = None,
    ) -> AsyncTempFile | None:
        """Check that ``field`` may take this key, and return its temporary-file record.

        A key is accepted when it is the field's current value (returns ``None``), or when it is a
        temporary key issued for this field, for this record (or for a new record when the key
        was requested without an instance id), to this value's request's user or session (or the
        value is ``trusted``), that holds an uploaded object and has not been used by another
        record (a key this record took before is accepted again). Anything else raises a
        ``ValidationError`` on the field with code ``invalid_key`` (``file_too_large`` /
        ``invalid_file_type`` / ``invalid_image`` when the uploaded object breaks the field's limits, see
        :meth:`~async_uploads.storage.base.AsyncUploadStorage.verify_upload`) and changes nothing.
        """
        from async_uploads.models import AsyncTempFile

        def reject(message: str, code: str = "invalid_key") -> ValidationError:
            logger.warning(
                "Rejected key %r for %s: %s",
                self.key,
                field,
                message,
                extra={"async_field": str(field), "reason": code},
            )
            return UploadRejected({field.name: [ValidationError(message, code=code)]}, code=code)

        if self.error:
            raise reject(f"The upload failed in the browser: {self.error}", code="invalid_input")
        existing_key = getattr(existing_value, "name", existing_value) or None
        if existing_key is not None and self.key == existing_key:
            return None
        if not field.storage.is_temporary_path(self.key):
            raise reject(
                "This key is neither the field's current file nor a temporary upload key; "
                "request an upload URL and submit the key it returns."
            )
        memo = self.__dict__.get("_verified")
        if memo is not None and memo[0] is field and memo[1] == self.key:
            # The same value checked moments ago (a form or serializer checks before the model
            # assigns it; strawberry_django's create fills a throwaway instance first): reuse the
            # row read then. The rules below run again for this instance, and the claim on save
            # is a conditional UPDATE, so a row taken in between still loses there.
            temp_file = memo[2]
        else:
            temp_file = AsyncTempFile.get_by_key(self.key)
        if temp_file is None:
            raise reject("No upload was issued with this key; request a new upload URL.")
        if not temp_file.is_for_field(field):
            raise reject("This key was issued for another field.")
        if self.request is not None:
            if not temp_file.is_owned_by(self.request):
                raise reject("This key was issued to another user.")
        elif not self.trusted:
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
            self.__dict__["_resolved"] = (field, self.key, _resolve_claimed(field, temp_file, pk, reject))
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
        extra: dict[str, Any] = {}
        if _takes_upload_details(field.storage.verify_upload):
            extra = {"name": temp_file.original_filename, "width": self.width, "height": self.height}
        try:
            verified = field.storage.verify_upload(temp_file.key, field=field, **extra)
        except UploadRejected as e:
            raise reject(e.messages[0], code=e.error_list[0].code or "invalid_key") from e
        except Exception as e:
            # The storage could not be asked (a network error, a refused request): the key cannot
            # be accepted unchecked, and the client gets a field error, not a server error.
            logger.exception("Checking the upload %r for %s failed.", temp_file.key, field)
            raise reject("The uploaded file could not be checked; submit the form again.") from e
        if verified is not None and verified.width and verified.height and (self.width is None or self.height is None):
            # Dimensions from the image header spare the full download ImageField would make.
            self.width, self.height = verified.width, verified.height
        # The claim stores it: the move copies only the object that was checked here.
        temp_file.verified_version = getattr(verified, "version", None)
        self.__dict__["_verified"] = (field, temp_file.key, temp_file)
        return temp_file


def _resolve_claimed(field: AsyncFileMixin, temp_file: AsyncTempFile, pk: Any, reject: Any) -> str | None:
    """Decide what a key this record already took stands for now.

    Returns the permanent name to store when the object was moved there for this record, or
    ``None`` when the move has not finished (the record still holds the key, and the move,
    bound to the verified version, finishes it). Raises ``reject(...)`` when the record has
    moved on (cleared, replaced): the key was used, and whatever is at it now was never checked.
    """
    from async_uploads.moves import name_held_by_another

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


class RawFileInput:
    """A client's file value that is parsed and checked only when it is assigned to a field.

    API layers that build values before they know the field (the GraphQL input type) hand this
    to the model instead of a dict: assigning it parses ``values`` with
    :meth:`AsyncFileInputData.create_from_user_input` (bound to ``request``), reports a
    malformed value as an error on the field, and then validates the key as usual.
    """

    __slots__ = ("_parsed", "request", "values")

    def __init__(self, values: Any, *, request: HttpRequest | None = None):
        self.values = values
        self.request = request
        self._parsed: AsyncFileInputData | None = None

    def __repr__(self) -> str:
        return f"RawFileInput({self.values!r})"

    def __bool__(self) -> bool:
        # Django's save_form_data treats a falsy value as "clear the field".
        return True

    def to_input_data(self, field: AsyncFileMixin) -> AsyncFileInputData:
        """Return the parsed value, or raise ``UploadRejected`` naming ``field``."""
        if self._parsed is not None:
            return self._parsed
        try:
            self._parsed = AsyncFileInputData.create_from_user_input(self.values, request=self.request)
            return self._parsed
        except UploadRejected as e:
            code = e.error_list[0].code or "invalid_input"
            raise UploadRejected({field.name: [ValidationError(e.messages[0], code=code)]}, code=code) from e
