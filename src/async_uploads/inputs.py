"""What a client submits for an async file field, and the rules for accepting it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from async_uploads.acceptance import PENDING_DIMENSIONS_ATTR, validate_key
from async_uploads.codes import ErrorCode
from async_uploads.exceptions import UploadRejected
from async_uploads.image_headers import MAX_IMAGE_DIMENSION, dimension_error
from async_uploads.names import is_text

if TYPE_CHECKING:
    from django.db.models import Model
    from django.http import HttpRequest

    from async_uploads.fields import AsyncFileMixin
    from async_uploads.models import AsyncTempFile

__all__ = ["MAX_IMAGE_DIMENSION", "AsyncFileInputData", "RawFileInput"]

logger = logging.getLogger("async_uploads")

_VALID_KEYS = ("key", "name", "width", "height", "error")
_IGNORED_KEYS = ("url",)


def _dimension(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise UploadRejected(f"{name} must be a whole number of pixels, got {value!r}.", code=ErrorCode.INVALID_INPUT)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise UploadRejected(
            f"{name} must be a whole number of pixels, got {value!r}.", code=ErrorCode.INVALID_INPUT
        ) from e
    if isinstance(value, float) and value != number:
        raise UploadRejected(f"{name} must be a whole number of pixels, got {value!r}.", code=ErrorCode.INVALID_INPUT)
    error = dimension_error(number, None)
    if error is not None:
        raise UploadRejected(
            f"{name} must be between 1 and {MAX_IMAGE_DIMENSION} pixels, got {number}.", code=ErrorCode.INVALID_INPUT
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
                f"A file value must be an object with a 'key', got {type(values).__name__}.",
                code=ErrorCode.INVALID_INPUT,
            )
        unknown = [k for k in values if k not in _VALID_KEYS and k not in _IGNORED_KEYS]
        if unknown:
            raise UploadRejected(
                f"Invalid input keys received: {', '.join(map(str, unknown))}.", code=ErrorCode.INVALID_INPUT
            )
        key = values.get("key")
        if not isinstance(key, str) or not key or not is_text(key):
            raise UploadRejected("A file value needs a non-empty string 'key'.", code=ErrorCode.INVALID_INPUT)
        name = values.get("name") or ""
        if not isinstance(name, str) or not is_text(name):
            raise UploadRejected("A file's 'name' must be a string.", code=ErrorCode.INVALID_INPUT)
        error = values.get("error")
        if error is not None and not isinstance(error, str):
            raise UploadRejected("A file's 'error' must be a string.", code=ErrorCode.INVALID_INPUT)
        width = _dimension("width", values.get("width"))
        height = _dimension("height", values.get("height"))
        out_of_bounds = dimension_error(width, height)
        if out_of_bounds is not None:
            raise UploadRejected(out_of_bounds, code=ErrorCode.INVALID_INPUT)
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
        value is ``trusted``), that holds an uploaded object which passes verification, and that
        has not been used: a key this record took before stands only for the same submission
        again, while the record still holds the key or the permanent name it was moved to.
        Anything else raises a ``ValidationError`` on the field with code ``invalid_key``
        (``file_too_large`` / ``invalid_file_type`` / ``invalid_image`` when the uploaded object
        breaks the field's limits, see
        :meth:`~async_uploads.storage.base.AsyncUploadStorage.verify_upload`) and changes nothing.
        The rules live in :func:`async_uploads.acceptance.validate_key`.
        """
        return validate_key(self, field, existing_value, instance=instance)


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
            code = e.error_list[0].code or ErrorCode.INVALID_INPUT
            raise UploadRejected({field.name: [ValidationError(e.messages[0], code=code)]}, code=code) from e
