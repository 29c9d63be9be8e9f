"""Reading async files through GraphQL: ``url``, ``downloadUrl``, image sizes, and the queries they cost.

Every test runs through the sync view and the async view (the ``gql`` / ``make_gql`` fixtures).
"""

from __future__ import annotations

import json
import time
from hashlib import blake2b
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import clear_script_prefix, reverse, set_script_prefix

from async_uploads.storage.filesystem import DOWNLOAD_SALT, UPLOAD_SALT
from tests.conftest import png_bytes
from tests.testapp.models import Document, Photo, PublicNote

pytestmark = pytest.mark.django_db(transaction=True)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def make_document(title: str = "doc", content: bytes | None = None) -> Document:
    """A record holding a permanent file, written by trusted server code (no upload flow needed)."""
    doc = Document.objects.create(title=title)
    if content is not None:
        name = default_storage.save(f"documents/{doc.pk}/{title}.pdf", ContentFile(content))
        doc.attachment = name  # a plain string from server code is stored as given
        doc.save()
    return doc


def make_photo(width: int = 3, height: int = 2) -> Photo:
    name = default_storage.save(f"photos/p{width}x{height}.png", ContentFile(png_bytes(width, height)))
    photo = Photo(width=width, height=height)
    photo.image = name
    photo.save()
    assert (Photo.objects.get(pk=photo.pk).width, Photo.objects.get(pk=photo.pk).height) == (width, height)
    return photo


def query(gql, text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    result = gql.execute(text, variables)
    assert result.errors is None, result.body
    return result.data


def one_document(gql, doc: Document, selection: str = "key name url downloadUrl") -> dict[str, Any] | None:
    data = query(gql, f"query($pk: ID!) {{ document(pk: $pk) {{ attachment {{ {selection} }} }} }}", {"pk": doc.pk})
    return data["document"]["attachment"]


def token_of(url: str) -> dict[str, Any]:
    """The signed payload of a filesystem download URL."""
    parts = urlsplit(url)
    assert parts.path == reverse("async_uploads:filesystem-download"), url
    return signing.Signer(salt=DOWNLOAD_SALT).unsign_object(parse_qs(parts.query)["token"][0])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


# --------------------------------------------------------------------------------------------
# url: the permission-checked redirect
# --------------------------------------------------------------------------------------------


def test_url_redirects_the_session_to_the_file(gql):
    doc = make_document("report", b"%PDF report")
    file = one_document(gql, doc)
    assert file["key"] == f"documents/{doc.pk}/report.pdf"
    assert file["name"] == "report.pdf"
    parts = urlsplit(file["url"])
    assert (parts.scheme, parts.netloc) == ("http", "testserver")
    assert parts.path == reverse("async_uploads:download")
    assert file["url"] == "http://testserver" + doc.attachment.url

    response = gql.sync_client.get(file["url"])
    assert response.status_code == 302, response.content
    location = response["Location"]
    assert urlsplit(location).path == reverse("async_uploads:filesystem-download")
    served = Client().get(location)
    assert served.status_code == 200
    assert body(served) == b"%PDF report"


def test_url_refuses_a_viewer_without_permission(gql, make_user):
    doc = make_document("report", b"%PDF report")
    url = one_document(gql, doc)["url"]
    stranger = Client()
    stranger.force_login(make_user())
    response = stranger.get(url)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Client().get(url).status_code == 403


def test_url_is_given_to_a_viewer_without_permission_but_checks_when_opened(make_gql, make_user):
    doc = make_document("report", b"%PDF report")
    viewer = make_gql(make_user())
    file = one_document(viewer, doc)
    assert file["url"] == "http://testserver" + doc.attachment.url
    assert viewer.sync_client.get(file["url"]).status_code == 403


# --------------------------------------------------------------------------------------------
# downloadUrl: a direct signed URL
# --------------------------------------------------------------------------------------------


def test_download_url_serves_the_bytes_without_a_session(gql):
    doc = make_document("report", b"%PDF report")
    file = one_document(gql, doc)
    url = file["downloadUrl"]
    assert url.startswith("http://testserver/")
    payload = token_of(url)
    assert payload["k"] == doc.attachment.name
    assert payload["e"] == pytest.approx(time.time() + 3600, abs=5)
    response = Client().get(url)
    assert response.status_code == 200
    assert body(response) == b"%PDF report"
    assert response["Content-Disposition"].startswith("attachment")


def test_download_url_is_null_without_view_permission(make_gql, make_user):
    doc = make_document("report", b"%PDF report")
    file = one_document(make_gql(make_user("testapp.add_document", "testapp.change_document")), doc)
    assert file["key"] == doc.attachment.name
    assert file["downloadUrl"] is None
    file = one_document(make_gql(make_user()), doc)
    assert file["downloadUrl"] is None
    assert file["url"]


def test_download_url_is_null_for_anonymous(make_gql):
    doc = make_document("report", b"%PDF report")
    file = one_document(make_gql(None), doc)
    assert file["downloadUrl"] is None


def test_download_url_with_view_permission_only(make_gql, make_user):
    doc = make_document("report", b"%PDF report")
    file = one_document(make_gql(make_user("testapp.view_document")), doc)
    assert body(Client().get(file["downloadUrl"])) == b"%PDF report"


def test_download_url_of_a_public_field_for_anonymous(make_gql):
    name = default_storage.save("notes/n.txt", ContentFile(b"public"))
    note = PublicNote.objects.create(file=name)
    data = query(make_gql(None), "{ publicNotes { id file { key url downloadUrl } } }")
    [item] = data["publicNotes"]
    assert item["id"] == str(note.pk)
    assert item["file"]["key"] == name
    assert body(Client().get(item["file"]["downloadUrl"])) == b"public"
    redirect = Client().get(item["file"]["url"])
    assert redirect.status_code == 302
    assert body(Client().get(redirect["Location"])) == b"public"


def test_download_url_expires_in(gql):
    doc = make_document("report", b"%PDF report")
    url = one_document(gql, doc, "downloadUrl(expiresIn: 60)")["downloadUrl"]
    assert token_of(url)["e"] == pytest.approx(time.time() + 60, abs=5)
    assert body(Client().get(url)) == b"%PDF report"
    url = one_document(gql, doc, "downloadUrl(expiresIn: 3600)")["downloadUrl"]
    assert token_of(url)["e"] == pytest.approx(time.time() + 3600, abs=5)


def test_download_url_uses_the_fields_download_params(gql):
    photo = make_photo()
    data = query(gql, "{ photos { image { downloadUrl short: downloadUrl(expiresIn: 30) } } }")
    [item] = data["photos"]
    assert token_of(item["image"]["downloadUrl"])["e"] == pytest.approx(time.time() + 120, abs=5)
    assert token_of(item["image"]["short"])["e"] == pytest.approx(time.time() + 30, abs=5)
    response = Client().get(item["image"]["downloadUrl"])
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("inline")
    assert body(response) == default_storage.open(photo.image.name).read()


def test_expires_in_cannot_outlive_the_fields_own_expiry(gql):
    """Photo.image has download_params expire=120: a client may shorten that, not lengthen it."""
    make_photo()
    result = gql.execute("{ photos { image { downloadUrl(expiresIn: 3600) } } }")
    assert result.status < 500
    assert [e["extensions"]["code"] for e in result.errors] == ["invalid_input"], result.body
    assert "120" in result.errors[0]["message"]
    data = query(gql, "{ photos { image { downloadUrl(expiresIn: 120) } } }")
    assert token_of(data["photos"][0]["image"]["downloadUrl"])["e"] == pytest.approx(time.time() + 120, abs=5)


@pytest.mark.parametrize("expires_in", [3601, 10**6, 0, -1])
def test_download_url_expires_in_out_of_range_is_an_error(gql, expires_in):
    doc = make_document("report", b"%PDF report")
    result = gql.execute(
        "query($pk: ID!, $e: Int) { document(pk: $pk) { title attachment { key downloadUrl(expiresIn: $e) } } }",
        {"pk": doc.pk, "e": expires_in},
    )
    assert result.status < 500
    assert result.errors, result.body
    [error] = result.errors
    assert error["extensions"]["code"] == "invalid_input", error
    assert error["path"] == ["document", "attachment", "downloadUrl"]
    assert "3600" in error["message"]
    # Only the field is lost: the rest of the answer is there.
    assert result.data["document"]["title"] == "report"
    assert result.data["document"]["attachment"] == {"key": doc.attachment.name, "downloadUrl": None}


def test_download_url_limit_follows_the_setting(gql, settings):
    settings.ASYNC_UPLOADS = {"DOWNLOAD_URL_EXPIRY": 100}
    doc = make_document("report", b"%PDF report")
    url = one_document(gql, doc, "downloadUrl")["downloadUrl"]
    assert token_of(url)["e"] == pytest.approx(time.time() + 100, abs=5)
    url = one_document(gql, doc, "downloadUrl(expiresIn: 100)")["downloadUrl"]
    assert token_of(url)["e"] == pytest.approx(time.time() + 100, abs=5)
    result = gql.execute(
        "query($pk: ID!) { document(pk: $pk) { attachment { downloadUrl(expiresIn: 101) } } }", {"pk": doc.pk}
    )
    assert result.errors and result.errors[0]["extensions"]["code"] == "invalid_input", result.body


def test_download_url_expires_in_without_permission_is_still_checked(make_gql, make_user):
    """A bad argument is an error whoever asks (and a good one gives null without permission)."""
    doc = make_document("report", b"%PDF report")
    viewer = make_gql(make_user())
    result = viewer.execute(
        "query($pk: ID!) { document(pk: $pk) { attachment { downloadUrl(expiresIn: 99999) } } }", {"pk": doc.pk}
    )
    assert result.errors and result.errors[0]["extensions"]["code"] == "invalid_input", result.body
    assert one_document(viewer, doc, "downloadUrl(expiresIn: 60)") == {"downloadUrl": None}


# --------------------------------------------------------------------------------------------
# empty fields, names, images
# --------------------------------------------------------------------------------------------


def test_empty_file_field_is_null(gql):
    doc = make_document("empty")
    assert one_document(gql, doc) is None
    data = query(gql, "{ documents { id attachment { key } extra { key downloadUrl } } }")
    assert data["documents"] == [{"id": str(doc.pk), "attachment": None, "extra": None}]


def test_empty_image_field_is_null(gql):
    Photo.objects.create()
    assert query(gql, "{ photos { image { key width height } } }")["photos"] == [{"image": None}]
    assert query(gql, "{ photosWithoutHints { image { key width } } }")["photosWithoutHints"] == [{"image": None}]


def test_image_width_and_height(gql):
    a, b = make_photo(3, 2), make_photo(7, 5)
    for field in ("photos", "photosWithoutHints"):
        data = query(gql, f"{{ {field} {{ id image {{ key name width height }} }} }}")
        got = sorted(data[field], key=lambda p: int(p["id"]))
        assert got == [
            {"id": str(a.pk), "image": {"key": a.image.name, "name": "p3x2.png", "width": 3, "height": 2}},
            {"id": str(b.pk), "image": {"key": b.image.name, "name": "p7x5.png", "width": 7, "height": 5}},
        ]


# --------------------------------------------------------------------------------------------
# query counts
# --------------------------------------------------------------------------------------------


# Every counted query selects `viewer`, which loads request.user (the session and the user): the
# file fields need the user for downloadUrl's permission check, and without `viewer` in the
# baseline the comparison would count the lazy session/user load against the file fields.
DOCS_FILES = "{ viewer documents { id title attachment { key name url downloadUrl } } }"
DOCS_BARE = "{ viewer documents { id title } }"
PHOTOS_FILES = "{ viewer photos { id image { key name url downloadUrl width height } } }"
PHOTOS_BARE = "{ viewer photos { id } }"
PHOTOS_NO_HINTS = "{ viewer photosWithoutHints { id image { key name url downloadUrl width height } } }"
#: Django's ModelBackend fills its permission cache once per request: the user's and the groups' permissions.
PERMISSION_CACHE = 2


def count(gql, text: str) -> int:
    # CaptureQueriesContext sees the async view's queries too: under the test client, asgiref runs
    # the ORM work (thread_sensitive) on this same thread and connection, so both modes are counted.
    with CaptureQueriesContext(connection) as ctx:
        data = query(gql, text)
    assert data
    return len(ctx.captured_queries)


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", password="pw")


def add_documents(n: int) -> None:
    start = Document.objects.count()
    for i in range(start, n):
        make_document(f"d{i}", b"bytes %d" % i)
    assert Document.objects.count() == n


def add_photos(n: int) -> list[Photo]:
    for i in range(Photo.objects.count(), n):
        make_photo(i + 1, i + 2)
    assert Photo.objects.count() == n
    return list(Photo.objects.order_by("pk"))


def document_counts(gql, n: int) -> tuple[int, int]:
    add_documents(n)
    data = query(gql, DOCS_FILES)
    assert len(data["documents"]) == n
    assert all(d["attachment"]["key"] for d in data["documents"])
    return count(gql, DOCS_FILES), count(gql, DOCS_BARE)


def test_file_fields_cost_no_queries_for_a_superuser(make_gql, superuser):
    gql = make_gql(superuser)
    files_3, bare_3 = document_counts(gql, 3)
    files_10, bare_10 = document_counts(gql, 10)
    assert query(gql, DOCS_FILES)["documents"][9]["attachment"]["downloadUrl"]
    assert (files_3, bare_3) == (files_10, bare_10)
    assert files_10 == bare_10, (files_10, bare_10)


def test_file_fields_cost_a_constant_for_a_user_with_the_permission(make_gql, make_user):
    gql = make_gql(make_user("testapp.view_document"))
    files_3, bare_3 = document_counts(gql, 3)
    files_10, bare_10 = document_counts(gql, 10)
    assert all(d["attachment"]["downloadUrl"] for d in query(gql, DOCS_FILES)["documents"])
    assert (files_3, bare_3) == (files_10, bare_10), "the cost grows with the number of records"
    assert files_10 - bare_10 == PERMISSION_CACHE, (files_10, bare_10)


def test_file_fields_cost_a_constant_for_a_user_without_the_permission(make_gql, make_user):
    gql = make_gql(make_user())
    files_3, bare_3 = document_counts(gql, 3)
    files_10, bare_10 = document_counts(gql, 10)
    assert [d["attachment"]["downloadUrl"] for d in query(gql, DOCS_FILES)["documents"]] == [None] * 10
    assert (files_3, bare_3) == (files_10, bare_10), "the cost grows with the number of records"
    assert files_10 - bare_10 <= PERMISSION_CACHE


def test_hinted_photos_cost_no_queries_per_row(make_gql, superuser, user):
    for who, extra in ((superuser, 0), (user, PERMISSION_CACHE)):
        gql = make_gql(who)
        Photo.objects.all().delete()
        add_photos(3)
        files_3, bare_3 = count(gql, PHOTOS_FILES), count(gql, PHOTOS_BARE)
        photos = add_photos(10)
        files_10, bare_10 = count(gql, PHOTOS_FILES), count(gql, PHOTOS_BARE)
        assert (files_3, bare_3) == (files_10, bare_10), who
        assert files_10 - bare_10 == extra, (who, files_10, bare_10)
        got = [(p["image"]["width"], p["image"]["height"]) for p in query(gql, PHOTOS_FILES)["photos"]]
        assert got == [(p.width, p.height) for p in photos]


def test_photos_without_hints_are_correct_but_cost_a_query_per_row(gql):
    photos = add_photos(10)
    data = query(gql, PHOTOS_NO_HINTS)
    got = {int(p["id"]): (p["image"]["width"], p["image"]["height"]) for p in data["photosWithoutHints"]}
    assert got == {p.pk: (p.width, p.height) for p in photos}
    hinted, unhinted = count(gql, PHOTOS_FILES), count(gql, PHOTOS_NO_HINTS)
    assert hinted < unhinted
    # Without the hint the optimizer defers width and height; both are then read in one query per row.
    assert unhinted - hinted == len(photos)


# --------------------------------------------------------------------------------------------
# per-request shortcuts stay per record, per request and per setting
# --------------------------------------------------------------------------------------------


class SharedDocumentsBackend:
    """An object-permission backend: ``testapp.view_document`` on documents titled ``shared…`` only."""

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user_obj, perm, obj=None):
        return perm == "testapp.view_document" and isinstance(obj, Document) and obj.title.startswith("shared")


def test_download_url_follows_an_object_permission_backend_record_by_record(make_gql, make_user, settings):
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        f"{__name__}.SharedDocumentsBackend",
    ]
    docs = [make_document(title, b"bytes of " + title.encode()) for title in ("shared-a", "private", "shared-b")]
    data = query(make_gql(make_user()), DOCS_FILES)
    got = {d["title"]: d["attachment"]["downloadUrl"] for d in data["documents"]}
    assert got["private"] is None
    assert [body(Client().get(got[d.title])) for d in docs if d.title != "private"] == [
        b"bytes of shared-a",
        b"bytes of shared-b",
    ]


def test_a_custom_check_permission_is_asked_for_every_record(make_gql, make_user, settings):
    docs = [make_document(f"d{i}", b"%d" % i) for i in range(4)]
    asked: list[tuple[str, int]] = []

    def even_only(user, perm, obj):
        asked.append((perm, obj.pk))
        # A hook may use the ORM: under the async view it must run where the ORM may.
        return obj.pk % 2 == 0 and Document.objects.filter(pk=obj.pk).exists()

    settings.ASYNC_UPLOADS = {"CHECK_PERMISSION": even_only}
    data = query(make_gql(make_user()), DOCS_FILES)
    got = {int(d["id"]): d["attachment"]["downloadUrl"] for d in data["documents"]}
    assert {pk for pk, url in got.items() if url} == {d.pk for d in docs if d.pk % 2 == 0}
    assert sorted(asked) == sorted(("testapp.view_document", d.pk) for d in docs)


def test_list_urls_are_what_the_field_file_and_a_fresh_signer_give(gql):
    docs = [make_document(f"d{i}", b"%d" % i) for i in range(3)]
    data = query(gql, DOCS_FILES)
    for doc, item in zip(docs, data["documents"], strict=True):
        file = item["attachment"]
        # url: the redirect URL composed as reverse() + urlencode() compose it.
        expected_query = urlencode(
            {
                "field_id": "testapp.Document.attachment",
                "instance_id": doc.pk,
                "_": blake2b(doc.attachment.name.encode(), digest_size=8).hexdigest(),
            }
        )
        assert file["url"] == f"http://testserver{reverse('async_uploads:download')}?{expected_query}"
        # downloadUrl: the same token a plain Signer makes of the payload, quoted as urlencode() quotes it.
        token = parse_qs(urlsplit(file["downloadUrl"]).query)["token"][0]
        payload = signing.Signer(salt=DOWNLOAD_SALT).unsign_object(token)
        assert signing.Signer(salt=DOWNLOAD_SALT).sign_object(payload) == token
        assert file["downloadUrl"] == (
            f"http://testserver{reverse('async_uploads:filesystem-download')}?{urlencode({'token': token})}"
        )
        assert body(Client().get(file["downloadUrl"])) == b"%d" % docs.index(doc)


def test_download_urls_are_signed_with_the_secret_key_of_the_moment(gql, settings):
    doc = make_document("report", b"%PDF report")
    before = one_document(gql, doc)["downloadUrl"]
    old_key, new_key = settings.SECRET_KEY, "another-secret-key-for-this-test-only-0123456789"
    # The old key stays a fallback, so the session (signed with it) still holds.
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = new_key, [old_key]
    after = one_document(gql, doc)["downloadUrl"]
    token = parse_qs(urlsplit(after).query)["token"][0]
    only_new = signing.Signer(salt=DOWNLOAD_SALT, key=new_key, fallback_keys=[])
    assert only_new.unsign_object(token)["k"] == doc.attachment.name
    with pytest.raises(signing.BadSignature):
        only_new.unsign_object(parse_qs(urlsplit(before).query)["token"][0])
    assert body(Client().get(after)) == b"%PDF report"
    assert body(Client().get(before)) == b"%PDF report"  # still valid through the fallback
    settings.SECRET_KEY_FALLBACKS = []
    assert Client().get(before).status_code == 403


def test_url_follows_the_script_prefix_of_each_request(user):
    doc = make_document("report", b"%PDF report")
    client = Client()
    client.force_login(user)
    text = json.dumps({"query": DOCS_FILES})

    def urls(prefix: str = "/") -> tuple[str, str]:
        # What a WSGI server mounting the project under SCRIPT_NAME does for each request (the
        # test client's handler does not set the prefix itself).
        set_script_prefix(prefix)
        try:
            response = client.post("/graphql/", text, content_type="application/json")
        finally:
            clear_script_prefix()
        [item] = json.loads(response.content)["data"]["documents"]
        return item["attachment"]["url"], item["attachment"]["downloadUrl"]

    plain = urls()
    mounted = urls("/mounted/")
    again = urls()
    assert plain[0].startswith("http://testserver/async-uploads/download-file/?")
    assert plain[1].startswith("http://testserver/async-uploads/download-file-direct/?")
    assert mounted[0] == plain[0].replace("testserver/", "testserver/mounted/", 1)
    assert mounted[1].startswith("http://testserver/mounted/async-uploads/download-file-direct/?")
    assert again[0] == plain[0]
    assert again[1].startswith("http://testserver/async-uploads/download-file-direct/?")
    assert doc.attachment.url.startswith("/async-uploads/")


@pytest.mark.parametrize(
    "payload",
    [
        {"k": "documents/1/a.pdf", "f": "testapp.Document.attachment", "p": "d", "e": 1_900_000_000},
        {"k": 'ünï/"q"\\\n\x01 .txt', "f": "x", "p": "d", "e": 2**40, "i": 1, "n": '名前 "x".pdf'},
        {"k": "a", "e": True},  # not an int: signed through sign_object
    ],
)
@pytest.mark.parametrize("salt", [DOWNLOAD_SALT, UPLOAD_SALT])
def test_download_and_upload_tokens_are_what_django_signer_makes(payload, salt):
    from async_uploads.storage.filesystem import _signer

    assert _signer(salt).sign_flat(payload) == signing.Signer(salt=salt).sign_object(payload)


@pytest.mark.parametrize(
    "url",
    [
        "/async-uploads/download-file-direct/?token=abc%3Adef",
        "/fichiers/ünï code/?a=b c&d=<e>",
        "/a/./b?x",
        "//elsewhere.example/x",
        "https://bucket.example/k%20ey?X-Sig=1",
        "relative/path",
    ],
)
def test_absolute_urls_are_what_build_absolute_uri_makes(rf, url):
    from async_uploads.graphql.types import _RequestState

    request = rf.get("/graphql/", HTTP_HOST="files.example:8443", secure=True)
    assert _RequestState(request).absolute(url) == request.build_absolute_uri(url)


def test_the_async_view_signs_a_whole_list_in_a_constant_number_of_thread_hops(make_user, monkeypatch):
    from asgiref.sync import SyncToAsync

    from tests.graphql_client import GraphQLClient

    gql = GraphQLClient("async", make_user("testapp.view_document"))
    hops = 0
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        nonlocal hops
        hops += 1
        return await original(self, *args, **kwargs)

    def hops_for(n: int) -> int:
        nonlocal hops
        add_documents(n)
        hops = 0
        data = query(gql, DOCS_FILES)
        assert len(data["documents"]) == n
        assert all(d["attachment"]["downloadUrl"] for d in data["documents"])
        return hops

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    assert hops_for(2) == hops_for(12)


def test_requests_at_once_each_get_their_own_origins_urls(user):
    """Values of requests interleaved on one event loop are made absolute against their own request."""
    import asyncio

    from django.test import AsyncClient

    add_documents(6)
    text = json.dumps({"query": DOCS_FILES})
    schemes = ("https", "http", "https")

    async def all_at_once() -> list[Any]:
        clients = []
        for _ in schemes:
            client = AsyncClient()
            await client.aforce_login(user)
            clients.append(client)
        return await asyncio.gather(
            *(
                client.post("/graphql-async/", text, content_type="application/json", secure=scheme == "https")
                for client, scheme in zip(clients, schemes, strict=True)
            )
        )

    for response, scheme in zip(asyncio.run(all_at_once()), schemes, strict=True):
        documents = json.loads(response.content)["data"]["documents"]
        assert len(documents) == 6
        for document in documents:
            assert document["attachment"]["url"].startswith(f"{scheme}://testserver/async-uploads/download-file/?")
            assert document["attachment"]["downloadUrl"].startswith(
                f"{scheme}://testserver/async-uploads/download-file-direct/?"
            )


def test_requests_one_after_another_each_get_their_own_hosts_urls(user):
    add_documents(2)
    client = Client()
    client.force_login(user)
    text = json.dumps({"query": DOCS_FILES})
    for host in ("one.example", "two.example", "one.example"):
        response = client.post("/graphql/", text, content_type="application/json", HTTP_HOST=host)
        urls = [d["attachment"]["url"] for d in json.loads(response.content)["data"]["documents"]]
        assert len(urls) == 2 and all(u.startswith(f"http://{host}/async-uploads/download-file/?") for u in urls)


def test_the_direct_resolvers_answer_what_strawberrys_own_resolvers_answer(rf, user):
    """url and downloadUrl get direct graphql-core resolvers on a schema's first file value;
    strawberry's resolvers of the same fields (a schema left unprepared) give the same values."""
    import strawberry
    from strawberry.django.context import StrawberryDjangoContext
    from strawberry_django.optimizer import DjangoOptimizerExtension

    from tests.testapp.schema import Mutation, Query

    add_documents(3)
    text = (
        "{ documents { attachment { key name url downloadUrl short: downloadUrl(expiresIn: 60) } } "
        "photos { image { url downloadUrl(expiresIn: 90) width } } }"
    )
    make_photo(5, 4)

    def run(prepared: bool) -> dict[str, Any]:
        schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[DjangoOptimizerExtension])
        if not prepared:
            schema._schema.__dict__["_async_uploads_prepared"] = True  # keep strawberry's resolvers
        request = rf.get("/graphql/", HTTP_HOST="files.example")
        request.user = user
        result = schema.execute_sync(text, context_value=StrawberryDjangoContext(request=request, response=None))
        assert result.errors is None, result.errors
        return result.data

    def comparable(data: dict[str, Any]) -> list[Any]:
        values = []
        for item in [*data["documents"], *data["photos"]]:
            file = item.get("attachment") or item["image"]
            for key, value in file.items():
                if isinstance(value, str) and "token=" in value:
                    payload = token_of(value.replace("http://files.example", "", 1))
                    value = (value.partition("?")[0], {**payload, "e": payload["e"] - int(time.time())})
                values.append((key, value))
        return values

    direct, strawberrys = comparable(run(prepared=True)), comparable(run(prepared=False))
    assert len(direct) == 3 * 5 + 3
    # The expiry is relative to the second each was signed in: equal within a second.
    for (key, a), (other, b) in zip(direct, strawberrys, strict=True):
        assert key == other
        if isinstance(a, tuple):
            assert a[0] == b[0] and abs(a[1].pop("e") - b[1].pop("e")) <= 1 and a[1] == b[1]
        else:
            assert a == b
    lifetimes = {key: set() for key in ("short", "downloadUrl")}
    for key, value in comparable(run(prepared=True)):
        if key in lifetimes:
            lifetimes[key].add(value[1]["e"])
    assert lifetimes["short"] <= {59, 60}  # expiresIn: 60 on the documents
    assert lifetimes["downloadUrl"] & {89, 90}  # expiresIn: 90 on the photo
