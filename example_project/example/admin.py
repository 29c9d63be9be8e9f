from django.contrib import admin

from async_uploads.admin import AsyncFileAdminMixin
from example.models import Document, Photo


# The admin's forms upload through the async widget: a picked file goes straight to storage with
# a progress bar, and the form submits its key. The mixin gives the forms the request, which is
# how a submitted key is checked against the user it was issued to.
@admin.register(Document)
class DocumentAdmin(AsyncFileAdminMixin, admin.ModelAdmin):
    list_display = ["title", "attachment", "created_at"]


@admin.register(Photo)
class PhotoAdmin(AsyncFileAdminMixin, admin.ModelAdmin):
    list_display = ["caption", "image", "width", "height"]
    readonly_fields = ["width", "height"]
