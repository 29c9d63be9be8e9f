from alliance_platform.storage.async_uploads.registry import default_async_field_registry as ref_registry
from django.http import HttpResponse, JsonResponse
from django.urls import include, path

from async_uploads.registry import default_async_field_registry as ours_registry


def ping(request):
    return HttpResponse("ok")


def floor_insert(request):
    """Rows 1f and 8f's floor, as a plain Django view: the session and user lookups and one INSERT."""
    from bench_project.graphql_schema import floor_insert_row

    return JsonResponse(floor_insert_row(request, request.POST.get("filename", "")))


urlpatterns = [
    path("ping/", ping),
    path("floor-insert/", floor_insert),
    # Ours: namespaced "async_uploads:*".
    path("async-uploads/", include(ours_registry.get_url_patterns())),
    # Reference: un-namespaced (its storage reverses "file_system_async_storage_upload").
    path("ref-uploads/", include(ref_registry.get_url_patterns())),
]


def _graphql_patterns() -> list:
    """The GraphQL endpoints of the GraphQL rows (run.py rows 8-8b and section 9)."""
    from strawberry.django.views import AsyncGraphQLView, GraphQLView

    from bench_project.graphql_schema import schema, schema_nocache, schema_noopt, schema_textcache

    return [
        path("graphql/", GraphQLView.as_view(schema=schema, graphql_ide=None)),
        path("graphql-nocache/", GraphQLView.as_view(schema=schema_nocache, graphql_ide=None)),
        path("graphql-noopt/", GraphQLView.as_view(schema=schema_noopt, graphql_ide=None)),
        path("graphql-textcache/", GraphQLView.as_view(schema=schema_textcache, graphql_ide=None)),
        path("graphql-async/", AsyncGraphQLView.as_view(schema=schema, graphql_ide=None)),
    ]


urlpatterns += _graphql_patterns()


def _drf_patterns() -> list:
    """The DRF endpoints of rows 10, 10m and 10u (bench_project/drf_api.py)."""
    from bench_project import drf_api

    return [
        path("drf/ours/documents/", drf_api.OursCreate.as_view()),
        path("drf/ours/documents/<int:pk>/", drf_api.OursUpdate.as_view()),
        path("drf/ours-plain/documents/", drf_api.OursPlainCreate.as_view()),
        path("drf/ref/documents/", drf_api.RefCreate.as_view()),
        path("drf/ref/documents/<int:pk>/", drf_api.RefUpdate.as_view()),
    ]


urlpatterns += _drf_patterns()
