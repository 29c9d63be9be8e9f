from django.contrib import admin
from django.urls import include, path

from async_uploads.registry import default_async_field_registry
from example import views
from example.graphiql import OfflineGraphiQLView, graphiql_script
from example.schema import schema

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    # GraphiQL from this server's static files (example/graphiql.py), not from a CDN.
    path("graphql/", OfflineGraphiQLView.as_view(schema=schema, graphql_ide="graphiql"), name="graphql"),
    path("graphql/graphiql.js", graphiql_script, name="graphiql-script"),
    path("async-uploads/", include(default_async_field_registry.get_url_patterns())),
]
