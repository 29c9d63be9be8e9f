"""The async file model fields: the mixin, the fields, their descriptors and FieldFiles.

Assigning a client's value to one of these fields asks :mod:`async_uploads.acceptance` whether
it is accepted; saving the record hands the key to the save flow (:mod:`async_uploads.moves`).
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any
from urllib.parse import quote_plus

from django.core import checks
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.files import FieldFile, FileDescriptor, ImageFieldFile, ImageFileDescriptor
from django.urls import NoReverseMatch

from async_uploads import restrictions
from async_uploads.acceptance import (
    PENDING_DIMENSIONS_ATTR,
    PENDING_MOVES_ATTR,
    REFUSED_VALUES_ATTR,
    RefusedKey,
    accept_input,
    refusal_errors,
)
from async_uploads.codes import ErrorCode
from async_uploads.exceptions import UploadRejected
from async_uploads.inputs import AsyncFileInputData, RawFileInput
from async_uploads.names import is_text
from async_uploads.permissions import resolve_perm_name
from async_uploads.registry import AsyncFieldRegistry, cached_reverse, default_async_field_registry
from async_uploads.storage.base import AsyncUploadStorage

__all__ = [
    "AsyncFieldFile",
    "AsyncFileDescriptor",
    "AsyncFileField",
    "AsyncFileMixin",
    "AsyncImageDescriptor",
    "AsyncImageField",
    "AsyncImageFieldFile",
    "async_fields_of",
    "default_max_length",
    "default_max_size",
    "download_redirect_base",
    "download_redirect_query",
]

#: Default ``max_size``, in MB (MiB).
default_max_size = 100


#: Default ``max_length`` of the key column.
default_max_length = 500


_UNSET: Any = object()


def download_redirect_base(registry: AsyncFieldRegistry) -> str:
    """Return the path of ``registry``'s ``DownloadRedirectView`` (the part of ``url`` before the query)."""
    try:
        return cached_reverse(f"{registry.url_namespace}:download")
    except NoReverseMatch as e:
        raise NoReverseMatch(
            f"The URLs of {registry} are not installed; add "
            f'path("async-uploads/", include(registry.get_url_patterns())) to your URLconf.'
        ) from e


def download_redirect_query(field_id: str, instance_id: Any, name: str) -> str:
    """Return the query of a ``DownloadRedirectView`` URL: what ``urlencode()`` makes of the three values."""
    # Changes when the file changes, so caches see a new URL, without revealing the name.
    digest = blake2b(name.encode(), digest_size=8).hexdigest()
    return f"field_id={quote_plus(field_id)}&instance_id={quote_plus(str(instance_id))}&_={digest}"


class FieldFileMixin:
    instance: models.Model
    field: AsyncFileMixin
    name: str | None

    def _check_url(self) -> str:
        if not self.name:
            raise ValueError(f"The '{self.field.name}' attribute has no file associated with it.")
        if self.instance.pk is None:
            raise ValueError(f"Save the {self.instance._meta.object_name} before asking for its file's URL.")
        return self.name

    @property
    def url(self) -> str:
        """Return the permission-checked download URL (``DownloadRedirectView``) of this file."""
        name = self._check_url()
        registry = self.field.async_field_registry
        base = download_redirect_base(registry)
        return f"{base}?{download_redirect_query(registry.generate_id(self.field), self.instance.pk, name)}"


class AsyncFieldFile(FieldFileMixin, FieldFile):  # type: ignore[misc]
    pass


class AsyncImageFieldFile(FieldFileMixin, ImageFieldFile):  # type: ignore[misc]
    pass


class _AcceptInputMixin:
    field: Any

    def _accept(self, instance: models.Model, value: Any) -> Any:
        refused = instance.__dict__.get(REFUSED_VALUES_ATTR)
        if refused:
            refused.pop(self.field.name, None)  # a new value replaces a refused one
        if isinstance(value, RawFileInput):
            # An API value (GraphQL): a refusal is kept and raised by full_clean() with the errors
            # of the other fields, so the client sees every field error in one answer.
            try:
                return accept_input(self.field, instance, value.to_input_data(self.field))
            except UploadRejected as e:
                errors = refusal_errors(e)
                instance.__dict__.setdefault(REFUSED_VALUES_ATTR, {})[self.field.name] = errors
                key = value.values.get("key") if isinstance(value.values, dict) else None
                return RefusedKey(key if isinstance(key, str) and key and is_text(key) else "refused")
        if isinstance(value, AsyncFileInputData):
            value = accept_input(self.field, instance, value)
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        super().__set__(instance, self._accept(instance, value))  # type: ignore[misc]


class AsyncFileDescriptor(_AcceptInputMixin, FileDescriptor):
    """Turn an assigned :class:`AsyncFileInputData` into its validated key."""


class AsyncImageDescriptor(_AcceptInputMixin, ImageFileDescriptor):
    """Like :class:`AsyncFileDescriptor`; client-sent width/height fill the dimension fields."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        value = self._accept(instance, value)
        previous = instance.__dict__.get(self.field.attname)
        FileDescriptor.__set__(self, instance, value)
        if isinstance(value, RefusedKey):
            return  # never measure (open) a refused key
        # ImageFileDescriptor updates the dimensions on every assignment after __init__, which
        # opens the image (a full download from a cloud storage) even when the value is the file
        # the field already holds: Model.full_clean() assigns every field back, and a client may
        # send the current key to keep it. Only a different file needs new dimensions.
        if previous is not None and getattr(previous, "name", previous) != getattr(value, "name", value):
            self.field.update_dimension_fields(instance, force=True)


class AsyncFileMixin:
    """Make a file field take uploads that went straight from the browser to its storage.

    The storage must be an :class:`~async_uploads.storage.base.AsyncUploadStorage`. A client asks
    :class:`~async_uploads.views.GenerateUploadUrlView` (checked against ``perm_update`` when it
    names a record, else ``perm_create``) for an upload URL and a temporary key, uploads, and
    submits ``{key, name}``; assigning that as :class:`AsyncFileInputData` validates the key, and
    saving the record moves the object to its permanent name (``upload_to`` applied, cut to
    ``max_length``). ``url`` is the permission-checked :class:`~async_uploads.views.DownloadRedirectView`
    URL (``perm_detail``). A permission of ``None`` lets everyone, including anonymous users, act.

    ``max_size`` is in MB (``None``: no limit). ``file_restrictions`` is one or a list of MIME
    types (``"image/png"``), wildcards (``"image/*"``) and extensions (``".doc"`` or ``"docx"``).
    ``download_params`` are passed to ``generate_download_url`` (e.g. ``{"expire": 60}``).
    """

    model: type[models.Model]
    name: str
    attname: str
    max_length: int | None
    storage: AsyncUploadStorage

    def __init__(
        self,
        *args: Any,
        perm_create: str | None = _UNSET,
        perm_update: str | None = _UNSET,
        perm_detail: str | None = _UNSET,
        max_size: int | float | None = default_max_size,
        file_restrictions: str | list[str] | tuple[str, ...] | None = None,
        async_field_registry: AsyncFieldRegistry = default_async_field_registry,
        max_length: int = default_max_length,
        download_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, max_length=max_length, **kwargs)  # type: ignore[call-arg]
        self._perm_create = perm_create
        self._perm_update = perm_update
        self._perm_detail = perm_detail
        self.max_size = max_size
        if isinstance(file_restrictions, str):
            file_restrictions = [file_restrictions]
        self.file_restrictions: list[str] = list(file_restrictions or [])
        self.async_field_registry = async_field_registry
        self._download_params = dict(download_params or {})

    # Permissions resolve when first used, so ASYNC_UPLOADS["RESOLVE_PERM_NAME"] is read lazily.
    def _perm(self, value: str | None, action: str) -> str | None:
        return resolve_perm_name(self.model, action) if value is _UNSET else value

    @property
    def perm_create(self) -> str | None:
        return self._perm(self._perm_create, "create")

    @property
    def perm_update(self) -> str | None:
        return self._perm(self._perm_update, "update")

    @property
    def perm_detail(self) -> str | None:
        return self._perm(self._perm_detail, "detail")

    #: alliance-platform-storage's name for the permission checked before a download.
    perm_download = perm_detail

    @property
    def download_params(self) -> dict[str, Any]:
        return self._download_params

    @property
    def max_size_bytes(self) -> int | None:
        """``max_size`` in bytes, or ``None`` for no limit."""
        if self.max_size is None:
            return None
        return int(self.max_size * 1024 * 1024)

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)  # type: ignore[misc]
        if not cls._meta.abstract:
            self.async_field_registry.register_field(self)

    def is_valid_filetype(self, filename: str, content_type: str | None = None) -> bool:
        """Return whether ``filename`` (and, when given, ``content_type``) satisfy ``file_restrictions``.

        The rule is :func:`async_uploads.restrictions.filename_allowed`, the one verification
        applies too: with a ``content_type``, a MIME restriction must match it as well as the type
        guessed from the name, so renaming ``evil.exe`` to ``evil.png`` does not get past
        ``"image/*"``; active types (HTML, SVG, …) need an entry that names them exactly.
        """
        return restrictions.filename_allowed(self.file_restrictions, filename, content_type)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)  # type: ignore[misc]
        errors.extend(self._check_async_storage())
        errors.extend(self._check_async_options())
        return errors

    def _check_async_storage(self) -> list[checks.CheckMessage]:
        if isinstance(self.storage, AsyncUploadStorage):
            if self.max_length:
                needed = len(self.storage.generate_temporary_path("x", max_length=None)) + 8
                if self.max_length < needed:
                    return [
                        checks.Error(
                            f"max_length={self.max_length} leaves no room for temporary keys.",
                            hint=f"Use max_length of at least {needed} (the default is {default_max_length}).",
                            obj=self,
                            id="async_uploads.E003",
                        )
                    ]
            return []
        return [
            checks.Error(
                f"{type(self).__name__} needs an AsyncUploadStorage, but its storage is "
                f"{type(self.storage).__module__}.{type(self.storage).__qualname__}.",
                hint="Pass storage=FileSystemAsyncUploadStorage() (or the S3 / Azure one), or make one "
                'of them the "default" entry of STORAGES.',
                obj=self,
                id="async_uploads.E001",
            )
        ]

    def _check_async_options(self) -> list[checks.CheckMessage]:
        errors: list[checks.CheckMessage] = []
        if self.max_size is not None and (
            isinstance(self.max_size, bool) or not isinstance(self.max_size, int | float) or self.max_size <= 0
        ):
            errors.append(
                checks.Error(
                    f"max_size must be a positive number of MB or None, got {self.max_size!r}.",
                    obj=self,
                    id="async_uploads.E004",
                )
            )
        bad = [r for r in self.file_restrictions if not isinstance(r, str) or not r.strip()]
        if bad:
            errors.append(
                checks.Error(
                    f"file_restrictions entries must be MIME types, wildcards or extensions, got {bad!r}.",
                    obj=self,
                    id="async_uploads.E005",
                )
            )
        return errors

    def validate(self, value: Any, model_instance: models.Model | None) -> None:
        """Raise the refusal of a client value assigned to this field (see ``REFUSED_VALUES_ATTR``)."""
        refused = model_instance.__dict__.get(REFUSED_VALUES_ATTR) if model_instance is not None else None
        if refused and self.name in refused:
            raise ValidationError(refused[self.name])
        super().validate(value, model_instance)  # type: ignore[misc]

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # A save without full_clean() must not store a refused key either.
        refused = model_instance.__dict__.get(REFUSED_VALUES_ATTR)
        if refused and self.name in refused:
            errors = refused[self.name]
            raise UploadRejected({self.name: errors}, code=errors[0].code or ErrorCode.INVALID_KEY)
        return super().pre_save(model_instance, add)  # type: ignore[misc]

    def before_process_file(self, instance: models.Model) -> None:
        """Hook: called before a temporary key of ``instance`` is claimed on save."""

    def before_move_file(self, instance: models.Model) -> None:
        """Hook: called before the object of ``instance`` is moved to its permanent name."""

    def formfield(self, **kwargs: Any) -> Any:
        from async_uploads import forms

        form_class = forms.AsyncImageField if isinstance(self, models.ImageField) else forms.AsyncFileField
        widget = kwargs.get("widget")
        if widget is not None and not (
            isinstance(widget, forms.AsyncFileInput)
            or (isinstance(widget, type) and issubclass(widget, forms.AsyncFileInput))
        ):
            kwargs.pop("widget")  # e.g. the admin's AdminFileWidget: it posts bytes, not a key
        return super().formfield(  # type: ignore[misc]
            **{
                "form_class": form_class,
                "async_field_id": self.async_field_registry.generate_id(self),
                "async_field_registry": self.async_field_registry,
                "storage": self.storage,
                **kwargs,
            }
        )


class AsyncFileField(AsyncFileMixin, models.FileField):  # type: ignore[misc]
    """A ``FileField`` whose uploads go straight from the browser to an :class:`AsyncUploadStorage`.

    See :class:`AsyncFileMixin` for how it works.
    """

    attr_class = AsyncFieldFile
    descriptor_class = AsyncFileDescriptor


class AsyncImageField(AsyncFileMixin, models.ImageField):  # type: ignore[misc]
    """An ``ImageField`` whose uploads go straight from the browser to an :class:`AsyncUploadStorage`.

    ``width_field`` / ``height_field`` are filled when a key is assigned, from the width and height
    the client submits or, without them, from the image header read when the upload is verified.
    A plain name assigned to an existing record is measured by opening the image, as ``ImageField``
    does; loading a record, or assigning the file it already holds, never opens it.
    ``suppress_pillow_check=True`` silences the check that Pillow is installed.
    """

    attr_class = AsyncImageFieldFile
    descriptor_class = AsyncImageDescriptor

    def __init__(self, *args: Any, suppress_pillow_check: bool = False, **kwargs: Any):
        self._suppress_pillow_check = suppress_pillow_check
        super().__init__(*args, **kwargs)

    def _check_image_library_installed(self) -> list[checks.CheckMessage]:
        if self._suppress_pillow_check:
            return []
        return super()._check_image_library_installed()  # type: ignore[misc]

    def update_dimension_fields(self, instance: models.Model, force: bool = False, *args: Any, **kwargs: Any) -> None:
        """Fill the dimension fields from client-sent values when there are some, else as ImageField does.

        Only when a file is assigned: loading a record never reads its image or its deferred
        dimension columns.
        """
        pending = instance.__dict__.get(PENDING_DIMENSIONS_ATTR) or {}
        dims = pending.pop(self.name, None)
        if dims is not None and self.attname in instance.__dict__:
            width, height = dims
            width_field: str | None = getattr(self, "width_field", None)
            height_field: str | None = getattr(self, "height_field", None)
            if width_field:
                setattr(instance, width_field, width)
            if height_field:
                setattr(instance, height_field, height)
            return
        if not force and self.name not in (instance.__dict__.get(PENDING_MOVES_ATTR) or {}):
            # Loading a record (post_init, no file just assigned): ImageField would open the image
            # from storage whenever a dimension column is empty (a download per record on S3 or Azure), and would read
            # deferred columns one query each (a query optimizer's only("image")). Neither: the
            # columns are filled when a file is assigned, from the client's or the verified sizes.
            return
        super().update_dimension_fields(instance, force, *args, **kwargs)


def async_fields_of(model: type[models.Model]) -> list[AsyncFileMixin]:
    """Return the concrete async file fields of ``model``, inherited ones included."""
    fields = model._meta.__dict__.get("_async_upload_fields")
    if fields is None:
        fields = [f for f in model._meta.concrete_fields if isinstance(f, AsyncFileMixin)]
        if model._meta.apps.ready:  # the field list is final only once the app registry is
            model._meta.__dict__["_async_upload_fields"] = fields
    return fields
