"""Run GraphQL operations over HTTP through the sync view or the async view (ASGI), as a client would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import AsyncClient, Client


@dataclass
class GraphQLResult:
    status: int
    data: dict[str, Any] | None
    errors: list[dict[str, Any]] | None
    body: dict[str, Any]


class GraphQLClient:
    """Posts operations to ``/graphql/`` (``mode="sync"``) or ``/graphql-async/`` (``mode="async"``)."""

    def __init__(self, mode: str, user: User | None = None):
        self.mode = mode
        self.path = "/graphql/" if mode == "sync" else "/graphql-async/"
        self.client = Client() if mode == "sync" else AsyncClient()
        self.sync_client = Client()  # for the upload itself, which is not GraphQL
        if user is not None:
            self.login(user)

    def login(self, user: User) -> None:
        self.sync_client.force_login(user)
        # Share one session between the GraphQL client and the upload client.
        self.client.cookies = self.sync_client.cookies

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> GraphQLResult:
        payload = json.dumps({"query": query, "variables": variables or {}})
        if self.mode == "sync":
            response = self.client.post(self.path, payload, content_type="application/json")
        else:
            response = async_to_sync(self.client.post)(self.path, payload, content_type="application/json")
        assert response.status_code < 500, response.content
        body = json.loads(response.content)
        return GraphQLResult(response.status_code, body.get("data"), body.get("errors"), body)


# --------------------------------------------------------------------------------------------
# Operations and helpers shared by the GraphQL test modules
# --------------------------------------------------------------------------------------------

MESSAGES = "... on OperationInfo { messages { kind code field message } }"

ISSUE = f"""
mutation($input: GenerateUploadUrlInput!) {{
  generateUploadUrl(input: $input) {{
    __typename
    ... on IssuedUpload {{
      key
      upload {{ url method provider fileFieldName expiresAt fields {{ name value }} headers {{ name value }} }}
    }}
    {MESSAGES}
  }}
}}
"""


def issue(gql: GraphQLClient, field: str, filename: str, **extra: Any) -> dict[str, Any]:
    """Ask for an upload URL; return the ``generateUploadUrl`` payload (IssuedUpload or OperationInfo)."""
    result = gql.execute(ISSUE, {"input": {"field": field, "filename": filename, **extra}})
    assert result.errors is None, result.body
    assert result.data is not None, result.body
    return result.data["generateUploadUrl"]


def post_file(gql: GraphQLClient, issued: dict[str, Any], content: bytes, filename: str, content_type: str):
    """Upload ``content`` to an issued target through the real filesystem upload view."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = issued["upload"]
    assert upload["method"] == "POST"
    return gql.sync_client.post(
        upload["url"],
        {upload["fileFieldName"]: SimpleUploadedFile(filename, content, content_type=content_type)},
    )


def upload_key(
    gql: GraphQLClient,
    field: str,
    filename: str,
    content: bytes,
    content_type: str = "application/octet-stream",
    **extra: Any,
) -> str:
    """Ask for an upload URL, upload ``content`` to it, and return the temporary key."""
    issued = issue(gql, field, filename, contentType=content_type, **extra)
    assert issued["__typename"] == "IssuedUpload", issued
    response = post_file(gql, issued, content, filename, content_type)
    assert response.status_code == 201, response.content
    return issued["key"]


def messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of an ``OperationInfo`` payload (fails on anything else)."""
    assert payload["__typename"] == "OperationInfo", payload
    assert payload["messages"], payload
    for m in payload["messages"]:
        assert isinstance(m["message"], str) and m["message"], m
    return payload["messages"]


def single_message(payload: dict[str, Any]) -> dict[str, Any]:
    found = messages(payload)
    assert len(found) == 1, found
    return found[0]
