"""The test project's URLs plus what the Uppy browser test needs (tests/test_browser_uppy.py).

``graphql-cloud/`` serves a schema with the multipart fields of the cloud registry (the S3
models of ``tests.cloudapp``), wired as docs/large-files.md tells a project to; ``uppy/`` is a
page that loads the Uppy bundle built from ``tests/uppy`` and runs the code of the doc's Uppy
section, same-origin with the API so the session cookie and the CSRF token apply.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import strawberry
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import path

from async_uploads.graphql import (
    abort_multipart_upload,
    complete_multipart_upload,
    sign_upload_parts,
    start_multipart_upload,
    uploaded_parts,
)
from async_uploads.graphql.views import GraphQLView
from tests.cloudapp.models import cloud_registry
from tests.urls import urlpatterns as base_urlpatterns

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "tests" / "uppy" / "dist" / "uppy.js"
DOC = ROOT / "docs" / "large-files.md"


@strawberry.type
class Query:
    uploaded_parts = uploaded_parts(cloud_registry)


@strawberry.type
class Mutation:
    start_multipart_upload = start_multipart_upload(cloud_registry)
    sign_upload_parts = sign_upload_parts(cloud_registry)
    complete_multipart_upload = complete_multipart_upload(cloud_registry)
    abort_multipart_upload = abort_multipart_upload(cloud_registry)


cloud_schema = strawberry.Schema(query=Query, mutation=Mutation)


def doc_snippet() -> str:
    """The first ``js`` block of the doc's "Uppy" section: the code the page runs."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Uppy\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```js\n(.*?)```", section, re.S)
    assert found is not None, "docs/large-files.md: the Uppy section has no js block"
    return found.group(1)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Uppy</title></head>
<body data-csrf-token="{token}">
<script src="/uppy/uppy.js"></script>
<script>
{snippet}
</script>
</body></html>
"""


def uppy_page(request: HttpRequest) -> HttpResponse:
    # get_token sets the csrftoken cookie too.
    return HttpResponse(PAGE.format(token=html.escape(get_token(request)), snippet=doc_snippet()))


def uppy_bundle(request: HttpRequest) -> FileResponse:
    if not BUNDLE.exists():
        raise Http404("tests/uppy/dist/uppy.js is not built")
    return FileResponse(BUNDLE.open("rb"), content_type="text/javascript")


urlpatterns = [
    path("graphql-cloud/", GraphQLView.as_view(schema=cloud_schema), name="graphql-cloud"),
    path("uppy/", uppy_page, name="uppy-page"),
    path("uppy/uppy.js", uppy_bundle, name="uppy-bundle"),
    *base_urlpatterns,
]
