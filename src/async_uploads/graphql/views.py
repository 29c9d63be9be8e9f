"""strawberry's Django views, answering a malformed request body with a 400 instead of a 500.

strawberry decodes a body that is not UTF-8 without catching ``UnicodeDecodeError``, and a body
that is JSON but not an object (``123``, ``"x"``) raises ``AttributeError``: both are server
errors with a traceback (a large page when ``DEBUG`` is on). These views check the body first
and answer ``400`` with one short plain-text line. Use them where you would use
``strawberry.django.views.GraphQLView`` / ``AsyncGraphQLView``::

    from async_uploads.graphql.views import GraphQLView

    path("graphql/", GraphQLView.as_view(schema=schema), name="graphql")
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cross_web import HTTPException
from strawberry.django import views as strawberry_views
from strawberry.http.parse_content_type import parse_content_type

if TYPE_CHECKING:
    from cross_web import AsyncHTTPRequestAdapter, SyncHTTPRequestAdapter

__all__ = ["AsyncGraphQLView", "GraphQLView", "check_json_body"]

NOT_UTF8 = "The request body is not valid UTF-8; send the JSON encoded as UTF-8."
NOT_JSON = "The request body is not valid JSON."
TOO_DEEP = "The request body's JSON is nested too deeply."
NOT_AN_OPERATION = 'The request body must be a JSON object ({"query": ..., "variables": {...}}), or a list of them.'


def _is_json(content_type: str | None) -> bool:
    # The test strawberry uses to pick its JSON parser; it answers other content types itself.
    media_type, _ = parse_content_type(content_type or "")
    return "application/json" in media_type


def check_json_body(content_type: str | None, body: str | bytes) -> None:
    """Raise a 400 ``HTTPException`` unless a JSON ``body`` is UTF-8 JSON holding an operation (or a list)."""
    if not _is_json(content_type):
        return
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as e:
        raise HTTPException(400, NOT_UTF8) from e
    try:
        data = json.loads(text)
    except RecursionError as e:
        raise HTTPException(400, TOO_DEEP) from e
    except ValueError as e:
        raise HTTPException(400, NOT_JSON) from e
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise HTTPException(400, NOT_AN_OPERATION)


class GraphQLView(strawberry_views.GraphQLView):
    """strawberry's ``GraphQLView``; a body that is not UTF-8 JSON holding an operation gets a 400."""

    def parse_http_body(self, request: SyncHTTPRequestAdapter) -> Any:
        if request.method == "POST" and _is_json(request.content_type):
            try:
                body = request.body  # strawberry's Django adapter decodes the bytes as UTF-8
            except UnicodeDecodeError as e:
                raise HTTPException(400, NOT_UTF8) from e
            check_json_body(request.content_type, body)
        return super().parse_http_body(request)


class AsyncGraphQLView(strawberry_views.AsyncGraphQLView):
    """strawberry's ``AsyncGraphQLView``; a body that is not UTF-8 JSON holding an operation gets a 400."""

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> Any:
        if request.method == "POST" and _is_json(request.content_type):
            check_json_body(request.content_type, await request.get_body())
        return await super().parse_http_body(request)
