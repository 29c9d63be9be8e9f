from django.contrib import admin
from django.urls import include, path

from async_uploads.registry import default_async_field_registry
from tests.cloudapp.models import cloud_registry
from tests.testapp.models import other_registry

urlpatterns = [
    path("admin/", admin.site.urls),
    path("async-uploads/", include(default_async_field_registry.get_url_patterns())),
    path("other-uploads/", include(other_registry.get_url_patterns())),
    path("cloud-uploads/", include(cloud_registry.get_url_patterns())),
]
