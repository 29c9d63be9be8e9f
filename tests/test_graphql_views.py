"""async_uploads.graphql.views: a malformed request body is a short 400, never a 500 with a traceback.

Real requests through Django's test client to the sync view (``/graphql/``) and, through ASGI, the
async view (``/graphql-async/``) of tests/urls.py. The client re-raises a view's exception, so a
server error fails the test instead of passing as a 500.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from tests.testapp.models import Document

pytestmark = pytest.mark.django_db

PATHS = {"sync": "/graphql/", "async": "/graphql-async/"}

BAD_BODIES = [
    pytest.param(b'{"query": "{ __typename }", "title": "caf\xe9"}', "not valid UTF-8", id="latin-1 byte"),
    pytest.param(b"\xff\xfe{\x00}\x00", "not valid UTF-8", id="UTF-16 with a BOM"),
    pytest.param(b"\xc3", "not valid UTF-8", id="truncated sequence"),
    pytest.param(b"not json", "not valid JSON", id="not JSON"),
    pytest.param(b"123", "must be a JSON object", id="a number"),
    pytest.param(b'"{ __typename }"', "must be a JSON object", id="a string"),
    pytest.param(b"null", "must be a JSON object", id="null"),
    pytest.param(b'[{"query": "{ __typename }"}, 1]', "must be a JSON object", id="a list holding a number"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="deeply nested"),
]


def post(mode: str, body: bytes, content_type: str = "application/json"):
    if mode == "sync":
        return Client().post(PATHS[mode], body, content_type=content_type)
    return async_to_sync(AsyncClient().post)(PATHS[mode], body, content_type=content_type)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("body", "says"), BAD_BODIES)
def test_a_malformed_body_is_a_short_400(mode, body, says):
    response = post(mode, body)
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert says in text
    assert len(text) < 200, text
    assert "Traceback" not in text and "File " not in text


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_malformed_mutation_body_writes_nothing(mode, user):
    query = 'mutation { createDocument(data: {title: "caf\xe9"}) { __typename } }'.encode("latin-1")
    sync_client = Client()
    sync_client.force_login(user)
    payload = b'{"query": "' + query.replace(b'"', b'\\"') + b'"}'
    if mode == "sync":
        response = sync_client.post(PATHS[mode], payload, content_type="application/json")
    else:
        client = AsyncClient()
        client.cookies = sync_client.cookies
        response = async_to_sync(client.post)(PATHS[mode], payload, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert Document.objects.count() == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_well_formed_body_still_runs(mode):
    response = post(mode, '{"query": "{ __typename }", "variables": {"x": "café"}}'.encode())
    assert response.status_code == 200, response.content
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_other_content_types_keep_strawberrys_answer(mode):
    response = post(mode, b"\xff", content_type="text/plain")
    assert response.status_code == 400
    assert response.content == b"Unsupported content type"
