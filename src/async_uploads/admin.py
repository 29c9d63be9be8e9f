"""Admin for the temporary-file table, and the mixin that makes async fields editable in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from async_uploads.forms import AsyncFileFormMixin
from async_uploads.models import AsyncTempFile

__all__ = ["AsyncFileAdminMixin", "AsyncTempFileAdmin"]


def _with_request(form_class: type, request: Any) -> type:
    """Return ``form_class`` bound to ``request`` (a subclass made for this request)."""
    bases = (form_class,) if issubclass(form_class, AsyncFileFormMixin) else (AsyncFileFormMixin, form_class)
    attrs = {
        "async_uploads_request": request,
        "async_uploads_save_as_new": request.method == "POST" and "_saveasnew" in request.POST,
        "__module__": form_class.__module__,
    }
    return type(form_class.__name__, bases, attrs)


class AsyncFileAdminMixin:
    """Let a ``ModelAdmin`` or an inline save async file fields uploaded through the widget.

    The admin makes its forms without the request, and without it a submitted upload key cannot be
    checked against its uploader (and is refused). This mixin gives each form the request::

        @admin.register(Document)
        class DocumentAdmin(AsyncFileAdminMixin, admin.ModelAdmin): ...

        class AttachmentInline(AsyncFileAdminMixin, admin.TabularInline): ...
    """

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        return _with_request(form, request)

    def get_formset(self, request: Any, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        formset.form = _with_request(formset.form, request)  # the formset class is made for this call
        return formset

    def get_changelist_form(self, request: Any, **kwargs: Any) -> Any:
        # list_editable: the changelist formset is built from this form
        return _with_request(super().get_changelist_form(request, **kwargs), request)  # type: ignore[misc]


@admin.register(AsyncTempFile)
class AsyncTempFileAdmin(admin.ModelAdmin):
    list_display = ("key", "content_type", "field_name", "created_at", "object_pk", "error_flag")
    list_filter = ("content_type", "field_name")
    search_fields = ("key", "original_filename", "moved_to_location")
    readonly_fields = [f.name for f in AsyncTempFile._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False  # keys are issued by the upload views, never typed in

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # a row is what lets cleanup and retries find the object; the commands remove rows

    @admin.display(boolean=True, description="move failed")
    def error_flag(self, obj: AsyncTempFile) -> bool:
        return bool(obj.error)
