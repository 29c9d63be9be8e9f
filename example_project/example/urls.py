from django.contrib import admin
from django.urls import include, path

from async_uploads.registry import default_async_field_registry
from example import views

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    path("async-uploads/", include(default_async_field_registry.get_url_patterns())),
]
