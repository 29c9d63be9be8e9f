from django.contrib import admin
from django.urls import include, path

from async_uploads.graphql.views import GraphQLView
from async_uploads.registry import default_async_field_registry
from example import views
from example.schema import schema

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    path("graphql/", GraphQLView.as_view(schema=schema, graphql_ide="graphiql"), name="graphql"),
    path("async-uploads/", include(default_async_field_registry.get_url_patterns())),
]
