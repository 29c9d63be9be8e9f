from typing import Any

from django.contrib import admin

from async_uploads.models import AsyncTempFile


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
