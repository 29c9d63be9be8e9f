"""The test project's URLs plus what the Uppy browser test needs (tests/test_browser_uppy.py).

``graphql-cloud/`` serves a schema with the multipart fields of the cloud registry (the S3
models of ``tests.cloudapp``), wired as docs/large-files.md tells a project to. ``uppy/6/`` and
``uppy/5/`` are pages that load the Uppy bundle built from ``tests/uppy`` (Uppy 6) or
``tests/uppy5`` (Uppy 5) and run that version's code from the doc's Uppy section, same-origin
with the API so the session cookie and the CSRF token apply.
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
DOC = ROOT / "docs" / "large-files.md"
#: Uppy's major version -> the npm package directory of its bundle and the doc's function for it.
VERSIONS = {
    "6": (ROOT / "tests" / "uppy", "asyncUploadsSignRequestOptions"),
    "5": (ROOT / "tests" / "uppy5", "asyncUploadsS3Options"),
}


def bundle(version: str) -> Path:
    return VERSIONS[version][0] / "dist" / "uppy.js"


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


def doc_snippet(function: str) -> str:
    """The ``js`` block of the doc's "Uppy" section that defines ``function``: the code the page runs."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Uppy\n", 1)[1].split("\n## ", 1)[0]
    for block in re.findall(r"```js\n(.*?)```", section, re.S):
        if f"function {function}(" in block:
            return str(block)
    raise AssertionError(f"docs/large-files.md: no js block of the Uppy section defines {function}()")


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Uppy</title></head>
<body data-csrf-token="{token}">
<script src="/uppy/{version}/uppy.js"></script>
<script>
{snippet}
window.asyncUploadsOptions = {function};
</script>
</body></html>
"""


def uppy_page(request: HttpRequest, version: str) -> HttpResponse:
    if version not in VERSIONS:
        raise Http404(f"no Uppy {version}")
    function = VERSIONS[version][1]
    # get_token sets the csrftoken cookie too.
    token = html.escape(get_token(request))
    return HttpResponse(PAGE.format(token=token, version=version, snippet=doc_snippet(function), function=function))


def uppy_bundle(request: HttpRequest, version: str) -> FileResponse:
    if version not in VERSIONS or not bundle(version).exists():
        raise Http404(f"no bundle of Uppy {version}")
    return FileResponse(bundle(version).open("rb"), content_type="text/javascript")


urlpatterns = [
    path("graphql-cloud/", GraphQLView.as_view(schema=cloud_schema), name="graphql-cloud"),
    path("uppy/<str:version>/", uppy_page, name="uppy-page"),
    path("uppy/<str:version>/uppy.js", uppy_bundle, name="uppy-bundle"),
    *base_urlpatterns,
]
