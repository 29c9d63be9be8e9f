from alliance_platform.storage.async_uploads.registry import default_async_field_registry as seed_registry
from django.urls import include, path

from async_uploads.registry import default_async_field_registry

urlpatterns = [
    path("async-uploads/", include(default_async_field_registry.get_url_patterns())),
    path("seed-uploads/", include(seed_registry.get_url_patterns())),
]
