"""Shared fixtures: users, clients, and helpers that go through the real upload flow."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from async_uploads.registry import default_async_field_registry

# moto, Azurite; headless Chromium; task workers; the content types and permissions put back after a
# flush; how pytest -n hands out the tests
pytest_plugins = ["tests.servers", "tests.browser", "tests.workers", "tests.flush", "tests.scheduling"]


def field_id(model: Any, name: str, registry=default_async_field_registry) -> str:
    return registry.generate_id(model._meta.get_field(name))


def request_for(user: User | None = None, session: Any = None) -> Any:
    """A request from ``user`` (anonymous when ``None``), with ``session`` when given."""
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    request = RequestFactory().post("/")
    request.user = user if user is not None else AnonymousUser()
    if session is not None:
        request.session = session
    return request


def read(name: str) -> bytes:
    """The bytes stored under ``name`` in the default storage."""
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as fh:
        return fh.read()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    # FileSystemStorage drops its cached location when MEDIA_ROOT changes (setting_changed).
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def _grant(user: User, *codenames: str) -> User:
    if codenames:
        wanted = {tuple(codename.split(".")) for codename in codenames}
        found = [
            p
            for p in Permission.objects.filter(codename__in={name for _, name in wanted}).select_related("content_type")
            if (p.content_type.app_label, p.codename) in wanted
        ]
        missing = wanted - {(p.content_type.app_label, p.codename) for p in found}
        assert not missing, f"no such permissions: {sorted(missing)}"
        user.user_permissions.add(*found)
    return User.objects.get(pk=user.pk)


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    counter = iter(range(10_000))

    def make(*perms: str, username: str | None = None) -> User:
        user = User.objects.create_user(username or f"user{next(counter)}", password="pw")
        return _grant(user, *perms)

    return make


ALL_PERMS = (
    "testapp.add_document",
    "testapp.change_document",
    "testapp.view_document",
    "testapp.add_photo",
    "testapp.change_photo",
    "testapp.view_photo",
    "testapp.add_otherregistryfile",
    "testapp.change_otherregistryfile",
    "testapp.view_otherregistryfile",
    "testapp.add_memorynote",
    "testapp.change_memorynote",
    "testapp.view_memorynote",
    "testapp.add_profile",
    "testapp.change_profile",
    "testapp.view_profile",
    "testapp.add_profileattachment",
    "testapp.change_profileattachment",
    "testapp.view_profileattachment",
)


@pytest.fixture
def user(make_user) -> User:
    return make_user(*ALL_PERMS, username="alice")


@pytest.fixture
def other_user(make_user) -> User:
    return make_user(*ALL_PERMS, username="bob")


@pytest.fixture
def client_for() -> Callable[[User | None], Client]:
    def make(u: User | None) -> Client:
        c = Client()
        if u is not None:
            c.force_login(u)
        return c

    return make


@pytest.fixture
def alice(client_for, user) -> Client:
    return client_for(user)


class Uploader:
    """Drives the REST flow the way a browser does: ask for a URL, then upload to it."""

    def __init__(self, client: Client, url_name: str = "async_uploads:generate-upload-url"):
        self.client = client
        self.url_name = url_name

    def request_url(self, fid: str, filename: str, **extra: Any):
        data = {"field_id": fid, "filename": filename, **{k: v for k, v in extra.items() if v is not None}}
        return self.client.post(reverse(self.url_name), data=json.dumps(data), content_type="application/json")

    def issue(self, fid: str, filename: str, **extra: Any) -> dict[str, Any]:
        response = self.request_url(fid, filename, **extra)
        assert response.status_code == 200, response.content
        return response.json()

    def put_bytes(self, upload: dict[str, Any], content: bytes, filename: str, content_type: str):
        body = io.BytesIO(content)
        body.name = filename
        return self.client.post(
            upload["url"],
            data={upload.get("fileFieldName", "file"): _NamedUpload(filename, content, content_type)},
        )

    def upload(
        self, fid: str, filename: str, content: bytes, content_type: str = "application/octet-stream", **extra: Any
    ) -> str:
        issued = self.issue(fid, filename, content_type=content_type, **extra)
        response = self.put_bytes(issued["uploadUrl"], content, filename, content_type)
        assert response.status_code == 201, response.content
        return issued["key"]


def _NamedUpload(name: str, content: bytes, content_type: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def uploader(alice) -> Uploader:
    return Uploader(alice)


@pytest.fixture
def make_uploader() -> Callable[..., Uploader]:
    return Uploader


PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def png_bytes(width: int = 3, height: int = 2) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(params=["sync", "async"])
def gql_mode(request) -> str:
    """Every GraphQL test runs through the sync view and through the async view."""
    return request.param


@pytest.fixture
def make_gql(gql_mode) -> Callable[..., Any]:
    from tests.graphql_client import GraphQLClient

    def make(user: User | None = None) -> GraphQLClient:
        return GraphQLClient(gql_mode, user)

    return make


@pytest.fixture
def gql(make_gql, user) -> Any:
    """A GraphQL client signed in as ``user`` (alice, holding every test permission)."""
    return make_gql(user)
