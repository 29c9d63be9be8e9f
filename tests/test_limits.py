"""The limits of the public upload endpoint: per-uploader quotas, the per-request bound, query cost.

Quotas (``MAX_PENDING_UPLOADS`` / ``MAX_PENDING_BYTES``) count the uploads an uploader holds that
no record has taken yet. They are checked in ``services.issue_upload``, so the REST view, both
GraphQL mutations (sync and async views) and the widget get the same answer. Every refusal checks
that no ``AsyncTempFile`` row was written.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile
from tests.conftest import PNG_1x1, field_id, request_for
from tests.graphql_client import ISSUE, issue, single_message, upload_key
from tests.test_browser_widget import admin_page  # noqa: F401 (a fixture)
from tests.test_example_project import run_probe
from tests.testapp.models import Document, PublicNote

URL = "async_uploads:generate-upload-url"
REST_ATTACHMENT = field_id(Document, "attachment")  # max_size 1 MB, .pdf / .txt
REST_EXTRA = field_id(Document, "extra")  # default max_size (100 MB)
REST_NOTE = field_id(PublicNote, "file")  # anyone may upload
ATTACHMENT = "TESTAPP_DOCUMENT_ATTACHMENT"
EXTRA = "TESTAPP_DOCUMENT_EXTRA"
NOTE = "TESTAPP_PUBLICNOTE_FILE"
MB = 1024 * 1024

BATCH = """
mutation($input: [GenerateUploadUrlInput!]!) {
  generateUploadUrls(input: $input) {
    __typename
    ... on IssuedUpload { key }
    ... on OperationInfo { messages { kind code field message } }
  }
}
"""

CREATE = """
mutation($data: DocumentInput!) {
  createDocument(data: $data) {
    __typename
    ... on DocumentType { id attachment { key } }
    ... on OperationInfo { messages { code field message } }
  }
}
"""


def post_json(client, data) -> Any:
    return client.post(reverse(URL), data=json.dumps(data), content_type="application/json")


def limits(settings, **values: Any) -> None:
    settings.ASYNC_UPLOADS = values


def assert_quota_refused(response, rows: int) -> str:
    # Checked first: whatever the answer, a refusal must not have recorded a key.
    assert AsyncTempFile.objects.count() == rows
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "quota_exceeded", body
    assert "uploadUrl" not in body and "key" not in body
    return body["message"]


def assert_gql_refused(payload: dict, code: str, rows: int) -> str:
    assert AsyncTempFile.objects.count() == rows
    message = single_message(payload)
    assert message["code"] == code, message
    assert message["field"] is None, message
    return message["message"]


# --------------------------------------------------------------------------------------------
# Quotas through the REST view
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rest_count_quota_refuses_the_upload_beyond_it(settings, alice):
    limits(settings, MAX_PENDING_UPLOADS=3)
    for i in range(3):
        assert post_json(alice, {"field_id": REST_EXTRA, "filename": f"f{i}.bin", "size": 10}).status_code == 200
    message = assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "f3.bin", "size": 10}), 3)
    # Says what the limit is and how to free it.
    assert "at most 3" in message
    assert "Save" in message and "cleanup" in message


@pytest.mark.django_db
def test_rest_byte_quota_counts_declared_sizes(settings, alice):
    limits(settings, MAX_PENDING_BYTES=1000)
    assert post_json(alice, {"field_id": REST_EXTRA, "filename": "a.bin", "size": 600}).status_code == 200
    message = assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "b.bin", "size": 401}), 1)
    assert "at most 1000 bytes" in message and "1001 bytes" in message
    # Up to the limit exactly is fine.
    assert post_json(alice, {"field_id": REST_EXTRA, "filename": "c.bin", "size": 400}).status_code == 200
    assert AsyncTempFile.objects.count() == 2


@pytest.mark.django_db
def test_rest_upload_without_declared_size_counts_as_the_fields_max_size(settings, alice):
    limits(settings, MAX_PENDING_BYTES=MB + MB // 2)
    # Document.attachment has max_size=1 (MB): an undeclared upload counts 1 MiB.
    assert post_json(alice, {"field_id": REST_ATTACHMENT, "filename": "a.pdf"}).status_code == 200
    message = assert_quota_refused(
        post_json(alice, {"field_id": REST_ATTACHMENT, "filename": "b.pdf", "size": MB // 2 + 1}), 1
    )
    assert "to 1.500001 MB, and at most 1.5 MB are allowed" in message
    # A second undeclared one is refused too, and says why it counted so much.
    message = assert_quota_refused(post_json(alice, {"field_id": REST_ATTACHMENT, "filename": "c.pdf"}), 1)
    assert "counted as 1 MB" in message and "max_size" in message
    assert post_json(alice, {"field_id": REST_ATTACHMENT, "filename": "d.pdf", "size": MB // 2}).status_code == 200


@pytest.mark.django_db
def test_rest_undeclared_size_on_a_field_without_max_size_counts_as_the_whole_byte_quota(settings, alice, monkeypatch):
    monkeypatch.setattr(Document._meta.get_field("extra"), "max_size", None)
    limits(settings, MAX_PENDING_BYTES=10_000)
    assert post_json(alice, {"field_id": REST_EXTRA, "filename": "a.bin"}).status_code == 200
    message = assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "b.bin", "size": 1}), 1)
    assert "without max_size" not in message  # this upload declared its size
    AsyncTempFile.objects.all().delete()
    assert post_json(alice, {"field_id": REST_EXTRA, "filename": "c.bin", "size": 1}).status_code == 200
    message = assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "d.bin"}), 1)
    assert "without max_size" in message


# Autocommit (as in production) here and below: on PostgreSQL the one-message path, for anonymous
# sessions and for each combination of quotas.
@pytest.mark.django_db(transaction=True)
def test_rest_anonymous_quota_is_per_session(settings, client_for, alice):
    limits(settings, MAX_PENDING_UPLOADS=2)
    first, second = client_for(None), client_for(None)
    for name in ("a.txt", "b.txt"):
        assert post_json(first, {"field_id": REST_NOTE, "filename": name}).status_code == 200
    assert_quota_refused(post_json(first, {"field_id": REST_NOTE, "filename": "c.txt"}), 2)
    # Another session, and a signed-in user, have quotas of their own.
    assert post_json(second, {"field_id": REST_NOTE, "filename": "d.txt"}).status_code == 200
    assert post_json(alice, {"field_id": REST_NOTE, "filename": "e.txt"}).status_code == 200
    assert AsyncTempFile.objects.count() == 4
    assert AsyncTempFile.objects.filter(user__isnull=True).values("session_key").distinct().count() == 2


@pytest.mark.django_db(transaction=True)
def test_rest_saving_an_upload_frees_its_place(settings, uploader, user):
    limits(settings, MAX_PENDING_UPLOADS=1)
    key = uploader.upload(REST_ATTACHMENT, "r.pdf", b"%PDF-1.4 saved", "application/pdf")
    assert_quota_refused(uploader.request_url(REST_ATTACHMENT, "s.pdf"), 1)
    doc = Document(title="saved")
    doc.attachment = AsyncFileInputData(key=key, name="r.pdf", request=request_for(user))
    doc.save()
    assert Document.objects.get(pk=doc.pk).attachment.name == f"documents/{doc.pk}/r.pdf"
    response = uploader.request_url(REST_ATTACHMENT, "s.pdf")
    assert response.status_code == 200, response.content
    assert AsyncTempFile.objects.filter(object_pk__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_rest_none_switches_a_quota_off(settings, alice):
    limits(settings, MAX_PENDING_UPLOADS=None, MAX_PENDING_BYTES=100)
    for i in range(5):  # no count limit: only bytes count
        assert post_json(alice, {"field_id": REST_EXTRA, "filename": f"f{i}.bin", "size": 20}).status_code == 200
    assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "f5.bin", "size": 1}), 5)
    limits(settings, MAX_PENDING_UPLOADS=7, MAX_PENDING_BYTES=None)
    assert post_json(alice, {"field_id": REST_EXTRA, "filename": "big.bin", "size": 90 * MB}).status_code == 200
    assert post_json(alice, {"field_id": REST_EXTRA, "filename": "big2.bin"}).status_code == 200
    assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "f8.bin", "size": 1}), 7)
    limits(settings, MAX_PENDING_UPLOADS=None, MAX_PENDING_BYTES=None)
    assert post_json(alice, {"field_id": REST_EXTRA, "filename": "f9.bin"}).status_code == 200
    assert AsyncTempFile.objects.count() == 8


@pytest.mark.django_db
def test_the_default_quotas_stop_one_user_parking_gigabytes(alice):
    """On the defaults (1 GiB), 100 MB uploads stop at the tenth; the count (100) stops small ones."""
    for i in range(10):
        assert post_json(alice, {"field_id": REST_EXTRA, "filename": f"f{i}.bin", "size": 100 * MB}).status_code == 200
    assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "f10.bin", "size": 100 * MB}), 10)
    for i in range(90):
        assert post_json(alice, {"field_id": REST_EXTRA, "filename": f"s{i}.bin", "size": 1}).status_code == 200
    assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "s90.bin", "size": 1}), 100)


@pytest.mark.django_db
def test_rest_quota_check_is_one_indexed_query(alice, user):
    post_json(alice, {"field_id": REST_EXTRA, "filename": "warm.bin", "size": 1})  # session, permissions
    with CaptureQueriesContext(connection) as queries:
        assert post_json(alice, {"field_id": REST_EXTRA, "filename": "a.bin", "size": 1}).status_code == 200
    assert AsyncTempFile.objects.filter(original_filename="a.bin", user=user).count() == 1
    table = AsyncTempFile._meta.db_table
    on_table = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    kinds = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    if not connection.features.has_select_for_update:
        # SQLite: one statement counts and inserts under the database's write lock (no transaction
        # of its own); before it only the session, the user and the user's permissions are read.
        [insert] = on_table
        assert insert.startswith("INSERT") and " SELECT " in insert and "COUNT(*)" in insert, insert
        assert kinds == ["SELECT"] * (len(kinds) - 1) + ["INSERT"] and len(kinds) <= 5, kinds
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {insert}")
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "asynctemp_user_pending_idx" in plan, plan
        return
    # Inside atomic() (this test runs in one) or on MariaDB: the INSERT of the new row, and one
    # SELECT for both quotas.
    assert [sql.split()[0] for sql in on_table] == ["INSERT", "SELECT"], on_table
    assert "GROUP BY" in on_table[1]
    # The issuing transaction (a savepoint here: the test runs in one) holds the uploader's lock,
    # the INSERT and the one count, and nothing else; before it only the session, the user and the
    # user's permissions are read.
    start = kinds.index("SAVEPOINT") if "SAVEPOINT" in kinds else kinds.index("BEGIN")
    assert kinds[start + 1 :] == ["SELECT", "INSERT", "SELECT", "RELEASE" if kinds[start] == "SAVEPOINT" else "COMMIT"]
    assert kinds[:start] == ["SELECT"] * start and start <= 4, kinds


# Autocommit, as in production: on PostgreSQL the one round trip is taken only outside atomic().
@pytest.mark.django_db(transaction=True)
def test_an_upload_over_a_quota_takes_the_counting_path_and_records_nothing(settings, alice, user):
    """The one-round-trip insert answers no row when the uploader is at a quota: nothing is written,
    and the refusal is worded from the exact count of the transaction path."""
    if connection.vendor not in ("sqlite", "postgresql"):
        pytest.skip("MariaDB/MySQL always count in a transaction")
    limits(settings, MAX_PENDING_UPLOADS=2)
    for name in ("a.bin", "b.bin"):
        assert post_json(alice, {"field_id": REST_EXTRA, "filename": name, "size": 1}).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        message = assert_quota_refused(post_json(alice, {"field_id": REST_EXTRA, "filename": "c.bin", "size": 1}), 2)
    assert "You have 2 uploads that are not saved to a record yet, and at most 2 are allowed." in message
    inserts = [q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"]]
    assert len(inserts) == 2, "the one-round-trip try, then the counting transaction's (taken back)"
    if connection.vendor == "postgresql":
        assert "pg_advisory_xact_lock" in inserts[0] and "; INSERT" in inserts[0]
    else:
        assert inserts[0].startswith("INSERT")
    assert inserts[1].startswith("INSERT")
    assert sorted(AsyncTempFile.objects.filter(user=user).values_list("original_filename", flat=True)) == [
        "a.bin",
        "b.bin",
    ]


postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the one-round-trip lock is PostgreSQL's (SQLite: the tests above)"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_in_autocommit_one_round_trip_locks_the_uploader_counts_and_inserts(alice, user):
    """Outside atomic() the uploader's lock and the counting INSERT go to the server in one message,
    which it runs as one transaction: no BEGIN or COMMIT of ours, one statement on the table."""
    post_json(alice, {"field_id": REST_EXTRA, "filename": "warm.bin", "size": 1})  # session, permissions
    with CaptureQueriesContext(connection) as queries:
        assert post_json(alice, {"field_id": REST_EXTRA, "filename": "a.bin", "size": 1}).status_code == 200
    assert AsyncTempFile.objects.filter(original_filename="a.bin", user=user).count() == 1
    statements = [q["sql"] for q in queries.captured_queries]
    table = AsyncTempFile._meta.db_table
    [on_table] = [sql for sql in statements if table in sql]
    lock, insert = on_table.split("; ", 1)
    assert lock == f"SELECT pg_advisory_xact_lock(hashtextextended('async_uploads:auth.user:pk:{user.pk}', 0))", lock
    assert insert.startswith("INSERT") and "COUNT(*)" in insert and insert.endswith('RETURNING "id"'), insert
    assert statements[-1] == on_table and not any(
        sql.startswith(("BEGIN", "SAVEPOINT", "COMMIT")) for sql in statements
    )
    # Before it only reads: the session, the user, the user's and its groups' permissions.
    assert all(sql.startswith("SELECT") for sql in statements[:-1]) and len(statements) <= 5, [
        sql[:70] for sql in statements
    ]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_an_anonymous_upload_locks_its_session_in_the_same_round_trip(client_for):
    anonymous = client_for(None)
    post_json(anonymous, {"field_id": REST_NOTE, "filename": "warm.txt"})  # the session is created
    with CaptureQueriesContext(connection) as queries:
        assert post_json(anonymous, {"field_id": REST_NOTE, "filename": "a.txt"}).status_code == 200
    [row] = AsyncTempFile.objects.filter(original_filename="a.txt")
    assert row.user_id is None and row.session_key
    [on_table] = [q["sql"] for q in queries.captured_queries if AsyncTempFile._meta.db_table in q["sql"]]
    lock = on_table.split("; ", 1)[0]
    key = f"async_uploads:sessions.session:session_key:{row.session_key}"
    assert lock == f"SELECT pg_advisory_xact_lock(hashtextextended('{key}', 0))", lock


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("option", ["server_side_binding", "isolation_level"])
def test_on_postgresql_the_one_message_needs_client_binding_and_read_committed(alice, user, monkeypatch, option):
    """A prepared statement holds one command, and at REPEATABLE READ the lock's snapshot would serve
    the count too: there the lock, the insert and the count go in a transaction, as inside atomic()."""
    from django.db.backends.postgresql.psycopg_any import IsolationLevel

    value = True if option == "server_side_binding" else IsolationLevel.REPEATABLE_READ
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], option, value)
    connection.close()  # the next connection has the option
    try:
        with CaptureQueriesContext(connection) as queries:
            assert post_json(alice, {"field_id": REST_EXTRA, "filename": "a.bin", "size": 1}).status_code == 200
    finally:
        monkeypatch.undo()
        connection.close()
    kinds = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert "BEGIN" in kinds and kinds[-1] == "COMMIT", kinds
    assert not any("; " in q["sql"] for q in queries.captured_queries)
    assert AsyncTempFile.objects.filter(original_filename="a.bin", user=user).count() == 1


# Real threads need a database server: the SQLite test database is in memory.
server_db = pytest.mark.skipif(
    "connection.vendor == 'sqlite'", reason="threaded races need PostgreSQL or MariaDB (make test runs them there)"
)


@server_db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic_requests", [False, True], ids=["autocommit", "atomic-requests"])
def test_parallel_requests_of_one_user_do_not_overshoot_the_quota(settings, user, atomic_requests, monkeypatch):
    """Autocommit takes PostgreSQL's one round trip; under ATOMIC_REQUESTS every database takes the
    transaction path (the lock, the insert, then the count)."""
    import threading

    from django.test import Client

    limits(settings, MAX_PENDING_UPLOADS=3)
    # The handler reads ATOMIC_REQUESTS from this dict on every request, in every thread.
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", atomic_requests)
    clients = []
    for _ in range(8):
        c = Client()
        c.force_login(user)
        clients.append(c)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def run(client) -> None:
        try:
            barrier.wait()
            statuses.append(post_json(client, {"field_id": REST_EXTRA, "filename": "p.bin", "size": 1}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200] * 3 + [429] * 5
    assert AsyncTempFile.objects.count() == 3


# --------------------------------------------------------------------------------------------
# Quotas through GraphQL (sync and async views)
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_graphql_count_quota(settings, gql):
    limits(settings, MAX_PENDING_UPLOADS=2)
    for name in ("a.bin", "b.bin"):
        assert issue(gql, EXTRA, name, size=1)["__typename"] == "IssuedUpload"
    message = assert_gql_refused(issue(gql, EXTRA, "c.bin", size=1), "quota_exceeded", 2)
    assert "at most 2" in message


@pytest.mark.django_db(transaction=True)
def test_graphql_byte_quota_and_undeclared_size(settings, gql):
    limits(settings, MAX_PENDING_BYTES=MB + 10)
    assert issue(gql, ATTACHMENT, "a.pdf")["__typename"] == "IssuedUpload"  # counts 1 MiB
    message = assert_gql_refused(issue(gql, ATTACHMENT, "b.pdf", size=11), "quota_exceeded", 1)
    assert "to 1.00001 MB, and at most 1 MB are allowed" in message
    assert issue(gql, ATTACHMENT, "c.pdf", size=10)["__typename"] == "IssuedUpload"


@pytest.mark.django_db(transaction=True)
def test_graphql_anonymous_quota_is_per_session(settings, make_gql):
    limits(settings, MAX_PENDING_UPLOADS=1)
    first, second = make_gql(None), make_gql(None)
    assert issue(first, NOTE, "a.txt")["__typename"] == "IssuedUpload"
    assert_gql_refused(issue(first, NOTE, "b.txt"), "quota_exceeded", 1)
    assert issue(second, NOTE, "c.txt")["__typename"] == "IssuedUpload"
    assert AsyncTempFile.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_graphql_saving_an_upload_frees_its_place(settings, gql):
    limits(settings, MAX_PENDING_UPLOADS=1)
    key = upload_key(gql, ATTACHMENT, "r.pdf", b"%PDF-1.4 saved", "application/pdf")
    assert_gql_refused(issue(gql, ATTACHMENT, "s.pdf"), "quota_exceeded", 1)
    result = gql.execute(CREATE, {"data": {"title": "t", "attachment": {"key": key, "name": "r.pdf"}}})
    created = result.data["createDocument"]
    assert created["__typename"] == "DocumentType", result.body
    assert created["attachment"]["key"] == f"documents/{created['id']}/r.pdf"
    assert issue(gql, ATTACHMENT, "s.pdf")["__typename"] == "IssuedUpload"


@pytest.mark.django_db(transaction=True)
def test_graphql_none_switches_the_quotas_off(settings, gql):
    limits(settings, MAX_PENDING_UPLOADS=None, MAX_PENDING_BYTES=None)
    answers = gql.execute(BATCH, {"input": [{"field": EXTRA, "filename": f"f{i}.bin"} for i in range(12)]})
    assert [a["__typename"] for a in answers.data["generateUploadUrls"]] == ["IssuedUpload"] * 12
    assert AsyncTempFile.objects.count() == 12  # 12 x 100 MB undeclared: over the default 1 GiB


@pytest.mark.django_db(transaction=True)
def test_graphql_batch_crossing_the_quota_answers_each_item(settings, gql):
    limits(settings, MAX_PENDING_UPLOADS=3)
    assert issue(gql, EXTRA, "held.bin", size=1)["__typename"] == "IssuedUpload"
    items = [{"field": EXTRA, "filename": f"f{i}.bin", "size": 1} for i in range(4)]
    items.insert(1, {"field": EXTRA, "filename": ""})  # an invalid item is answered on its own as before
    result = gql.execute(BATCH, {"input": items})
    assert result.errors is None, result.body
    answers = result.data["generateUploadUrls"]
    assert [a["__typename"] for a in answers] == ["IssuedUpload", "OperationInfo", "IssuedUpload"] + [
        "OperationInfo"
    ] * 2
    assert single_message(answers[1])["code"] == "invalid_input"
    assert [single_message(a)["code"] for a in answers[3:]] == ["quota_exceeded"] * 2
    assert AsyncTempFile.objects.count() == 3
    assert set(AsyncTempFile.objects.values_list("key", flat=True)) >= {answers[0]["key"], answers[2]["key"]}


@pytest.mark.django_db(transaction=True)
def test_graphql_batch_byte_quota_refuses_only_the_item_that_does_not_fit(settings, gql):
    limits(settings, MAX_PENDING_BYTES=100)
    sizes = [60, 50, 40]
    result = gql.execute(BATCH, {"input": [{"field": EXTRA, "filename": f"f{n}.bin", "size": n} for n in sizes]})
    assert result.errors is None, result.body
    answers = result.data["generateUploadUrls"]
    assert [a["__typename"] for a in answers] == ["IssuedUpload", "OperationInfo", "IssuedUpload"]
    message = single_message(answers[1])
    assert message["code"] == "quota_exceeded", message
    assert "to 110 bytes" in message["message"] and "at most 100 bytes" in message["message"]
    # Only the two that fit are recorded, under the keys they were given.
    rows = dict(AsyncTempFile.objects.values_list("key", "declared_size"))
    assert rows == {answers[0]["key"]: 60, answers[2]["key"]: 40}


@pytest.mark.django_db
def test_a_batch_is_recorded_in_one_statement_and_counted_once(user):
    from async_uploads.registry import default_async_field_registry
    from async_uploads.services import IssuedUpload, UploadRequestItem, issue_uploads

    items = [UploadRequestItem(REST_EXTRA, f"f{i}.bin", size=1) for i in range(5)]
    issue_uploads(default_async_field_registry, request_for(user), items[:1])  # permissions, content types
    with CaptureQueriesContext(connection) as queries:
        answers = issue_uploads(default_async_field_registry, request_for(user), items)
    assert all(isinstance(a, IssuedUpload) for a in answers), answers
    table = AsyncTempFile._meta.db_table
    on_table = [q["sql"].split()[0] for q in queries.captured_queries if table in q["sql"]]
    assert on_table == ["INSERT", "SELECT"], on_table
    assert AsyncTempFile.objects.filter(key__in=[a.key for a in answers]).count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_signing_fails_records_nothing(gql, monkeypatch):
    from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage

    signed = []
    original = FileSystemAsyncUploadStorage.sign_upload

    def fails_on_the_third(self, upload_request):
        if len(signed) == 2:
            raise RuntimeError("signing service down")
        signed.append(upload_request.key)
        return original(self, upload_request)

    monkeypatch.setattr(FileSystemAsyncUploadStorage, "sign_upload", fails_on_the_third)
    result = gql.execute(BATCH, {"input": [{"field": EXTRA, "filename": f"f{i}.bin", "size": 1} for i in range(4)]})
    assert result.data is None and result.errors, result.body
    assert len(signed) == 2
    assert AsyncTempFile.objects.count() == 0


# Autocommit, as in production: on PostgreSQL the one round trip is taken only outside atomic().
@pytest.mark.django_db(transaction=True)
def test_uploads_of_undeclared_size_count_as_the_fields_max_size_in_the_one_round_trip(settings, alice):
    if connection.vendor not in ("sqlite", "postgresql"):
        pytest.skip("MariaDB/MySQL always count in a transaction")
    limits(settings, MAX_PENDING_BYTES=2 * MB + MB // 2)
    for name in ("a.pdf", "b.pdf"):  # each counts as the field's max_size, 1 MB
        with CaptureQueriesContext(connection) as queries:
            assert post_json(alice, {"field_id": REST_ATTACHMENT, "filename": name}).status_code == 200
        # One statement inserts (on PostgreSQL after the uploader's lock, in the same message).
        assert [("INSERT INTO" in q["sql"]) for q in queries.captured_queries].count(True) == 1
        assert not any(q["sql"].startswith(("SAVEPOINT", "BEGIN")) for q in queries.captured_queries)
    message = assert_quota_refused(post_json(alice, {"field_id": REST_ATTACHMENT, "filename": "c.pdf"}), 2)
    assert "counted as 1 MB" in message and "to 3 MB, and at most 2.5 MB are allowed" in message
    # A declared half MB still fits beside the two undeclared ones: 2.5 MB exactly.
    assert post_json(alice, {"field_id": REST_ATTACHMENT, "filename": "d.pdf", "size": MB // 2}).status_code == 200
    assert post_json(alice, {"field_id": REST_ATTACHMENT, "filename": "e.pdf", "size": 1}).status_code == 429
    assert AsyncTempFile.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_one_upload_url_whose_signing_fails_records_nothing(client, user, monkeypatch):
    """Autocommit, as in production: on SQLite the row is already written when signing runs."""
    from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage

    def fails(self, upload_request):
        raise RuntimeError("signing service down")

    monkeypatch.setattr(FileSystemAsyncUploadStorage, "sign_upload", fails)
    client.force_login(user)
    with pytest.raises(RuntimeError, match="signing service down"):
        post_json(client, {"field_id": REST_EXTRA, "filename": "a.bin", "size": 1})
    assert AsyncTempFile.objects.count() == 0


# --------------------------------------------------------------------------------------------
# The bound on upload URLs per request, across aliases
# --------------------------------------------------------------------------------------------


def aliased_request(batches: int, batch_size: int, singles: int) -> str:
    parts = []
    for b in range(batches):
        items = ", ".join(f'{{field: {EXTRA}, filename: "b{b}-{i}.bin", size: 1}}' for i in range(batch_size))
        parts.append(
            f"b{b}: generateUploadUrls(input: [{items}]) {{ __typename ... on IssuedUpload {{ key }} "
            "... on OperationInfo { messages { code field message } } }"
        )
    for s in range(singles):
        parts.append(
            f's{s}: generateUploadUrl(input: {{field: {EXTRA}, filename: "s{s}.bin", size: 1}}) {{ __typename '
            "... on IssuedUpload { key } ... on OperationInfo { messages { code field message } } }"
        )
    return "mutation { " + " ".join(parts) + " }"


def answers_in_order(data: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in data.values():  # JSON keeps the document's order
        out.extend(value if isinstance(value, list) else [value])
    return out


@pytest.mark.django_db(transaction=True)
def test_per_request_bound_holds_across_batch_aliases_on_the_defaults(gql):
    """Three aliased batches of 50 issued 150 URLs in one request; the default bound is 50."""
    result = gql.execute(aliased_request(batches=3, batch_size=50, singles=0))
    assert result.errors is None, result.body
    answers = answers_in_order(result.data)
    assert [a["__typename"] for a in answers] == ["IssuedUpload"] * 50 + ["OperationInfo"] * 100
    refused = [single_message(a) for a in answers[50:]]
    assert {m["code"] for m in refused} == {"invalid_input"}
    assert "At most 50 upload URLs can be requested in one request" in refused[0]["message"]
    assert AsyncTempFile.objects.count() == 50


@pytest.mark.django_db(transaction=True)
def test_per_request_bound_holds_across_single_and_batch_aliases(settings, gql):
    limits(settings, MAX_UPLOAD_URLS_PER_REQUEST=5)
    result = gql.execute(aliased_request(batches=2, batch_size=3, singles=3))
    assert result.errors is None, result.body
    answers = answers_in_order(result.data)
    assert [a["__typename"] for a in answers] == ["IssuedUpload"] * 5 + ["OperationInfo"] * 4
    assert {single_message(a)["code"] for a in answers[5:]} == {"invalid_input"}
    assert AsyncTempFile.objects.count() == 5
    # The bound is per request: the next one gets its own.
    assert issue(gql, EXTRA, "next.bin", size=1)["__typename"] == "IssuedUpload"
    # Single aliases alone are bound too.
    AsyncTempFile.objects.all().delete()
    answers = answers_in_order(gql.execute(aliased_request(batches=0, batch_size=0, singles=7)).data)
    assert [a["__typename"] for a in answers] == ["IssuedUpload"] * 5 + ["OperationInfo"] * 2
    assert AsyncTempFile.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_batch_size_limit_follows_the_per_request_bound(settings, gql):
    limits(settings, MAX_UPLOAD_URLS_PER_REQUEST=4)
    result = gql.execute(BATCH, {"input": [{"field": EXTRA, "filename": f"f{i}.bin", "size": 1} for i in range(5)]})
    assert result.errors and "At most 4 upload URLs" in result.errors[0]["message"], result.body
    assert result.errors[0]["extensions"]["code"] == "invalid_input"
    assert AsyncTempFile.objects.count() == 0
    limits(settings, MAX_UPLOAD_URLS_PER_REQUEST=None)  # off: a batch keeps MAX_BATCH_SIZE (50)
    result = gql.execute(BATCH, {"input": [{"field": EXTRA, "filename": f"f{i}.bin", "size": 1} for i in range(51)]})
    assert result.errors and "At most 50 upload URLs" in result.errors[0]["message"], result.body
    assert AsyncTempFile.objects.count() == 0
    answers = answers_in_order(gql.execute(aliased_request(batches=2, batch_size=40, singles=0)).data)
    assert [a["__typename"] for a in answers] == ["IssuedUpload"] * 80
    assert AsyncTempFile.objects.count() == 80


@pytest.mark.django_db(transaction=True)
def test_per_request_bound_is_checked_before_the_quota(settings, gql):
    """Over both limits, the answer names the one the client can fix in this request."""
    limits(settings, MAX_PENDING_UPLOADS=1, MAX_UPLOAD_URLS_PER_REQUEST=2)
    answers = answers_in_order(gql.execute(aliased_request(batches=0, batch_size=0, singles=3)).data)
    assert [a["__typename"] for a in answers] == ["IssuedUpload", "OperationInfo", "OperationInfo"]
    assert [single_message(a)["code"] for a in answers[1:]] == ["quota_exceeded", "invalid_input"]
    assert AsyncTempFile.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_issue_operation_variables_count_too(settings, gql):
    limits(settings, MAX_UPLOAD_URLS_PER_REQUEST=1)
    result = gql.execute(ISSUE, {"input": {"field": EXTRA, "filename": "a.bin", "size": 1}})
    assert result.data["generateUploadUrl"]["__typename"] == "IssuedUpload"


# --------------------------------------------------------------------------------------------
# Query cost: the example project's schema refuses costly documents before resolving anything
# --------------------------------------------------------------------------------------------

LIMITER_PROBE = r"""
import json, sys, types, django
django.setup()
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.test import AsyncClient, Client, override_settings
from django.urls import path
from django.contrib.auth import get_user_model
from strawberry.django.views import AsyncGraphQLView
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage
from example import urls as example_urls
from example.models import Document
from example.schema import schema

call_command("migrate", verbosity=0)
call_command("ensure_demo_user", stdout=open("/dev/null", "w"))
for i in range(5):
    Document.objects.create(title=f"d{i}", attachment=f"documents/{i}/d.txt")

signed = []
original = FileSystemAsyncUploadStorage.generate_download_url
def counting(self, *args, **kwargs):
    signed.append(args[0])
    return original(self, *args, **kwargs)
FileSystemAsyncUploadStorage.generate_download_url = counting

# The example's URLconf, plus the same schema behind the async view.
probe_urls = types.ModuleType("probe_urls")
probe_urls.urlpatterns = [*example_urls.urlpatterns, path("graphql-async/", AsyncGraphQLView.as_view(schema=schema))]
sys.modules["probe_urls"] = probe_urls

def post(mode, query):
    body = json.dumps({"query": query})
    if mode == "sync":
        client = Client()
        client.force_login(get_user_model().objects.get(username="demo"))
        response = client.post("/graphql/", body, content_type="application/json")
    else:
        signed_in = Client()
        signed_in.force_login(get_user_model().objects.get(username="demo"))
        client = AsyncClient()
        client.cookies = signed_in.cookies
        response = async_to_sync(client.post)("/graphql-async/", body, content_type="application/json")
    return response.status_code, response.json()

def aliases(n):
    return "{ documents { attachment { " + " ".join(f"u{i}: downloadUrl" for i in range(n)) + " } } }"

report = {}
with override_settings(ROOT_URLCONF="probe_urls"):
    for mode in ("sync", "async"):
        out = {}
        for name, query in {
            "aliases_1000": aliases(1000),
            "aliases_25": aliases(25),
            "tokens": "{ documents { attachment { " + "downloadUrl " * 2500 + "} } }",
            "fine": "{ documents { attachment { a: downloadUrl b: downloadUrl(expiresIn: 60) } } }",
        }.items():
            before = len(signed)
            status, body = post(mode, query)
            out[name] = {"status": status, "errors": [e["message"] for e in body.get("errors") or []],
                         "has_data": bool(body.get("data")), "signed": len(signed) - before}
        report[mode] = out
print(json.dumps(report))
"""


def test_example_schema_refuses_costly_documents_before_resolving(tmp_path):
    """1000 aliases of downloadUrl over a list of records: refused, and no URL was signed."""
    report = run_probe(LIMITER_PROBE, tmp_path)
    for mode in ("sync", "async"):
        out = report[mode]
        # 1000 aliases take more than 2000 tokens: the parser stops before validation.
        assert out["aliases_1000"]["signed"] == 0, out
        assert not out["aliases_1000"]["has_data"]
        assert any("more than 2000 tokens" in e for e in out["aliases_1000"]["errors"]), out
        # Few tokens, too many aliases: the validation rule refuses it.
        assert out["aliases_25"]["signed"] == 0
        assert not out["aliases_25"]["has_data"]
        assert out["aliases_25"]["errors"] == ["25 aliases found. Allowed: 20"], out
        # Repeated fields without aliases: the token limit.
        assert out["tokens"]["signed"] == 0
        assert any("more than 2000 tokens" in e for e in out["tokens"]["errors"]), out
        # A reasonable document still works: 2 URLs for each of the 5 records.
        assert out["fine"] == {"status": 200, "errors": [], "has_data": True, "signed": 10}, out


def test_a_max_size_over_the_byte_quota_warns(settings):
    from async_uploads.checks import check_registries

    assert [m.id for m in check_registries()] == []
    limits(settings, MAX_PENDING_BYTES=MB)  # Document.extra and others allow 100 MB
    warnings = [m for m in check_registries() if m.id == "async_uploads.W022"]
    assert Document._meta.get_field("extra") in [w.obj for w in warnings]
    assert Document._meta.get_field("attachment") not in [w.obj for w in warnings]  # exactly 1 MB
    limits(settings, MAX_PENDING_BYTES=None)
    assert [m.id for m in check_registries()] == []


@pytest.mark.parametrize("value", [0, -1, "100", True, 1.5])
def test_bad_limit_settings_are_a_system_check_error(settings, value):
    from async_uploads.checks import check_settings

    for name in ("MAX_PENDING_UPLOADS", "MAX_PENDING_BYTES", "MAX_UPLOAD_URLS_PER_REQUEST"):
        limits(settings, **{name: value})
        errors = check_settings()
        assert [e.id for e in errors] == ["async_uploads.E014"], errors
        assert name in errors[0].msg


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_widget_shows_the_quota_message(settings, admin_page):  # noqa: F811 (the imported fixture)
    """The widget's 429 answer from the REST view: the server's message under the field, no key."""
    from tests.test_browser_widget import pick

    limits(settings, MAX_PENDING_UPLOADS=1)
    page = admin_page
    page.goto(page.base_url + "/admin/testapp/profile/add/")
    first = pick(page, "resume", "cv.pdf", b"%PDF-1.4\n% cv\n%%EOF\n", "application/pdf")
    assert first.locator(".async-file-input__error").is_hidden()
    box = pick(page, "avatar", "me.png", PNG_1x1, "image/png")
    error = box.locator(".async-file-input__error")
    assert error.is_visible()
    assert "at most 1 are allowed" in error.inner_text() and "Save" in error.inner_text()
    assert box.locator("input[type=hidden]").input_value() == ""
    assert AsyncTempFile.objects.count() == 1
