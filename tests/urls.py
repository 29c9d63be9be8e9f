from django.contrib import admin
from django.urls import include, path

from async_uploads.graphql.views import AsyncGraphQLView, GraphQLView
from async_uploads.registry import default_async_field_registry
from tests.cloudapp.models import cloud_registry
from tests.testapp.models import other_registry
from tests.testapp.schema import schema

urlpatterns = [
    path("admin/", admin.site.urls),
    path("async-uploads/", include(default_async_field_registry.get_url_patterns())),
    path("other-uploads/", include(other_registry.get_url_patterns())),
    path("graphql/", GraphQLView.as_view(schema=schema), name="graphql"),
    path("graphql-async/", AsyncGraphQLView.as_view(schema=schema), name="graphql-async"),
    path("cloud-uploads/", include(cloud_registry.get_url_patterns())),
    path("drf/", include("tests.drf_urls")),
]
