#!/usr/bin/env python
"""Benchmark django-async-uploads ("ours") against alliance-platform-storage ("ref").

Run with the benchmark venv (see setup.sh)::

    benchmarks/.work/venv/bin/python benchmarks/run.py [--quick]

Both implementations live in one Django project (benchmarks/bench_project) and are measured in
the same run, alternating batch by batch, so machine noise hits both. The run works in Django's
test database (created and dropped here), prints Markdown tables and writes them to
benchmarks/RESULTS.md. See benchmarks/README.md for what each row measures.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_project.settings")

MiB = 1024 * 1024
#: Growth of the upload server's resident memory that ours must stay under.
RSS_TARGET_MIB = 16
#: Rows put in each temp-file table for the "large table" benchmark.
BIG_TABLE_ROWS = 100_000


@dataclass(frozen=True)
class Plan:
    """How many timed calls each implementation makes per benchmark, and the upload size."""

    warmup: int
    counted: int
    #: Calls per implementation prepared at once; inside a batch the two alternate call by call.
    batch: int
    generate: int
    create1: int
    image: int
    create2: int
    resave: int
    download: int
    big_table: int
    #: Timed calls per implementation of each GraphQL generateUploadUrl row (8, 8t, 8n, 8o, 8a; 8b a fifth).
    graphql: int
    #: Timed runs of each list query (section 9), per user and variant.
    list_runs: int
    #: Timed calls per implementation of each DRF row (10, 10m, 10u).
    drf: int
    #: Timed collectstatic runs per implementation (row 11), after one untimed run each.
    collect_runs: int
    upload_bytes: int
    upload_repeats: int


FULL = Plan(
    warmup=30,
    counted=5,
    batch=50,
    generate=2000,
    create1=1500,
    image=800,
    create2=800,
    resave=2000,
    download=2000,
    big_table=500,
    graphql=1000,
    list_runs=60,
    drf=800,
    collect_runs=7,
    upload_bytes=256 * MiB,
    upload_repeats=3,
)
QUICK = Plan(
    warmup=10,
    counted=3,
    batch=25,
    generate=200,
    create1=100,
    image=50,
    create2=50,
    resave=200,
    download=200,
    big_table=50,
    graphql=200,
    list_runs=10,
    drf=100,
    collect_runs=3,
    upload_bytes=32 * MiB,
    upload_repeats=1,
)


#: Footnotes for the report (e.g. a harness work-around for a bug of ours).
NOTES: list[str] = []


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


@dataclass
class Impl:
    """One implementation's side of a benchmark.

    ``prepare(n)`` returns the arguments of ``n`` calls and runs untimed; ``op(arg)`` is the
    timed work; ``check(results)`` (untimed) asserts the batch did what it should.
    ``counted(arg)``, when set, does ``op``'s work and returns ``(result, statements)`` itself:
    for work whose statements run on another thread's connection (the async view).
    """

    prepare: Callable[[int], list[Any]]
    op: Callable[[Any], Any]
    check: Callable[[list[Any]], None] | None = None
    counted: Callable[[Any], tuple[Any, list[str]]] | None = None


@dataclass
class Stats:
    times: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sample_sql: list[str] = field(default_factory=list)

    @property
    def ops_per_s(self) -> float:
        return len(self.times) / sum(self.times)

    @property
    def mean_ms(self) -> float:
        return 1000 * sum(self.times) / len(self.times)

    @property
    def median_ms(self) -> float:
        ordered = sorted(self.times)
        mid = len(ordered) // 2
        return 1000 * (ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2)

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.times)
        rank = max(0, -(-99 * len(ordered) // 100) - 1)  # nearest rank
        return 1000 * ordered[rank]

    @property
    def queries_per_call(self) -> float:
        return sum(self.queries) / len(self.queries)


@dataclass
class Row:
    key: str
    title: str
    ours: Stats | None = None
    ref: Stats | None = None
    error: str | None = None


def _warm_up(impl: Impl, n: int) -> None:
    results = [impl.op(a) for a in impl.prepare(n)]
    if impl.check is not None:
        impl.check(results)


def _count_queries(impl: Impl, n: int, stats: Stats) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results = []
    for a in impl.prepare(n):
        if impl.counted is not None:
            result, sql = impl.counted(a)
        else:
            with CaptureQueriesContext(connection) as ctx:
                result = impl.op(a)
            sql = [q["sql"] for q in ctx.captured_queries]
        results.append(result)
        stats.queries.append(len(sql))
        stats.sample_sql = sql
    if impl.check is not None:
        impl.check(results)


def compare(row: Row, ours: Impl, ref: Impl, n: int, plan: Plan) -> Row:
    """Warm up, count statements, then time ``n`` calls of each implementation.

    The calls alternate one by one (ours, ref, ref, ours, ...) so a burst of machine noise (a slow
    fsync, another process) lands on both. Arguments are prepared in batches, untimed, and the
    written data is flushed to disk before the batch's timed calls.
    """
    started = time.perf_counter()
    row.ours, row.ref = Stats(), Stats()
    pairs = [(ours, row.ours), (ref, row.ref)]
    for impl, stats in pairs:
        _warm_up(impl, plan.warmup)
        _count_queries(impl, plan.counted, stats)
    clock = time.perf_counter
    done = 0
    while done < n:
        k = min(plan.batch, n - done)
        args = [impl.prepare(k) for impl, _ in pairs]
        results: list[list[Any]] = [[], []]
        os.sync()
        gc.collect()
        for i in range(k):
            for side in (0, 1) if (done + i) % 2 == 0 else (1, 0):
                op, times = pairs[side][0].op, pairs[side][1].times
                t0 = clock()
                results[side].append(op(args[side][i]))
                times.append(clock() - t0)
        for side, (impl, _) in enumerate(pairs):
            if impl.check is not None:
                impl.check(results[side])
        done += k
    log(f"  {row.key} {row.title}: {n} calls each, {time.perf_counter() - started:.1f} s")
    return row


# --------------------------------------------------------------------------------------------
# Fixtures shared by the benchmarks
# --------------------------------------------------------------------------------------------


class Env:
    """Models, users, clients and helpers of both implementations."""

    def __init__(self) -> None:
        import bench_ours.models as om
        import bench_ref.models as rm
        from alliance_platform.storage.async_uploads.models import AsyncFileInputData as RefInput
        from alliance_platform.storage.async_uploads.models import AsyncTempFile as RefTemp
        from alliance_platform.storage.async_uploads.registry import default_async_field_registry as ref_reg
        from bench_project.storages import ours_storage, ref_storage
        from django.contrib.auth import get_user_model
        from django.test import Client, RequestFactory
        from django.urls import reverse
        from PIL import Image

        from async_uploads.inputs import AsyncFileInputData as OursInput
        from async_uploads.models import AsyncTempFile as OursTemp
        from async_uploads.registry import default_async_field_registry as ours_reg

        self.om, self.rm = om, rm
        self.OursInput, self.RefInput = OursInput, RefInput
        self.OursTemp, self.RefTemp = OursTemp, RefTemp
        self.ours_reg, self.ref_reg = ours_reg, ref_reg
        self.ours_storage, self.ref_storage = ours_storage, ref_storage

        user_model = get_user_model()
        self.user = user_model.objects.create_superuser("bench", "bench@example.com", "bench-password")
        # The request a form or API view would hand to create_from_user_input.
        self.request = RequestFactory().post("/")
        self.request.user = self.user
        self.client = Client()  # enforce_csrf_checks=False
        self.client.force_login(self.user)

        self.ours_urls = {
            "generate": reverse("async_uploads:generate-upload-url"),
            "download": reverse("async_uploads:download"),
        }
        self.ref_urls = {
            # The reference's REST views have no URL names; they hang off the include prefix.
            "generate": "/ref-uploads/generate-upload-url/",
            "download": "/ref-uploads/download-file/",
        }
        self.payload = b"benchmark payload\n" * 64  # about 1 KiB
        buffer = __import__("io").BytesIO()
        Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format="PNG")
        self.png = buffer.getvalue()

    # Field ids --------------------------------------------------------------------------------
    def ours_id(self, model: Any, name: str) -> str:
        return self.ours_reg.generate_id(model._meta.get_field(name))

    def ref_id(self, model: Any, name: str) -> str:
        return self.ref_reg.generate_id(model._meta.get_field(name))

    # Temporary keys with their object already uploaded -----------------------------------------
    def ours_key(self, model: Any, name: str, filename: str, content: bytes) -> str:
        temp = self.OursTemp.create_for_field(model._meta.get_field(name), filename, request=self.request)
        _write(self.ours_storage.path(temp.key), content)
        return temp.key

    def ref_key(self, model: Any, name: str, filename: str, content: bytes) -> str:
        temp = self.RefTemp.create_for_field(model._meta.get_field(name), filename)
        _write(self.ref_storage.path(temp.key), content)
        return temp.key

    def reset(self) -> None:
        """Empty both implementations' tables and media directories (between benchmarks)."""
        for model in (
            self.om.Document,
            self.om.TwoFiles,
            self.om.Photo,
            self.om.Record,
            self.rm.Document,
            self.rm.TwoFiles,
            self.rm.Photo,
            self.OursTemp,
            self.RefTemp,
        ):
            model._base_manager.all().delete()
        for storage in (self.ours_storage, self.ref_storage):
            shutil.rmtree(storage.location, ignore_errors=True)
            os.makedirs(storage.location, exist_ok=True)


def _write(path: str, content: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)


def _expect_status(response: Any, status: int) -> Any:
    if response.status_code != status:
        body = getattr(response, "content", b"")[:500]
        raise AssertionError(f"expected HTTP {status}, got {response.status_code}: {body!r}")
    return response


def _check_moved(storage: Any, *attrs: str) -> Callable[[list[Any]], None]:
    """Check that each saved record's files left their temporary keys and exist in storage."""

    def check(objs: list[Any]) -> None:
        for obj in objs:
            obj.refresh_from_db()
            for attr in attrs:
                name = getattr(obj, attr).name
                if not name or storage.is_temporary_path(name) or not storage.exists(name):
                    raise AssertionError(f"{obj._meta.label}(pk={obj.pk}).{attr} = {name!r}: not moved into place")

    return check


# --------------------------------------------------------------------------------------------
# Benchmarks 1-6: in-process
# --------------------------------------------------------------------------------------------


def _uploader_saved_its_forms(model: Any) -> Callable[[int], list[None]]:
    """The untimed step before each batch of the rows that issue upload URLs: empty ``model``.

    An uploader holds at most ``MAX_PENDING_UPLOADS`` (default 100) unsaved uploads, so in
    production the quota count of ours reads that many rows at most. Without this step the bench
    user would hold thousands by the end of a row, a state the default quota never allows (see
    README: "The rows that issue upload URLs"). Both implementations' tables are emptied alike.
    """

    def prepare(n: int) -> list[None]:
        model._base_manager.all()._raw_delete(model._base_manager.db)
        return [None] * n

    return prepare


def bench_generate(env: Env, plan: Plan) -> Row:
    row = Row("1", "generate upload URL (view)")
    client = env.client
    ours_data = {"field_id": env.ours_id(env.om.Document, "file"), "filename": "report.txt"}
    ref_data = {"field_id": env.ref_id(env.rm.Document, "file"), "filename": "report.txt"}
    ours_url, ref_url = env.ours_urls["generate"], env.ref_urls["generate"]
    from urllib.parse import urlencode

    ours_body = urlencode(ours_data)
    form = "application/x-www-form-urlencoded"

    def ours_op(_: Any) -> Any:
        return _expect_status(client.post(ours_url, ours_body, content_type=form), 200)

    def ref_op(_: Any) -> Any:
        return _expect_status(client.get(ref_url, ref_data), 200)

    def check(responses: list[Any]) -> None:
        for r in responses[:1]:
            body = r.json()
            assert body["key"] and body["uploadUrl"]["url"], body

    ours = Impl(_uploader_saved_its_forms(env.OursTemp), ours_op, check)
    ref = Impl(_uploader_saved_its_forms(env.RefTemp), ref_op, check)
    return compare(row, ours, ref, plan.generate, plan)


def _create1_impls(env: Env) -> tuple[Impl, Impl]:
    om, rm, request = env.om, env.rm, env.request
    OursInput, RefInput = env.OursInput, env.RefInput
    payload = env.payload

    def ours_prepare(n: int) -> list[str]:
        return [env.ours_key(om.Document, "file", "report.txt", payload) for _ in range(n)]

    def ours_op(key: str) -> Any:
        obj = om.Document(title="created")
        obj.file = OursInput.create_from_user_input({"key": key, "name": "report.txt"}, request=request)
        obj.save()
        return obj

    def ref_prepare(n: int) -> list[str]:
        return [env.ref_key(rm.Document, "file", "report.txt", payload) for _ in range(n)]

    def ref_op(key: str) -> Any:
        obj = rm.Document(title="created")
        obj.file = RefInput(key=key, name="report.txt")
        obj.save()
        return obj

    return (
        Impl(ours_prepare, ours_op, _check_moved(env.ours_storage, "file")),
        Impl(ref_prepare, ref_op, _check_moved(env.ref_storage, "file")),
    )


def bench_create1(env: Env, plan: Plan) -> Row:
    return compare(Row("2", "create record, 1 temporary key"), *_create1_impls(env), plan.create1, plan)


def bench_create1_atomic(env: Env, plan: Plan) -> Row:
    """Row 2's work inside ``transaction.atomic()``, as under ATOMIC_REQUESTS (one commit for the view)."""
    from django.db import transaction

    def in_atomic(impl: Impl) -> Impl:
        op = impl.op

        def atomic_op(arg: Any) -> Any:
            with transaction.atomic():
                return op(arg)

        return Impl(impl.prepare, atomic_op, impl.check)

    ours, ref = _create1_impls(env)
    return compare(
        Row("2t", "create record, 1 temporary key, in atomic()"), in_atomic(ours), in_atomic(ref), plan.create1, plan
    )


def bench_create2(env: Env, plan: Plan) -> Row:
    om, rm, request = env.om, env.rm, env.request
    OursInput, RefInput = env.OursInput, env.RefInput
    payload = env.payload

    def ours_prepare(n: int) -> list[tuple[str, str]]:
        return [
            (
                env.ours_key(om.TwoFiles, "first", "a.txt", payload),
                env.ours_key(om.TwoFiles, "second", "b.txt", payload),
            )
            for _ in range(n)
        ]

    def ours_op(keys: tuple[str, str]) -> Any:
        obj = om.TwoFiles(title="created")
        obj.first = OursInput.create_from_user_input({"key": keys[0], "name": "a.txt"}, request=request)
        obj.second = OursInput.create_from_user_input({"key": keys[1], "name": "b.txt"}, request=request)
        obj.save()
        return obj

    def ref_prepare(n: int) -> list[tuple[str, str]]:
        return [
            (
                env.ref_key(rm.TwoFiles, "first", "a.txt", payload),
                env.ref_key(rm.TwoFiles, "second", "b.txt", payload),
            )
            for _ in range(n)
        ]

    def ref_op(keys: tuple[str, str]) -> Any:
        obj = rm.TwoFiles(title="created")
        obj.first = RefInput(key=keys[0], name="a.txt")
        obj.second = RefInput(key=keys[1], name="b.txt")
        obj.save()
        return obj

    row = Row("3", "create record, 2 temporary keys")
    return compare(
        row,
        Impl(ours_prepare, ours_op, _check_moved(env.ours_storage, "first", "second")),
        Impl(ref_prepare, ref_op, _check_moved(env.ref_storage, "first", "second")),
        plan.create2,
        plan,
    )


def bench_image(env: Env, plan: Plan) -> Row:
    om, rm, request = env.om, env.rm, env.request
    OursInput, RefInput = env.OursInput, env.RefInput
    png = env.png

    def ours_prepare(n: int) -> list[str]:
        return [env.ours_key(om.Photo, "image", "photo.png", png) for _ in range(n)]

    def ours_op(key: str) -> Any:
        obj = om.Photo()
        obj.image = OursInput.create_from_user_input(
            {"key": key, "name": "photo.png", "width": 4, "height": 3}, request=request
        )
        obj.save()
        return obj

    def ref_prepare(n: int) -> list[str]:
        return [env.ref_key(rm.Photo, "image", "photo.png", png) for _ in range(n)]

    def ref_op(key: str) -> Any:
        obj = rm.Photo()
        obj.image = RefInput(key=key, name="photo.png", width=4, height=3)
        obj.save()
        return obj

    def dims(check: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
        def inner(objs: list[Any]) -> None:
            check(objs)
            for obj in objs:
                if (obj.width, obj.height) != (4, 3):
                    raise AssertionError(f"{obj._meta.label}(pk={obj.pk}) has dimensions {obj.width}x{obj.height}")

        return inner

    return compare(
        Row("2i", "create image record, 1 key + client width/height"),
        Impl(ours_prepare, ours_op, dims(_check_moved(env.ours_storage, "image"))),
        Impl(ref_prepare, ref_op, dims(_check_moved(env.ref_storage, "image"))),
        plan.image,
        plan,
    )


def _saved_record(env: Env, impl: str) -> Any:
    """A record whose file has already been moved to its permanent name."""
    ours_impl, ref_impl = _create1_impls(env)
    chosen = ours_impl if impl == "ours" else ref_impl
    obj = chosen.op(chosen.prepare(1)[0])
    obj.refresh_from_db()
    return obj


def bench_resave(env: Env, plan: Plan) -> Row:
    ours_obj, ref_obj = _saved_record(env, "ours"), _saved_record(env, "ref")
    ours_name, ref_name = ours_obj.file.name, ref_obj.file.name
    OursInput, RefInput, request = env.OursInput, env.RefInput, env.request

    def ours_op(i: int) -> Any:
        # What a form does on an edit that keeps the file: it submits the current key again.
        ours_obj.title = f"edit {i}"
        ours_obj.file = OursInput.create_from_user_input({"key": ours_name, "name": "report.txt"}, request=request)
        ours_obj.save()
        return ours_obj

    def ref_op(i: int) -> Any:
        ref_obj.title = f"edit {i}"
        ref_obj.file = RefInput(key=ref_name, name="report.txt")
        ref_obj.save()
        return ref_obj

    def unchanged(obj: Any, name: str) -> Callable[[list[Any]], None]:
        def check(_: list[Any]) -> None:
            obj.refresh_from_db()
            assert obj.file.name == name, (obj.file.name, name)

        return check

    return compare(
        Row("4", "re-save record, no key change"),
        Impl(lambda n: list(range(n)), ours_op, unchanged(ours_obj, ours_name)),
        Impl(lambda n: list(range(n)), ref_op, unchanged(ref_obj, ref_name)),
        plan.resave,
        plan,
    )


def bench_download(env: Env, plan: Plan) -> Row:
    ours_obj, ref_obj = _saved_record(env, "ours"), _saved_record(env, "ref")
    client = env.client
    ours_url, ref_url = env.ours_urls["download"], env.ref_urls["download"]
    ours_q = {"field_id": env.ours_id(env.om.Document, "file"), "instance_id": ours_obj.pk}
    ref_q = {"field_id": env.ref_id(env.rm.Document, "file"), "instance_id": ref_obj.pk}

    def ours_op(_: Any) -> Any:
        return _expect_status(client.get(ours_url, ours_q), 302)

    def ref_op(_: Any) -> Any:
        return _expect_status(client.get(ref_url, ref_q), 302)

    def nothing(n: int) -> list[None]:
        return [None] * n

    return compare(
        Row("5", "download redirect (view)"),
        Impl(nothing, ours_op),
        Impl(nothing, ref_op),
        plan.download,
        plan,
    )


def fill_temp_tables(env: Env, rows: int) -> None:
    """Bulk-insert ``rows`` unrelated temp-file rows into each implementation's table."""
    from django.contrib.contenttypes.models import ContentType

    ours_ct = ContentType.objects.get_for_model(env.om.Document)
    ref_ct = ContentType.objects.get_for_model(env.rm.Document)
    batch = 2000
    for start in range(0, rows, batch):
        stop = min(rows, start + batch)
        env.OursTemp.objects.bulk_create(
            env.OursTemp(
                original_filename=f"old-{i}.txt",
                key=f"async-temp-files/2000/01/01/filler{i:08d}-old-{i}.txt",
                content_type=ours_ct,
                field_name="file",
            )
            for i in range(start, stop)
        )
        env.RefTemp.objects.bulk_create(
            env.RefTemp(
                original_filename=f"old-{i}.txt",
                key=f"async-temp-files/2000/01/01/filler{i:08d}-old-{i}.txt",
                content_type=ref_ct,
                field_name="file",
            )
            for i in range(start, stop)
        )


def bench_big_table(env: Env, plan: Plan) -> tuple[Row, Row]:
    empty = compare(Row("6a", "create, 1 key: temp table empty"), *_create1_impls(env), plan.big_table, plan)
    log(f"  filling both temp-file tables with {BIG_TABLE_ROWS:,} rows")
    t0 = time.perf_counter()
    fill_temp_tables(env, BIG_TABLE_ROWS)
    _analyze()
    log(f"  filled in {time.perf_counter() - t0:.1f} s")
    full = compare(
        Row("6b", f"create, 1 key: {BIG_TABLE_ROWS:,} rows in temp table"),
        *_create1_impls(env),
        plan.big_table,
        plan,
    )
    return empty, full


def _analyze() -> None:
    """Refresh planner statistics, as autovacuum would on a long-lived table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --------------------------------------------------------------------------------------------
# Benchmarks 8-9: the GraphQL layer (bench_project/graphql_schema.py, served at /graphql*/)
# --------------------------------------------------------------------------------------------

#: What a client sends for an upload URL: the whole upload target, and the error branch.
GENERATE_MUTATION = """mutation GenerateUploadUrl($input: GenerateUploadUrlInput!) {
  generateUploadUrl(input: $input) {
    __typename
    ... on IssuedUpload {
      key
      upload { url method provider fields { name value } headers { name value } fileFieldName expiresAt }
    }
    ... on OperationInfo { messages { kind message field code } }
  }
}"""

LIST_WITH_FILES = "{ documents { id title attachment { key name url downloadUrl } } }"
LIST_WITHOUT_FILES = "{ documents { id title } }"
#: Records the list query returns.
LIST_RECORDS = 100


def _graphql_body(query: str, variables: dict[str, Any] | None = None) -> str:
    import json

    return json.dumps({"query": query, "variables": variables or {}})


def _graphql_data(response: Any) -> dict[str, Any]:
    _expect_status(response, 200)
    body = response.json()
    if body.get("errors") or not body.get("data"):
        raise AssertionError(f"GraphQL errors: {body!r}"[:800])
    return body["data"]


def _check_issued(responses: list[Any]) -> None:
    for r in responses:
        payload = _graphql_data(r)["generateUploadUrl"]
        if payload["__typename"] != "IssuedUpload" or not payload["key"] or not payload["upload"]["url"]:
            raise AssertionError(f"no upload URL issued: {payload!r}"[:800])


def _ref_generate_impl(env: Env) -> Impl:
    client, url = env.client, env.ref_urls["generate"]
    data = {"field_id": env.ref_id(env.rm.Document, "file"), "filename": "report.txt"}

    def ref_op(_: Any) -> Any:
        return _expect_status(client.get(url, data), 200)

    def check(responses: list[Any]) -> None:
        for r in responses:
            body = r.json()
            assert body["key"] and body["uploadUrl"]["url"], body

    return Impl(_uploader_saved_its_forms(env.RefTemp), ref_op, check)


def _generate_variables(env: Env) -> dict[str, Any]:
    from async_uploads.graphql import field_enum

    field_id = env.ours_id(env.om.Document, "file")
    member = field_enum()(field_id).name  # BENCH_OURS_DOCUMENT_FILE
    return {"input": {"field": member, "filename": "report.txt"}}


def _bench_graphql_generate_sync(env: Env, plan: Plan, key: str, title: str, path: str) -> Row:
    client = env.client
    body = _graphql_body(GENERATE_MUTATION, _generate_variables(env))
    json_type = "application/json"

    def ours_op(_: Any) -> Any:
        return client.post(path, body, content_type=json_type)

    ours = Impl(_uploader_saved_its_forms(env.OursTemp), ours_op, _check_issued)
    return compare(Row(key, title), ours, _ref_generate_impl(env), plan.graphql, plan)


def bench_graphql_generate(env: Env, plan: Plan) -> Row:
    return _bench_graphql_generate_sync(
        env, plan, "8", "generate upload URL (GraphQL, sync view, parser+validation caches)", "/graphql/"
    )


FLOOR_MUTATION = "mutation Floor($filename: String!) { floorInsert(filename: $filename) { key url } }"


def _floor_impl(env: Env, op: Callable[[Any], Any]) -> Impl:
    """The floor side of rows 1f and 8f: the session and user lookups and one INSERT (a Document row)."""

    def prepare(n: int) -> list[None]:
        return [None] * n

    def check(responses: list[Any]) -> None:
        for r in responses:
            if r.status_code != 200 or b'"key"' not in r.content or b'"errors"' in r.content:
                raise AssertionError(f"floor: {r.status_code} {r.content[:300]!r}")

    return Impl(prepare, op, check)


def bench_generate_floor(env: Env, plan: Plan) -> Row:
    """Extra 1f: a plain Django view doing row 1's three statements, against the reference's view."""
    client, body = env.client, "filename=report.txt"

    def op(_: Any) -> Any:
        return client.post("/floor-insert/", body, content_type="application/x-www-form-urlencoded")

    row = Row("1f", "floor: plain Django view, session + user + one INSERT (vs ref's upload-URL view)")
    return compare(row, _floor_impl(env, op), _ref_generate_impl(env), plan.generate, plan)


def bench_graphql_generate_floor(env: Env, plan: Plan) -> Row:
    """Extra 8f: a minimal strawberry mutation doing row 8's three statements, against the reference's view."""
    client, body = env.client, _graphql_body(FLOOR_MUTATION, {"filename": "report.txt"})

    def op(_: Any) -> Any:
        return client.post("/graphql/", body, content_type="application/json")

    row = Row("8f", "floor: minimal strawberry mutation, session + user + one INSERT (vs ref's upload-URL view)")
    return compare(row, _floor_impl(env, op), _ref_generate_impl(env), plan.graphql, plan)


def bench_graphql_generate_nocache(env: Env, plan: Plan) -> Row:
    return _bench_graphql_generate_sync(
        env, plan, "8n", "generate upload URL (GraphQL, sync view, no caches)", "/graphql-nocache/"
    )


def bench_graphql_generate_textcache(env: Env, plan: Plan) -> Row:
    return _bench_graphql_generate_sync(
        env,
        plan,
        "8t",
        "generate upload URL (GraphQL, sync view, parser cache + validation cache keyed by text)",
        "/graphql-textcache/",
    )


def bench_graphql_generate_noopt(env: Env, plan: Plan) -> Row:
    return _bench_graphql_generate_sync(
        env, plan, "8o", "generate upload URL (GraphQL, sync view, caches, no optimizer)", "/graphql-noopt/"
    )


#: Upload URLs one form asks for in row 8b.
BATCH_URLS = 5

GENERATE_BATCH_MUTATION = """mutation GenerateUploadUrls($input: [GenerateUploadUrlInput!]!) {
  generateUploadUrls(input: $input) {
    __typename
    ... on IssuedUpload {
      key
      upload { url method provider fields { name value } headers { name value } fileFieldName expiresAt }
    }
    ... on OperationInfo { messages { kind message field code } }
  }
}"""


def bench_graphql_generate_batch(env: Env, plan: Plan) -> Row:
    """Extra: a form with BATCH_URLS files; one generateUploadUrls call against that many REST calls."""
    client = env.client
    item = _generate_variables(env)["input"]
    body = _graphql_body(GENERATE_BATCH_MUTATION, {"input": [item] * BATCH_URLS})
    ref = _ref_generate_impl(env)

    def ours_op(_: Any) -> Any:
        return client.post("/graphql/", body, content_type="application/json")

    def ours_check(responses: list[Any]) -> None:
        for r in responses:
            payloads = _graphql_data(r)["generateUploadUrls"]
            if len(payloads) != BATCH_URLS or any(p["__typename"] != "IssuedUpload" for p in payloads):
                raise AssertionError(f"not {BATCH_URLS} upload URLs: {payloads!r}"[:800])

    def ref_op(_: Any) -> Any:
        return [ref.op(None) for _ in range(BATCH_URLS)]

    def ref_check(batches: list[Any]) -> None:
        assert ref.check is not None
        for responses in batches:
            ref.check(responses)

    return compare(
        Row("8b", f"{BATCH_URLS} upload URLs: one generateUploadUrls call vs {BATCH_URLS} REST calls"),
        Impl(_uploader_saved_its_forms(env.OursTemp), ours_op, ours_check),
        Impl(_uploader_saved_its_forms(env.RefTemp), ref_op, ref_check),
        plan.graphql // BATCH_URLS,
        plan,
    )


class AsyncRunner:
    """An event loop on the main thread for AsyncClient calls, as an ASGI server would run one.

    The view's sync parts (strawberry_django's resolvers, the session and user lookups) run
    through ``sync_to_async(thread_sensitive=True)`` on asgiref's single worker thread, with that
    thread's database connection; ``close()`` closes it (PostgreSQL cannot drop a test database
    that still has a connection).
    """

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def in_worker(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the thread where the async view's database work happens."""
        from asgiref.sync import sync_to_async

        return self.run(sync_to_async(fn, thread_sensitive=True)())

    def counted(self, make_coro: Callable[[], Any]) -> tuple[Any, list[str]]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        ctx = CaptureQueriesContext(connection)  # the proxy resolves to the worker's connection
        self.in_worker(ctx.__enter__)
        try:
            result = self.run(make_coro())
        finally:
            self.in_worker(lambda: ctx.__exit__(None, None, None))
        # captured_queries reads the connection's log when called: read it on the worker too.
        return result, self.in_worker(lambda: [q["sql"] for q in ctx.captured_queries])

    def close(self) -> None:
        from django.db import connections

        try:
            self.in_worker(connections.close_all)
        finally:
            self.loop.close()


def bench_graphql_generate_async(env: Env, plan: Plan) -> Row:
    from django.test import AsyncClient

    runner = AsyncRunner()
    client = AsyncClient()
    client.force_login(env.user)
    body = _graphql_body(GENERATE_MUTATION, _generate_variables(env))
    json_type = "application/json"

    def request() -> Any:
        return client.post("/graphql-async/", body, content_type=json_type)

    def ours_op(_: Any) -> Any:
        return runner.run(request())

    ours = Impl(
        _uploader_saved_its_forms(env.OursTemp), ours_op, _check_issued, counted=lambda _: runner.counted(request)
    )
    try:
        return compare(
            Row("8a", "generate upload URL (GraphQL, async view, caches)"),
            ours,
            _ref_generate_impl(env),
            plan.graphql,
            plan,
        )
    finally:
        runner.close()


@dataclass
class ListResult:
    viewer: str
    variant: str
    times: list[float] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return Stats(times=self.times).median_ms

    @property
    def mean_ms(self) -> float:
        return Stats(times=self.times).mean_ms


def _list_fixture(env: Env) -> None:
    """``LIST_RECORDS`` documents, each with a file under its permanent name."""
    names = [f"documents/list-{i:03d}.txt" for i in range(LIST_RECORDS)]
    for name in names:
        _write(env.ours_storage.path(name), env.payload)
    env.om.Document.objects.bulk_create(env.om.Document(title=f"doc {i}", file=name) for i, name in enumerate(names))


def _viewers(env: Env) -> list[tuple[str, Any]]:
    """The superuser, and two users holding ``bench_ours.view_document`` through a group / directly."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    user_model = get_user_model()
    perm = Permission.objects.get(content_type__app_label="bench_ours", codename="view_document")
    group, _ = Group.objects.get_or_create(name="bench-viewers")
    group.permissions.add(perm)
    by_group, _ = user_model.objects.get_or_create(username="bench-group-viewer")
    by_group.groups.add(group)
    direct, _ = user_model.objects.get_or_create(username="bench-user-viewer")
    direct.user_permissions.add(perm)
    return [
        ("superuser", env.user),
        ("view perm via group", by_group),
        ("view perm on the user", direct),
    ]


def bench_graphql_list(env: Env, plan: Plan) -> list[ListResult]:
    """Section 9: the documents list with and without its file fields, per viewer (sync view, caches)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    _list_fixture(env)
    variants = [("with url + downloadUrl", LIST_WITH_FILES), ("without file fields", LIST_WITHOUT_FILES)]
    results = []
    for viewer, user in _viewers(env):
        client = Client()
        client.force_login(user)
        calls = []
        for variant, query in variants:
            body = _graphql_body(query)

            def call(body: str = body, client: Any = client) -> Any:
                return client.post("/graphql/", body, content_type="application/json")

            calls.append((ListResult(viewer, variant), call))
        for res, call in calls:
            for _ in range(plan.warmup // 3 + 1):
                call()
            with CaptureQueriesContext(connection) as ctx:
                response = call()
            res.sql = [q["sql"] for q in ctx.captured_queries]
            docs = _graphql_data(response)["documents"]
            if len(docs) != LIST_RECORDS:
                raise AssertionError(f"{viewer}: {len(docs)} documents listed, expected {LIST_RECORDS}")
            if "attachment" in docs[0]:
                missing = [d["id"] for d in docs if not (d["attachment"]["url"] and d["attachment"]["downloadUrl"])]
                if missing:
                    raise AssertionError(f"{viewer}: no url/downloadUrl for documents {missing[:5]}")
        clock = time.perf_counter
        gc.collect()
        for i in range(plan.list_runs):
            for res, call in calls if i % 2 == 0 else calls[::-1]:
                t0 = clock()
                response = call()
                res.times.append(clock() - t0)
                _expect_status(response, 200)
        results.extend(res for res, _ in calls)
    log(f"  9 list query, {LIST_RECORDS} records: {plan.list_runs} runs each, {time.perf_counter() - started:.1f} s")
    return results


#: Section 9f: a file and an image per record, both with every AsyncFile subfield.
FILES_LIST_WITH = "{ records { id title attachment { key name url downloadUrl } image { key name url downloadUrl } } }"
#: The same with the image's width and height (sync view only).
FILES_LIST_SIZES = FILES_LIST_WITH.replace("downloadUrl } } }", "downloadUrl width height } } }")
FILES_LIST_WITHOUT = "{ records { id title } }"
#: The same values as plain attribute fields of objects computed once per record (graphql_schema.RecordFloorType).
FILES_LIST_FLOOR = FILES_LIST_WITH.replace("{ records ", "{ recordsFloor ")
#: Section 9f's variants: the label, the query and the key of its list in the response.
FILES_LIST_VARIANTS = (
    ("with file fields", FILES_LIST_WITH, "records"),
    ("without file fields", FILES_LIST_WITHOUT, "records"),
    ("floor: plain attributes", FILES_LIST_FLOOR, "recordsFloor"),
    ("with file fields + width height", FILES_LIST_SIZES, "records"),
)


@dataclass
class FilesListResult:
    viewer: str
    view: str
    variant: str
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    #: Python function calls of one request (cProfile; the async view's worker thread included).
    calls: int = 0

    @property
    def median_ms(self) -> float:
        return Stats(times=self.times).median_ms

    @property
    def cpu_median_ms(self) -> float:
        return Stats(times=self.cpu).median_ms


def _files_list_fixture(env: Env) -> None:
    """``LIST_RECORDS`` records, each with a file and an image (with its dimensions) under permanent names."""
    records = []
    for i in range(LIST_RECORDS):
        attachment, image = f"records/list-{i:03d}.txt", f"records/images/list-{i:03d}.png"
        _write(env.ours_storage.path(attachment), env.payload)
        _write(env.ours_storage.path(image), env.png)
        records.append(env.om.Record(title=f"record {i}", attachment=attachment, image=image, width=4, height=3))
    env.om.Record.objects.bulk_create(records)


def _calls_of(request: Callable[[], Any], runner: AsyncRunner | None) -> int:
    """Python function calls of one ``request()`` (in the async view's worker thread too)."""
    import cProfile
    import pstats

    main, worker = cProfile.Profile(), cProfile.Profile()
    if runner is not None:
        runner.in_worker(worker.enable)
    main.enable()
    try:
        request()
    finally:
        main.disable()
        if runner is not None:
            runner.in_worker(worker.disable)
    total = pstats.Stats(main).total_calls  # type: ignore[attr-defined]
    if runner is not None:
        try:
            total += pstats.Stats(worker).total_calls  # type: ignore[attr-defined]
        except TypeError:  # nothing ran in the worker
            pass
    return total


def bench_graphql_files_list(env: Env, plan: Plan) -> list[FilesListResult]:
    """Section 9f: records with a file and an image, with and without their file fields, sync and async views."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.test import AsyncClient, Client
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    _files_list_fixture(env)
    perm = Permission.objects.get(content_type__app_label="bench_ours", codename="view_record")
    direct, _ = get_user_model().objects.get_or_create(username="bench-record-viewer")
    direct.user_permissions.add(perm)
    runner = AsyncRunner()
    results: list[FilesListResult] = []
    try:
        for viewer, user in (("superuser", env.user), ("view perm on the user", direct)):
            sync_client, async_client = Client(), AsyncClient()
            sync_client.force_login(user)
            async_client.force_login(user)
            calls: list[tuple[FilesListResult, Callable[[], Any]]] = []
            for view in ("sync", "async"):
                for variant, query, _ in FILES_LIST_VARIANTS:
                    if view == "async" and (variant.startswith("floor") or "width" in variant):
                        # The floor's resolvers are strawberry_django's: one sync_to_async per record there.
                        continue
                    body = _graphql_body(query)
                    res = FilesListResult(viewer, view, variant)
                    if view == "sync":

                        def call(body: str = body, client: Any = sync_client) -> Any:
                            return client.post("/graphql/", body, content_type="application/json")

                    else:

                        def call(body: str = body, client: Any = async_client) -> Any:
                            return runner.run(client.post("/graphql-async/", body, content_type="application/json"))

                    calls.append((res, call))
            for res, call in calls:
                for _ in range(plan.warmup // 3 + 1):
                    call()
                if res.view == "sync":
                    with CaptureQueriesContext(connection) as ctx:
                        response = call()
                    res.sql = [q["sql"] for q in ctx.captured_queries]
                else:
                    body = _graphql_body(next(q for v, q, _ in FILES_LIST_VARIANTS if v == res.variant))
                    response, res.sql = runner.counted(
                        lambda body=body, client=async_client: client.post(
                            "/graphql-async/", body, content_type="application/json"
                        )
                    )
                records = _graphql_data(response)[next(k for v, _, k in FILES_LIST_VARIANTS if v == res.variant)]
                if len(records) != LIST_RECORDS:
                    raise AssertionError(f"{viewer}: {len(records)} records listed, expected {LIST_RECORDS}")
                if "attachment" in records[0]:
                    bad = [
                        r["id"]
                        for r in records
                        if not all(r[f]["url"] and r[f]["downloadUrl"] for f in ("attachment", "image"))
                        or ("width" in res.variant and (r["image"]["width"], r["image"]["height"]) != (4, 3))
                    ]
                    if bad:
                        raise AssertionError(f"{viewer}, {res.view}: missing file values for records {bad[:5]}")
                res.calls = _calls_of(call, runner if res.view == "async" else None)
            clock, cpu = time.perf_counter, time.process_time
            gc.collect()
            for i in range(plan.list_runs):
                for res, call in calls if i % 2 == 0 else calls[::-1]:
                    c0, t0 = cpu(), clock()
                    response = call()
                    res.times.append(clock() - t0)
                    res.cpu.append(cpu() - c0)
                    _expect_status(response, 200)
            results.extend(res for res, _ in calls)
    finally:
        runner.close()
    log(
        f"  9f file + image list, {LIST_RECORDS} records: {plan.list_runs} runs each, "
        f"{time.perf_counter() - started:.1f} s"
    )
    return results


def files_list_table(results: list[FilesListResult]) -> str:
    out = (
        "| viewer | view | query | queries | calls/request | median ms | CPU median ms | runs "
        "| with / without (median) | with / without (CPU) | / floor (CPU) "
        "| async / sync (median) | async / sync (CPU) |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    by = {(r.viewer, r.view, r.variant): r for r in results}
    for res in results:
        base = by.get((res.viewer, res.view, "without file fields"))
        floor = by.get((res.viewer, "sync", "floor: plain attributes"))
        sync = by.get((res.viewer, "sync", res.variant))
        ratio = cpu_ratio = vs_floor = vs_sync = vs_sync_cpu = ""
        if base is not None and base is not res:
            ratio = f"{res.median_ms / base.median_ms:.2f}"
            cpu_ratio = f"{res.cpu_median_ms / base.cpu_median_ms:.2f}"
        if floor is not None and res.variant == "with file fields" and res.view == "sync":
            vs_floor = f"{res.cpu_median_ms / floor.cpu_median_ms:.2f}"
        if sync is not None and sync is not res:
            vs_sync = f"{res.median_ms / sync.median_ms:.2f}"
            vs_sync_cpu = f"{res.cpu_median_ms / sync.cpu_median_ms:.2f}"
        out += (
            f"| {res.viewer} | {res.view} | {res.variant} | {len(res.sql)} | {res.calls:,} | {_fmt(res.median_ms, 3)} "
            f"| {_fmt(res.cpu_median_ms, 3)} | {len(res.times)} | {ratio} | {cpu_ratio} | {vs_floor} | {vs_sync} "
            f"| {vs_sync_cpu} |\n"
        )
    return out


# --------------------------------------------------------------------------------------------
# Benchmarks 10: DRF serializers (bench_project/drf_api.py, served at /drf/*)
# --------------------------------------------------------------------------------------------

DRF_PATHS = {
    "ours": "/drf/ours/documents/",
    "ours-plain": "/drf/ours-plain/documents/",
    "ref": "/drf/ref/documents/",
}


def _drf_create_impl(env: Env, side: str) -> Impl:
    """POST ``{"title", "file": {"key", "name"}}`` to a side's CreateAPIView, with a key issued for it."""
    import json

    ours = side != "ref"
    model = env.om.Document if ours else env.rm.Document
    storage = env.ours_storage if ours else env.ref_storage
    new_key = env.ours_key if ours else env.ref_key
    client, path, payload = env.client, DRF_PATHS[side], env.payload

    def prepare(n: int) -> list[str]:
        return [
            json.dumps(
                {
                    "title": "created",
                    "file": {"key": new_key(model, "file", "report.txt", payload), "name": "report.txt"},
                }
            )
            for _ in range(n)
        ]

    def op(body: str) -> Any:
        return client.post(path, body, content_type="application/json")

    moved = _check_moved(storage, "file")

    def check(responses: list[Any]) -> None:
        objs = []
        for r in responses:
            data = _expect_status(r, 201).json()
            obj = model._base_manager.get(pk=data["id"])
            # The answer shows the file under its permanent name, as the record holds it.
            if data["file"] is None or data["file"]["key"] != obj.file.name:
                raise AssertionError(f"{side}: answered {data['file']!r}, the record holds {obj.file.name!r}")
            objs.append(obj)
        moved(objs)

    return Impl(prepare, op, check)


def bench_drf_create(env: Env, plan: Plan) -> Row:
    return compare(
        Row("10", "DRF create, 1 uploaded key (CreateAPIView, ModelSerializer)"),
        _drf_create_impl(env, "ours"),
        _drf_create_impl(env, "ref"),
        plan.drf,
        plan,
    )


def bench_drf_create_plain(env: Env, plan: Plan) -> Row:
    """Extra: row 10 with ours' bare serializer_field_mapping recipe (no mixin, so no atomic save)."""
    return compare(
        Row("10m", "DRF create, 1 uploaded key, ours without AsyncFileSerializerMixin (mapping only)"),
        _drf_create_impl(env, "ours-plain"),
        _drf_create_impl(env, "ref"),
        plan.drf,
        plan,
    )


def _drf_update_impl(env: Env, side: str) -> Impl:
    """PATCH a record (made through row 10's view) with a new title and its file as the view gave it."""
    import itertools
    import json

    ours = side == "ours"
    created = _drf_create_impl(env, side)
    response = created.op(created.prepare(1)[0])
    assert created.check is not None
    created.check([response])
    record = response.json()
    current = record["file"]  # {"key", "name", "url"}: the permanent key, sent back unchanged
    path = f"{DRF_PATHS[side]}{record['id']}/"
    model = env.om.Document if ours else env.rm.Document
    storage = env.ours_storage if ours else env.ref_storage
    client, counter = env.client, itertools.count()

    def prepare(n: int) -> list[str]:
        return [json.dumps({"title": f"edit {next(counter)}", "file": current}) for _ in range(n)]

    def op(body: str) -> Any:
        return client.patch(path, body, content_type="application/json")

    def check(responses: list[Any]) -> None:
        for r in responses:
            data = _expect_status(r, 200).json()
            if data["file"]["key"] != current["key"]:
                raise AssertionError(f"{side}: the key changed: {data['file']!r}, sent {current!r}")
        obj = model._base_manager.get(pk=record["id"])
        if obj.file.name != current["key"] or obj.title != responses[-1].json()["title"]:
            raise AssertionError(f"{side}: record holds {obj.file.name!r} / {obj.title!r}")
        if not storage.exists(current["key"]):
            raise AssertionError(f"{side}: the file {current['key']!r} is gone")

    return Impl(prepare, op, check)


def bench_drf_update(env: Env, plan: Plan) -> Row:
    return compare(
        Row("10u", "DRF PATCH, current file sent back unchanged + new title (UpdateAPIView)"),
        _drf_update_impl(env, "ours"),
        _drf_update_impl(env, "ref"),
        plan.drf,
        plan,
    )


# --------------------------------------------------------------------------------------------
# Benchmark 7: a large upload through each implementation's filesystem upload view
# --------------------------------------------------------------------------------------------


class MultipartBody:
    """A multipart/form-data body with one ``file`` part, generated as it is sent.

    ``len()`` gives requests the Content-Length (so the body is not sent chunked, which WSGI
    servers do not decode); iteration yields it in 1 MiB pieces, so the client never holds
    more than that.
    """

    chunk = MiB

    def __init__(self, size: int, filename: str, content_type: str = "application/octet-stream"):
        self.boundary = "bench" + secrets.token_hex(16)
        self.size = size
        self.head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.block = os.urandom(self.chunk)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        remaining = self.size
        while remaining > 0:
            n = min(self.chunk, remaining)
            yield self.block if n == self.chunk else self.block[:n]
            remaining -= n
        yield self.tail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of ``pid`` in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0]) * 1024
    return out


def _reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux: write 5 to clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Server:
    """``manage.py runserver --noreload`` on a free loopback port, as a child process."""

    def __init__(self, log_path: Path):
        from django.db import connection

        self.port = _free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["DJANGO_SETTINGS_MODULE"] = "bench_project.settings"
        env["BENCH_DB_NAME"] = str(connection.settings_dict["NAME"])
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "runserver",
                "--noreload",
                "--skip-checks",
                f"127.0.0.1:{self.port}",
            ],
            cwd=BENCH_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # no orphaned server when it never answers
            raise

    def _wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the upload server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                # The first request loads the URLconf (and the GraphQL schemas): allow it time on a
                # busy machine.
                if requests.get(self.base + "/ping/", timeout=10).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)
        raise RuntimeError("the upload server did not start within 30 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class UploadResult:
    impl: str
    size: int
    wall_s: float
    rss_before: int
    hwm_after: int
    rss_after: int
    peak_reset: bool
    #: Seconds ``dd conv=fsync`` took to write and sync the same bytes right after this upload.
    dd_s: float | None = None

    @property
    def growth(self) -> int:
        return self.hwm_after - self.rss_before


def _issue_upload(env: Env, impl: str, filename: str, size: int) -> tuple[str, str]:
    """Ask each implementation's own view for an upload URL; return (url, key)."""
    from urllib.parse import urlencode

    if impl == "ours":
        data = {
            "field_id": env.ours_id(env.om.Document, "file"),
            "filename": filename,
            "size": size,
            "content_type": "application/octet-stream",
        }
        response = env.client.post(
            env.ours_urls["generate"], urlencode(data), content_type="application/x-www-form-urlencoded"
        )
    else:
        data = {"field_id": env.ref_id(env.rm.Document, "file"), "filename": filename}
        response = env.client.get(env.ref_urls["generate"], data)
    body = _expect_status(response, 200).json()
    return body["uploadUrl"]["url"], body["key"]


def _upload_once(env: Env, server: Server, impl: str, size: int) -> tuple[float, Any]:
    import requests

    url, key = _issue_upload(env, impl, "big.bin", size)
    body = MultipartBody(size, "big.bin")
    t0 = time.perf_counter()
    response = requests.post(server.base + url, data=body, headers={"Content-Type": body.content_type}, timeout=600)
    wall = time.perf_counter() - t0
    if response.status_code != 201:
        raise AssertionError(f"{impl} upload: HTTP {response.status_code}: {response.text[:500]}")
    storage = env.ours_storage if impl == "ours" else env.ref_storage
    stored = storage.size(key)
    if stored != size:
        raise AssertionError(f"{impl} upload stored {stored} bytes at {key!r}, sent {size}")
    floor = _dd_floor(storage.path(key)) if size >= MiB else None
    storage.delete(key)
    return wall, floor


def _dd_floor(path: str) -> float | None:
    """Seconds ``dd conv=fsync`` takes to write and sync a copy of ``path`` beside it (the bytes just uploaded).

    The floor for an upload that is synced to disk before it is answered: the same bytes, the same
    filesystem, right after the upload (the source is in the page cache, so this is the write and the sync).
    """
    target = path + ".dd-floor"
    dd = shutil.which("dd")
    if dd is None:
        return None
    try:
        t0 = time.perf_counter()
        subprocess.run([dd, f"if={path}", f"of={target}", "bs=1M", "conv=fsync"], check=True, capture_output=True)
        return time.perf_counter() - t0
    finally:
        if os.path.exists(target):
            os.remove(target)


def bench_upload(env: Env, plan: Plan) -> list[UploadResult]:
    size = plan.upload_bytes
    log(f"  7 upload {size // MiB} MiB through each filesystem upload view, {plan.upload_repeats} x each")
    results = []
    order = ["ours", "ref"]
    for r in range(plan.upload_repeats):
        for impl in order if r % 2 == 0 else order[::-1]:
            server = Server(Path(env.ours_storage.location).parent.parent / "server.log")
            try:
                pid = server.proc.pid
                # Warm-up: a small upload loads the view's code paths and opens the DB connection.
                _upload_once(env, server, impl, 64 * 1024)
                time.sleep(0.2)
                startup_peak = _proc_status(pid)["VmHWM"]
                reset = _reset_peak(pid)
                before = _proc_status(pid)
                wall, floor = _upload_once(env, server, impl, size)
                after = _proc_status(pid)
            finally:
                server.stop()
            results.append(
                UploadResult(
                    impl, size, wall, before["VmRSS"], after["VmHWM"], after["VmRSS"], peak_reset=reset, dd_s=floor
                )
            )
            log(
                f"    {impl}: {wall:.2f} s (dd conv=fsync of the same bytes: "
                f"{'-' if floor is None else f'{floor:.2f} s'}), peak RSS growth {results[-1].growth / MiB:.1f} MiB "
                f"(VmHWM before reset {startup_peak / MiB:.1f} MiB, reset {'ok' if reset else 'FAILED'})"
            )
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _q(stats: Stats) -> str:
    value = stats.queries_per_call
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def main_table(rows: list[Row]) -> str:
    head = (
        "| # | benchmark | ours ops/s | ref ops/s | ours/ref | ours/ref by median | ours mean ms | ref mean ms "
        "| ours p99 ms | ref p99 ms | ours queries/call | ref queries/call |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for row in rows:
        if row.error or row.ours is None or row.ref is None:
            lines.append(f"| {row.key} | {row.title} | FAILED: {row.error} ||||||||||")
            continue
        o, r = row.ours, row.ref
        lines.append(
            f"| {row.key} | {row.title} | {_fmt(o.ops_per_s, 0)} | {_fmt(r.ops_per_s, 0)} "
            f"| {o.ops_per_s / r.ops_per_s:.2f} | {r.median_ms / o.median_ms:.2f} "
            f"| {_fmt(o.mean_ms, 3)} | {_fmt(r.mean_ms, 3)} "
            f"| {_fmt(o.p99_ms, 3)} | {_fmt(r.p99_ms, 3)} | {_q(o)} | {_q(r)} |"
        )
    return head + "\n".join(lines) + "\n"


def _key_indexed(model: Any) -> str:
    """Whether the temp-file table has an index (or unique constraint) led by its ``key`` column."""
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    indexed = any(c["columns"][:1] == ["key"] and (c["index"] or c["unique"]) for c in constraints.values())
    return "yes" if indexed else "no"


def big_table_table(empty: Row, full: Row, indexed: dict[str, str]) -> str:
    out = (
        f"| implementation | empty table: mean ms | {BIG_TABLE_ROWS:,} rows: mean ms | full/empty "
        "| empty: queries/call | full: queries/call | key column indexed |\n|---|---:|---:|---:|---:|---:|---|\n"
    )
    for impl in ("ours", "ref"):
        e, f = getattr(empty, impl), getattr(full, impl)
        if e is None or f is None:
            out += f"| {impl} | FAILED ||||||\n"
            continue
        out += (
            f"| {impl} | {_fmt(e.mean_ms, 3)} | {_fmt(f.mean_ms, 3)} | {f.mean_ms / e.mean_ms:.2f} "
            f"| {_q(e)} | {_q(f)} | {indexed.get(impl, '?')} |\n"
        )
    return out


def upload_table(results: list[UploadResult], error: str | None) -> str:
    out = (
        "| implementation | size | wall s | MiB/s | server RSS before MiB | peak after MiB | peak growth MiB "
        "| ≤ 16 MiB | dd conv=fsync of the same bytes, s |\n|---|---:|---:|---:|---:|---:|---:|---|---:|\n"
    )
    if error:
        return out + f"| FAILED: {error} |||||||||\n"
    for res in results:
        ok = "yes" if res.growth <= RSS_TARGET_MIB * MiB else "no"
        out += (
            f"| {res.impl} | {res.size // MiB} MiB | {res.wall_s:.2f} | {res.size / MiB / res.wall_s:,.0f} "
            f"| {res.rss_before / MiB:.1f} | {res.hwm_after / MiB:.1f} | {res.growth / MiB:.1f} "
            f"| {ok if res.impl == 'ours' else '(target is for ours)'} "
            f"| {'' if res.dd_s is None else f'{res.dd_s:.2f}'} |\n"
        )
    by_impl = {impl: sorted(r.wall_s for r in results if r.impl == impl) for impl in ("ours", "ref")}
    floors = sorted(r.dd_s for r in results if r.dd_s is not None)
    if by_impl["ours"] and by_impl["ref"]:
        ours, ref = (values[len(values) // 2] for values in (by_impl["ours"], by_impl["ref"]))
        out += f"\nMedian wall time ours/ref (time ratio, < 1: ours is faster): **{ours / ref:.2f}**"
        if floors:
            floor = floors[len(floors) // 2]
            out += (
                f"; median dd conv=fsync of the same bytes: {floor:.2f} s, so ours - ref = {ours - ref:.2f} s "
                f"against a sync floor of {floor:.2f} s (ours syncs before it answers 201, ref does not)"
            )
        out += ".\n"
    return out


def list_table(results: list[ListResult]) -> str:
    out = (
        "| viewer | query | queries | median ms | mean ms | runs | with files / without (median) "
        "| extra µs per record |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
    )
    without = {r.viewer: r for r in results if r.variant.startswith("without")}
    for res in results:
        base = without.get(res.viewer)
        if base is not None and base is not res:
            ratio = f"{res.median_ms / base.median_ms:.2f}"
            extra = f"{1000 * (res.median_ms - base.median_ms) / LIST_RECORDS:,.1f}"
        else:
            ratio = extra = ""
        out += (
            f"| {res.viewer} | {res.variant} | {len(res.sql)} | {_fmt(res.median_ms, 3)} | {_fmt(res.mean_ms, 3)} "
            f"| {len(res.times)} | {ratio} | {extra} |\n"
        )
    return out


_SQL_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?([\w.]+)"?', re.IGNORECASE)


def _sql_kind(sql: str) -> str:
    """``VERB table`` of a logged statement; the statements of one message (``a; b``) joined by ``;``."""
    if "; " in sql:
        return "; ".join(_sql_kind(part) for part in sql.split("; "))
    words = sql.split()
    verb = words[0].upper() if words else "?"
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"):
        return verb
    match = _SQL_TABLE.search(sql)
    suffix = " … FOR UPDATE" if verb == "SELECT" and "FOR UPDATE" in sql.upper() else ""
    return f"{verb} {match.group(1)}{suffix}" if match else verb


def statements_section(rows: list[Row]) -> str:
    out = []
    for row in rows:
        for impl in ("ours", "ref"):
            stats = getattr(row, impl)
            if stats is None or not stats.sample_sql:
                continue
            kinds = ", ".join(_sql_kind(s) for s in stats.sample_sql)
            out.append(f"- **{row.key} {impl}** ({len(stats.sample_sql)}): {kinds}")
    return "\n".join(out) + "\n"


def _source_state() -> str:
    """HEAD's short hash, flagged when src/ differs from it (the venv installs src/ editable)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "src"], capture_output=True, text=True
        ).stdout.strip()
        return commit + (" (src/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


#: The source state when the run started (set in main()).
START_SOURCE = "?"


def environment_lines(args: argparse.Namespace, plan: Plan) -> list[str]:
    import django
    from django.db import connection

    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SHOW server_version")
            db_version = cursor.fetchone()[0]
        elif vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            db_version = cursor.fetchone()[0]
        else:
            db_version = "?"
    commit = _source_state()
    if commit != START_SOURCE:
        # The editable install means the code under test is what src/ held when the run imported it.
        commit = f"{START_SOURCE} at the start (HEAD and src/ were {commit} at the end)"
    from importlib.metadata import version

    db_name = connection.settings_dict["NAME"]
    where = "file" if vendor == "sqlite" else f"test database {db_name}"
    command = "benchmarks/.work/venv/bin/python benchmarks/run.py" + ("".join(f" {a}" for a in sys.argv[1:]))
    return [
        f"- Date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Command: `{command}`" + (" (quick mode)" if args.quick else ""),
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        f"- Database: {vendor} {db_version} ({where}; DATABASE_URL "
        f"{'set' if os.environ.get('DATABASE_URL') else 'unset'})",
        f"- ours: django-async-uploads {version('django-async-uploads')} at commit {commit}; "
        f"ref: alliance-platform-storage {version('alliance-platform-storage')}",
        f"- Timed calls per implementation (alternating call by call, prepared in batches of {plan.batch}): "
        f"generate {plan.generate}, create1 {plan.create1}, image {plan.image}, create2 {plan.create2}, "
        f"resave {plan.resave}, download {plan.download}, big-table {plan.big_table} per table state, "
        f"GraphQL {plan.graphql} per row; "
        f"after {plan.warmup} warm-up calls; statements counted over {plan.counted} more calls; "
        f"list query (9): {plan.list_runs} runs per viewer and query; "
        f"DRF (10-10u): {plan.drf} per row; collectstatic (11): {plan.collect_runs} runs after 1 untimed",
        f"- GraphQL: strawberry-graphql {_version('strawberry-graphql')}, "
        f"strawberry-graphql-django {_version('strawberry-graphql-django')}, graphql-core {_version('graphql-core')}",
        f"- DRF: djangorestframework {_version('djangorestframework')}",
    ]


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and a 32 MiB upload (under a minute)")
    parser.add_argument("--skip-upload", action="store_true", help="leave out benchmark 7 (the large upload)")
    parser.add_argument(
        "--results", type=Path, default=BENCH_DIR / "RESULTS.md", help="where to write the Markdown report"
    )
    parser.add_argument(
        "--only",
        metavar="ROWS",
        help="run only these rows, comma-separated (e.g. 1,8,8t,8n,8o,8a,8b,9,9f or 10,10m,10u,11; "
        "6 = 6a+6b, 7 = the upload)",
    )
    args = parser.parse_args()
    only = {r.strip() for r in args.only.split(",")} if args.only else None

    def wanted(key: str) -> bool:
        return only is None or key in only

    plan = QUICK if args.quick else FULL

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    global START_SOURCE
    START_SOURCE = _source_state()
    started = time.perf_counter()
    load_start = os.getloadavg()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    log(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    for directory in (settings.MEDIA_OURS, settings.MEDIA_REF):
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)

    rows: list[Row] = []
    big: tuple[Row, Row] | None = None
    uploads: list[UploadResult] = []
    upload_error = None
    listing: list[ListResult] = []
    list_error = None
    files_listing: list[FilesListResult] = []
    files_list_error = None
    collected = None
    collect_error = None
    run_upload = not args.skip_upload and wanted("7")
    try:
        env = Env()
        for key, bench in (
            ("1", bench_generate),
            ("1f", bench_generate_floor),
            ("2", bench_create1),
            ("2t", bench_create1_atomic),
            ("2i", bench_image),
            ("3", bench_create2),
            ("4", bench_resave),
            ("5", bench_download),
            ("8", bench_graphql_generate),
            ("8f", bench_graphql_generate_floor),
            ("8t", bench_graphql_generate_textcache),
            ("8n", bench_graphql_generate_nocache),
            ("8o", bench_graphql_generate_noopt),
            ("8a", bench_graphql_generate_async),
            ("8b", bench_graphql_generate_batch),
            ("10", bench_drf_create),
            ("10m", bench_drf_create_plain),
            ("10u", bench_drf_update),
        ):
            if not wanted(key):
                continue
            env.reset()
            try:
                rows.append(bench(env, plan))
            except Exception as e:
                log(traceback.format_exc())
                rows.append(Row(bench.__name__, bench.__name__, error=f"{type(e).__name__}: {e}"))
        if wanted("9"):
            env.reset()
            try:
                listing = bench_graphql_list(env, plan)
            except Exception as e:
                log(traceback.format_exc())
                list_error = f"{type(e).__name__}: {e}"
        if wanted("9f"):
            env.reset()
            try:
                files_listing = bench_graphql_files_list(env, plan)
            except Exception as e:
                log(traceback.format_exc())
                files_list_error = f"{type(e).__name__}: {e}"
        if wanted("6"):
            env.reset()
            try:
                big = bench_big_table(env, plan)
            except Exception as e:
                log(traceback.format_exc())
                big = (Row("6a", "big table", error=str(e)), Row("6b", "big table", error=str(e)))
        if wanted("11"):
            import drf_static

            try:
                collected = drf_static.bench_collectstatic(settings.WORK_DIR, plan.collect_runs, log)
            except Exception as e:
                log(traceback.format_exc())
                collect_error = f"{type(e).__name__}: {e}"
        env.reset()
        if run_upload:
            try:
                uploads = bench_upload(env, plan)
            except Exception as e:
                log(traceback.format_exc())
                upload_error = f"{type(e).__name__}: {e}"
        info = environment_lines(args, plan)
        indexed = {"ours": _key_indexed(env.OursTemp), "ref": _key_indexed(env.RefTemp)}
    finally:
        try:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        finally:
            for directory in (settings.MEDIA_OURS, settings.MEDIA_REF, settings.FILE_UPLOAD_TEMP_DIR):
                shutil.rmtree(directory, ignore_errors=True)

    all_rows = rows + (list(big) if big else [])
    report = "# Benchmark results: django-async-uploads (ours) vs alliance-platform-storage (ref)\n\n"
    load_end = os.getloadavg()
    report += "\n".join(info) + f"\n- Total run time: {time.perf_counter() - started:.0f} s\n"
    report += (
        f"- Load average (1/5/15 min) at the start: {' / '.join(f'{x:.1f}' for x in load_start)}, "
        f"at the end: {' / '.join(f'{x:.1f}' for x in load_end)} ({os.cpu_count()} CPUs; other processes "
        "share the machine: ratios from alternating calls hold up, absolute times do not)\n\n"
    )
    report += "## Per-call benchmarks\n\n" + main_table(all_rows) + "\n" if all_rows else ""
    report += (
        (
            "ops/s = calls / total time of the timed calls; ours/ref = ours ops/s / ref ops/s, so > 1 means "
            "ours is faster; 'by median' is the same ratio from the median call times (less sensitive to "
            "stalls). "
            "queries/call counts every entry Django logged (CaptureQueriesContext): statements, savepoints, "
            "and the BEGIN/COMMIT of atomic blocks; a statement run in autocommit is its own transaction "
            "and counts once; one entry can be two statements sent in one message (ours on PostgreSQL: the "
            "uploader's lock and the counting INSERT, `a; b` under Statements). "
            "Row 2t is an extra: row 2 inside `transaction.atomic()`. Rows 8-8b are "
            "`generateUploadUrl` through strawberry's GraphQL view (bench_project/graphql_schema.py) against "
            "the reference's REST view (the same work as row 1's ref side); 8t, 8n, 8o, 8a and 8b are extras "
            f"(8b: one call = {BATCH_URLS} upload URLs, one GraphQL request against {BATCH_URLS} REST requests). "
            "Rows 1f and 8f are floors, in the 'ours' columns: the session and user lookups, the permission "
            "and one INSERT, as a plain Django view (1f) and as a minimal strawberry mutation through row 8's "
            "view (8f), against the same reference view as rows 1 and 8. "
            "Rows 10-10u are requests to DRF generic views over each package's `Document` "
            "(bench_project/drf_api.py); 10m is an extra (ours without `AsyncFileSerializerMixin`).\n\n"
        )
        if all_rows
        else ""
    )
    if listing or list_error:
        report += (
            f"## 9. GraphQL list query: {LIST_RECORDS} documents, each with a file\n\n"
            f"`{LIST_WITH_FILES}` against `{LIST_WITHOUT_FILES}`, through the sync view with the "
            "parser and validation caches and the DjangoOptimizerExtension; the two queries alternate "
            "run by run. queries = statements of one request (session, user, then the schema's). "
            "The view-permission users are plain users (not staff, not superuser) holding "
            "`bench_ours.view_document`, the field's detail permission that `downloadUrl` checks.\n\n"
        )
        report += f"FAILED: {list_error}\n\n" if list_error else list_table(listing) + "\n"
    if files_listing or files_list_error:
        report += (
            f"## 9f. GraphQL list query: {LIST_RECORDS} records, each with a file and an image\n\n"
            f"`{FILES_LIST_WITH}` against `{FILES_LIST_WITHOUT}` (and, sync only, `{FILES_LIST_SIZES}`), "
            "through the sync view (`/graphql/`) and "
            "the async view (`/graphql-async/`, an event loop on the main thread as an ASGI server would run), "
            "both with the parser and validation caches and the DjangoOptimizerExtension; the requests "
            "alternate run by run. CPU = `time.process_time()` of the request (every thread of the process). "
            "calls/request = Python function calls cProfile counts in one request (for the async view, on the "
            "event loop and on asgiref's worker thread). The permission user is a plain user holding "
            "`bench_ours.view_record`, the detail permission of both fields. The floor runs the same selection "
            "over `recordsFloor` (bench_project/graphql_schema.py `RecordFloorType`): each file is an object of "
            "plain attribute fields computed once per record by the parent field's resolver (one HMAC per "
            "download URL, the URL prefixes, the signer and the permission answer once per request, no "
            "`expiresIn`): what the GraphQL layer would cost if the file fields were free (sync view only: "
            "under the async view strawberry_django runs such resolvers through one sync_to_async each).\n\n"
        )
        report += f"FAILED: {files_list_error}\n\n" if files_list_error else files_list_table(files_listing) + "\n"
    if collected or collect_error:
        import drf_static

        report += (
            "## 11. collectstatic with ExcludingManifestStaticFilesStorage\n\n"
            "`collectstatic --noinput --clear` (in this process, `call_command`) of one generated tree into a "
            'fresh STATIC_ROOT per run, `exclude_patterns=["frontend/build/*"]`, the two implementations '
            "alternating run by run after one untimed run each. The tree: "
            + (
                f"{drf_static.CSS_FILES} CSS files ({drf_static.BASE_CSS} base files `@import`ed by the others), "
                f"{drf_static.IMAGES} images they refer to, and {3 * drf_static.EXCLUDED_PER_KIND} files under "
                "`frontend/build/` (JS, CSS, images; the collected CSS also refers to some of them). "
                "The last column: a new interpreter builds the storage on the last run's STATIC_ROOT with "
                f"`manifest_strict=True` (DEBUG off) and calls `url({drf_static.EXCLUDED_PROBE!r})`.\n\n"
            )
        )
        report += f"FAILED: {collect_error}\n\n" if collect_error else drf_static.collect_table(collected) + "\n"
    if big:
        report += "## 6. Saving with a large temp-file table (row 2's work)\n\n" + big_table_table(*big, indexed) + "\n"
    if run_upload:
        report += (
            f"## 7. {plan.upload_bytes // MiB} MiB upload through the filesystem upload view\n\n"
            "Real HTTP server process (`runserver --noreload`) per measurement; the client streams "
            "the multipart body. Growth = server VmHWM after the upload - VmRSS just before it "
            "(VmHWM reset to the current RSS before the upload).\n\n" + upload_table(uploads, upload_error) + "\n"
        )
    if NOTES:
        report += "## Notes\n\n" + "\n".join(f"- {note}" for note in NOTES) + "\n\n"
    report += "## Statements of one call\n\n" + statements_section(all_rows)
    for res in listing:
        kinds = ", ".join(_sql_kind(q) for q in res.sql)
        report += f"- **9 {res.viewer}, {res.variant}** ({len(res.sql)}): {kinds}\n"
    print(report)
    args.results.write_text(report)
    log(f"wrote {args.results}")
    for res9 in files_listing:
        kinds = ", ".join(_sql_kind(q) for q in res9.sql)
        report += f"- **9f {res9.viewer}, {res9.view}, {res9.variant}** ({len(res9.sql)}): {kinds}\n"
    failed = (
        any(r.error for r in all_rows)
        or upload_error is not None
        or list_error is not None
        or files_list_error is not None
        or collect_error is not None
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
