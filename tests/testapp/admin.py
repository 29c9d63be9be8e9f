from django.contrib import admin

from async_uploads.admin import AsyncFileAdminMixin
from tests.testapp.models import Profile, ProfileAttachment


class ProfileAttachmentInline(AsyncFileAdminMixin, admin.TabularInline):
    model = ProfileAttachment
    extra = 0


@admin.register(Profile)
class ProfileAdmin(AsyncFileAdminMixin, admin.ModelAdmin):
    list_display = ["name", "resume", "avatar", "avatar_width", "avatar_height"]
    inlines = [ProfileAttachmentInline]
