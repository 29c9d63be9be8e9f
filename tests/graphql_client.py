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
