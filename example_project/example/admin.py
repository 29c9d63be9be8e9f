from django.contrib import admin

from example.models import Document, Photo

admin.site.register(Document)
admin.site.register(Photo, readonly_fields=["width", "height"])
