from django.contrib import admin

from example.models import Document, Photo


# Files are uploaded through the async upload endpoints; the admin shows them with their
# permission-checked download links.
@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "attachment", "created_at"]
    readonly_fields = ["attachment"]


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ["caption", "image", "width", "height"]
    readonly_fields = ["image", "width", "height"]
