"""Django form fields and the widget for async uploads."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.urls import NoReverseMatch, reverse
from django.utils.deconstruct import deconstructible

from async_uploads.codes import ErrorCode
from async_uploads.conf import app_settings
from async_uploads.fields import AsyncFileMixin
from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from async_uploads.names import safe_basename
from async_uploads.registry import AsyncFieldRegistry
from async_uploads.storage.base import AsyncUploadStorage

__all__ = [
    "AsyncFileField",
    "AsyncFileFormMixin",
    "AsyncFileInput",
    "AsyncFileInputData",
    "AsyncFileInputDataLengthValidator",
    "AsyncFileInputDataValidator",
    "AsyncImageField",
]


class AsyncFileInput(forms.Widget):
    """The widget of async file fields: it submits ``{"key", "name", "width"?, "height"?}`` as JSON.

    Its script (``async_uploads/async-file-input.js``, in the widget's media) uploads a picked file
    straight to storage with a progress bar before the form is submitted. Override the template
    ``async_uploads/widgets/async_file_input.html`` to change its markup.
    """

    template_name = "async_uploads/widgets/async_file_input.html"
    storage: AsyncUploadStorage | None = None

    class Media:
        js = ["async_uploads/async-file-input.js"]
        css = {"all": ["async_uploads/async-file-input.css"]}

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        registry: AsyncFieldRegistry | None = widget_attrs.pop("async_field_registry", None)
        if registry is None:
            raise ValueError("AsyncFileInput needs an 'async_field_registry' in its attrs.")
        try:
            widget_attrs["data-generate-upload-url"] = reverse(f"{registry.url_namespace}:generate-upload-url")
        except NoReverseMatch as e:
            raise NoReverseMatch(
                f"The URLs of {registry} are not installed; include registry.get_url_patterns() in your URLconf."
            ) from e
        widget_attrs["data-async-field-id"] = widget_attrs.pop("async_field_id", "")
        storage = self.storage
        if storage is not None and storage.capabilities.multipart:
            # Read at render time, so a settings change (or a test override) takes effect at once.
            try:
                endpoints = {
                    f"data-multipart-{op}": reverse(f"{registry.url_namespace}:multipart-{op}")
                    for op in ("start", "sign", "parts", "complete", "abort")
                }
            except NoReverseMatch:
                endpoints = {}  # a URLconf without the views in parts: the widget sends single uploads
            if endpoints:
                widget_attrs.update(endpoints)
                widget_attrs["data-multipart-threshold"] = str(app_settings.MULTIPART_THRESHOLD)
                widget_attrs["data-multipart-concurrency"] = str(app_settings.MULTIPART_CONCURRENCY)
        context["widget"]["file"] = _displayed_file(context["widget"]["value"])
        return context

    def format_value(self, value: Any) -> str | None:
        """Return the JSON the browser side expects: ``{"key", "name", "url"?}``."""
        if not value:
            return None
        if isinstance(value, AsyncFileInputData):
            # A submission that failed validation elsewhere re-renders with the uploaded key.
            temp_file = AsyncTempFile.get_by_key(value.key)
            name = temp_file.original_filename if temp_file else value.name
            data: dict[str, Any] = {"key": value.key, "name": name}
            if value.width and value.height:
                data.update(width=value.width, height=value.height)
            return json.dumps(data)
        if isinstance(value, str):
            return json.dumps({"key": value, "name": safe_basename(value)})
        try:
            url = value.url
        except Exception:
            url = None  # the URL only serves a preview; the widget works without it
        name = safe_basename(value.name)
        storage = getattr(value, "storage", None)
        if isinstance(storage, AsyncUploadStorage) and storage.is_temporary_path(value.name):
            # Saved, but its move (a background task) has not finished: served from the temporary
            # key meanwhile, unless the task has yet to verify it.
            temp_file = AsyncTempFile.get_by_key(value.name)
            if temp_file is not None:
                name = safe_basename(temp_file.original_filename)
                if temp_file.verification_pending:
                    url = None
            return json.dumps({"key": value.name, "name": name, "url": url, "pending": True})
        return json.dumps({"key": value.name, "name": name, "url": url})

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        """Return the submitted JSON as :class:`AsyncFileInputData`, or the raw text when it is malformed.

        A missing value gives ``None`` (no change); an empty one (``""``, ``null``) gives ``""``,
        which clears the file.
        """
        value = data.get(name)
        if value is None:
            return None
        if not value:
            return ""
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError, RecursionError):
            return value
        if not parsed:
            return ""
        try:
            return AsyncFileInputData.create_from_user_input(parsed)
        except ValidationError:
            return value

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data


def _displayed_file(value: Any) -> dict[str, Any] | None:
    """Return ``{"name", "url"}`` of the file a formatted value names, for the template."""
    if not value:
        return None
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None  # malformed input re-rendered after a failed submission
    if not isinstance(data, dict) or not data.get("key"):
        return None
    return {
        "name": data.get("name") or safe_basename(str(data["key"])),
        "url": data.get("url"),
        "pending": bool(data.get("pending")),
    }


class AsyncFileInputDataLengthValidator(validators.MaxLengthValidator):
    """Check the length of the submitted key (what the database column stores)."""

    def clean(self, x: Any) -> int:
        if isinstance(x, AsyncFileInputData):
            return len(x.key)
        return len(x)


@deconstructible
class AsyncFileInputDataValidator:
    """Reject malformed submissions and uploads the browser reported as failed."""

    def __call__(self, value: Any) -> None:
        if not isinstance(value, AsyncFileInputData):
            raise ValidationError("Bad input for a file field.", code=ErrorCode.INVALID_INPUT)
        if value.error:
            raise ValidationError(
                "The upload failed: %(error)s", code=ErrorCode.INVALID_INPUT, params={"error": value.error}
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncFileInputDataValidator)

    def __hash__(self) -> int:
        return hash(type(self))


class AsyncFileFormMixin:
    """Give a form's async file fields the request, so each key is checked against its uploader.

    Use it on any form with async file fields and pass ``request=`` when you make the form::

        class DocumentForm(AsyncFileFormMixin, forms.ModelForm): ...

        form = DocumentForm(request.POST, instance=doc, request=request)

    Without the request, submitted temporary keys are refused (nobody could tell who uploaded them).
    For a bound instance, its widgets ask for upload URLs with the record's id, so ``perm_update``
    is checked and the keys are issued for this record.
    """

    cleaned_data: dict[str, Any]
    fields: dict[str, forms.Field]
    #: The request used when none is passed (set by :class:`~async_uploads.admin.AsyncFileAdminMixin`).
    async_uploads_request: Any = None
    #: Set by the admin for "Save as new": the original record's files cannot be shared with the copy.
    async_uploads_save_as_new: bool = False

    def __init__(self, *args: Any, request: Any = None, **kwargs: Any):
        request = request if request is not None else self.async_uploads_request
        # Kept apart from ``self.request``: a form class of your own may set that attribute too
        # (to None when it was given no request) after this mixin took the keyword.
        self._async_uploads_request = request
        self.request = request
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        if instance is not None and instance.pk is not None and not instance._state.adding:
            for form_field in self.fields.values():
                if isinstance(form_field.widget, AsyncFileInput):
                    form_field.widget.attrs["data-instance-id"] = str(instance.pk)

    def _clean_fields(self) -> None:
        super()._clean_fields()  # type: ignore[misc]
        instance = getattr(self, "instance", None)
        for name, value in list(self.cleaned_data.items()):
            if not isinstance(value, AsyncFileInputData):
                continue
            value.request = self._async_uploads_request or getattr(self, "request", None)
            model_field = _async_model_field(instance, name)
            if model_field is None:
                continue
            if self.async_uploads_save_as_new and not model_field.storage.is_temporary_path(value.key):
                self.add_error(  # type: ignore[attr-defined]
                    name,
                    ValidationError(
                        "Save as new cannot share the original record's file with the copy: "
                        "upload the file again, or remove it.",
                        code=ErrorCode.INVALID_KEY,
                    ),
                )
                continue
            # Check each key now, so every refused field gets its error: the model form assigns
            # fields one by one and stops at the first refusal. The descriptor checks again on
            # assignment (the storage is not asked twice).
            try:
                value.validate_key(model_field, instance.__dict__.get(model_field.attname), instance=instance)
            except ValidationError as e:
                self.add_error(None, e)  # type: ignore[attr-defined]


def _async_model_field(instance: Any, name: str) -> Any:
    """Return the async model field ``name`` of ``instance``'s model, or ``None``."""
    if instance is None or not hasattr(instance, "_meta"):
        return None
    try:
        model_field = instance._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return model_field if isinstance(model_field, AsyncFileMixin) else None


class AsyncFileField(forms.Field):
    """Form field of :class:`async_uploads.models.AsyncFileField`, rendered as :class:`AsyncFileInput`."""

    widget = AsyncFileInput

    def __init__(
        self,
        *args: Any,
        async_field_registry: AsyncFieldRegistry,
        async_field_id: str,
        storage: AsyncUploadStorage,
        max_length: int | None = None,
        **kwargs: Any,
    ):
        self.async_field_registry = async_field_registry
        self.async_field_id = async_field_id
        self.max_length = max_length
        kwargs.pop("allow_empty_file", None)
        super().__init__(*args, **kwargs)
        self.widget.storage = storage
        if max_length is not None:
            self.validators.append(AsyncFileInputDataLengthValidator(int(max_length)))
        self.validators.append(AsyncFileInputDataValidator())

    def clean(self, value: Any) -> Any:
        if self.disabled:
            return None  # None leaves the file as it is (FileField.save_form_data)
        return super().clean(value)

    def to_python(self, value: Any) -> Any:
        # "" clears the file (FileField.save_form_data); None leaves it as it is.
        if value in self.empty_values:
            return "" if value == "" else None
        return value

    def bound_data(self, data: Any, initial: Any) -> Any:
        # An upload the browser reported as failed is refused (the form says so); the re-rendered
        # widget then offers the current file again, not the key that never received one.
        if isinstance(data, AsyncFileInputData) and data.error:
            return initial
        return super().bound_data(data, initial)

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        initial_key = (getattr(initial, "name", initial) or None) if initial else None
        if isinstance(data, AsyncFileInputData):
            return initial_key != data.key
        if data:
            return True  # malformed input counts as a change, so it gets validated
        return initial_key is not None

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs["async_field_registry"] = self.async_field_registry
        attrs["async_field_id"] = self.async_field_id
        return attrs


class AsyncImageField(AsyncFileField):
    """Form field of :class:`async_uploads.models.AsyncImageField`; the widget sends width and height."""

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.setdefault("accept", "image/*")
        attrs.setdefault("data-image", "true")
        return attrs
