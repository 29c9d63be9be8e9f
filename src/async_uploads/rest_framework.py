"""Django REST framework serializer fields for async file fields (install the ``drf`` extra)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn, cast

from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DEFAULT_DB_ALIAS, models, router, transaction
from django.urls import NoReverseMatch
from django.utils.translation import gettext_lazy as _

from async_uploads import fields as async_fields
from async_uploads.codes import ErrorCode
from async_uploads.exceptions import AsyncUploadsImproperlyInstalled, UploadRejected
from async_uploads.inputs import AsyncFileInputData

try:
    from rest_framework import serializers
    from rest_framework.fields import empty, get_attribute
    from rest_framework.utils import html
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise AsyncUploadsImproperlyInstalled("djangorestframework", "drf") from e

if TYPE_CHECKING:
    from django.http import HttpRequest

    _SerializerBase = serializers.BaseSerializer[Any]
else:
    _SerializerBase = object

__all__ = ["ASYNC_FIELD_MAPPING", "AsyncFileField", "AsyncFileSerializerMixin", "AsyncImageField"]

#: Codes of the core's refusals, reported unchanged as the codes of DRF field errors.
CORE_CODES = tuple(code.value for code in ErrorCode if code.surface == "api")

NO_REQUEST_MESSAGE = _(
    "Cannot tell who uploaded this file: create the serializer with the request in its context "
    "(serializer_class(data=..., context={'request': request}); generic views do this)."
)


def _errors_of(error: DjangoValidationError) -> list[DjangoValidationError]:
    if hasattr(error, "error_dict"):
        return [e for errors in error.error_dict.values() for e in errors]
    return list(error.error_list)


def _is_blank(data: Any) -> bool:
    if isinstance(data, str) and data.strip()[:1] in ("n", "{", '"'):
        # A form or multipart body sends the JSON as text: "null", "{}" and '""' clear too.
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            return False
    return data is None or (isinstance(data, str | dict) and not data)


class AsyncFileField(serializers.ModelField):
    """Serializer field of :class:`async_uploads.models.AsyncFileField`, backed by that model field.

    ``model_field`` is the model field (``ModelSerializer`` passes it when its
    ``serializer_field_mapping`` maps the async model fields, see :class:`AsyncFileSerializerMixin`).

    Input is ``{"key", "name", "width"?, "height"?}`` (``url`` is ignored, anything else refused;
    the same object as a JSON string is accepted for form submissions); ``null``, ``""`` or ``{}``
    clears the file when the field allows it (``allow_null``, or ``blank`` on the model field).
    The key must be the record's current file or a temporary key issued for this field, record
    and uploader (the ``request`` in the serializer's context): refusals are field errors whose
    codes are the core's. Output is ``{"key", "name", "url"}`` (``url`` is the
    permission-checked download URL), or ``None`` without a file.
    """

    default_error_messages = {
        **dict.fromkeys(CORE_CODES, "{error}"),
        "blank": _("This field may not be blank."),
        "max_length": _("Ensure this file's key has no more than {max_length} characters."),
    }

    def __init__(self, model_field: models.Field[Any, Any], **kwargs: Any) -> None:
        if not isinstance(model_field, async_fields.AsyncFileMixin):
            raise TypeError(
                f"{type(self).__name__} needs model_field=<an async_uploads AsyncFileField or AsyncImageField>, "
                f"got {model_field!r}."
            )
        # ModelField would add a MaxLengthValidator, which measures the value, not its key.
        max_length = kwargs.pop("max_length", model_field.max_length)
        super().__init__(model_field, **kwargs)
        self.max_length = max_length
        self._nested_pk: Any = None

    @property
    def async_field(self) -> async_fields.AsyncFileMixin:
        """Return the model field, typed as the async field it is."""
        return cast(async_fields.AsyncFileMixin, self.model_field)

    # ------------------------------------------------------------------ input

    def bind(self, field_name: str, parent: Any) -> None:
        super().bind(field_name, parent)
        if self.source == "*" and not self.read_only:
            raise ImproperlyConfigured(
                f"{type(self).__name__} {field_name!r} of {type(parent).__name__}: source='*' can only be "
                "read_only=True (the value is a file of one model field; name that field as the source)."
            )

    def get_value(self, dictionary: Mapping[str, Any]) -> Any:
        # Only a nested serializer (an item of a list, a serializer inside another) reads the
        # record's pk from the data; the value is reset for every item (see run_validation).
        self._nested_pk = None
        parent = self.parent
        if parent is not None and parent.parent is not None and len(self.source_attrs) == 1:
            pk_field = self.async_field.model._meta.pk
            if pk_field is not None and isinstance(dictionary, Mapping):
                self._nested_pk = dictionary.get(pk_field.name)
        if html.is_html_input(dictionary) and self.field_name and dictionary.get(self.field_name) == "":
            # DRF reads an empty form value of an optional field as "not sent"; here it clears
            # the file, as it does in a JSON body and in Django forms.
            return ""
        return super().get_value(dictionary)

    def run_validation(self, data: Any = empty) -> Any:
        try:
            return super().run_validation(data)
        finally:
            self._nested_pk = None

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is not empty and not self.read_only and _is_blank(data):
            if not (self.allow_null or self.model_field.blank):
                self.fail("null" if data is None else "blank")
            return (True, "")  # what Django stores for "no file", also in nullable columns
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> AsyncFileInputData:
        """Parse ``data`` and check its key against the field, the record and the uploader."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except (ValueError, RecursionError):
                pass  # create_from_user_input refuses the string as it is
        request = self.context.get("request")
        try:
            value = AsyncFileInputData.create_from_user_input(data, request=cast("HttpRequest | None", request))
        except UploadRejected as e:
            self._fail_with(e)
        if self.max_length is not None and len(value.key) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        field = self.async_field
        record = self._record()
        existing = getattr(record, field.attname)
        if request is None and value.key != existing.name and field.storage.is_temporary_path(value.key):
            self.fail(ErrorCode.INVALID_KEY, error=NO_REQUEST_MESSAGE)
        try:
            value.validate_key(field, existing, instance=record)
        except DjangoValidationError as e:
            self._fail_with(e)
        return value

    def run_validators(self, value: Any) -> None:
        # The model field's validators (a FileExtensionValidator, your own) see the key as a
        # FieldFile, as Model.full_clean() gives it to them.
        if isinstance(value, AsyncFileInputData):
            field = cast(models.FileField, self.model_field)
            value = field.attr_class(None, field, value.key)  # type: ignore[arg-type]  # validators read the name
        super().run_validators(value)

    def _record(self) -> models.Model:
        """Return the record the value is for: the serializer's instance (through a dotted
        ``source``), else the existing record a nested item's pk names, else a new one."""
        model = self.async_field.model
        instance = getattr(self.parent, "instance", None)
        for attr in self._path_to_record():
            if instance is None:
                break
            try:
                instance = get_attribute(instance, [attr])
            except (AttributeError, KeyError, ObjectDoesNotExist):
                instance = None
        if isinstance(instance, model):
            return instance
        if instance is None and self._nested_pk not in (None, ""):
            try:
                found = model._base_manager.filter(pk=self._nested_pk).first()
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                found = None  # not a pk of this model: the item is a new record
            if found is not None:
                # The pk comes from the client: it only lets the record's own current key through
                # here, and the descriptor checks the key again against the instance it is assigned to.
                return found
        return model()

    def _path_to_record(self) -> list[str]:
        # An unbound field (used on its own, as in tests) has no source_attrs yet.
        return list(getattr(self, "source_attrs", [])[:-1])

    def _fail_with(self, error: DjangoValidationError) -> NoReturn:
        first = _errors_of(error)[0]
        code = first.code if first.code in CORE_CODES else ErrorCode.INVALID_KEY
        self.fail(cast(str, code), error=" ".join(first.messages))

    # ------------------------------------------------------------------ output

    def get_attribute(self, instance: Any) -> Any:
        """Return the record holding the file: ``instance``, or the object a dotted ``source`` leads to."""
        for attr in self._path_to_record():
            if instance is None:
                return None
            instance = get_attribute(instance, [attr])
        return instance

    def to_representation(self, obj: Any) -> dict[str, Any] | None:
        """Return ``{"key", "name", "url"}`` for ``obj``'s file, or ``None`` when it has none."""
        file = self.model_field.value_from_object(obj)
        key = getattr(file, "name", file)
        if not key:
            return None
        try:
            url = file.url
        except (ValueError, NoReverseMatch):
            url = None  # unsaved record, or the registry's URLs are not installed
        return {"key": key, "name": posixpath.basename(key), "url": url}


class AsyncImageField(AsyncFileField):
    """Serializer field of :class:`async_uploads.models.AsyncImageField`.

    Same as :class:`AsyncFileField`; the client's ``width`` and ``height`` fill the model's
    ``width_field`` / ``height_field`` without reading the image (they must match its header).
    A separate class so schema generators and frontends can tell images apart.
    """


#: The async model fields mapped to their serializer fields, for ``serializer_field_mapping``.
ASYNC_FIELD_MAPPING: dict[type[models.Field[Any, Any]], type[serializers.Field[Any, Any, Any, Any]]] = {
    async_fields.AsyncFileField: AsyncFileField,
    async_fields.AsyncImageField: AsyncImageField,
}


class AsyncFileSerializerMixin(_SerializerBase):
    """Map async model fields to :class:`AsyncFileField` / :class:`AsyncImageField`, and save atomically.

    Put it before ``ModelSerializer`` (or any serializer whose ``create`` / ``update`` assigns
    async file values, such as one writing nested items). ``save()`` runs in a transaction; a
    key the model refuses when it is assigned (the check behind the field's, against the instance
    actually written) rolls it back and becomes a ``ValidationError`` (HTTP 400 in a view).
    """

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping, **ASYNC_FIELD_MAPPING}

    def save(self, **kwargs: Any) -> Any:
        model = getattr(getattr(self, "Meta", None), "model", None)
        using = router.db_for_write(model) if model is not None else DEFAULT_DB_ALIAS
        try:
            with transaction.atomic(using=using):
                return super().save(**kwargs)
        except UploadRejected as e:
            raise serializers.ValidationError(serializers.as_serializer_error(e)) from e
