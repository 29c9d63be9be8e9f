from alliance_platform.storage.async_uploads.registry import default_async_field_registry as ref_registry
from django.http import HttpResponse
from django.urls import include, path

from async_uploads.registry import default_async_field_registry as ours_registry


def ping(request):
    return HttpResponse("ok")


urlpatterns = [
    path("ping/", ping),
    # Ours: namespaced "async_uploads:*".
    path("async-uploads/", include(ours_registry.get_url_patterns())),
    # Reference: un-namespaced (its storage reverses "file_system_async_storage_upload").
    path("ref-uploads/", include(ref_registry.get_url_patterns())),
]
