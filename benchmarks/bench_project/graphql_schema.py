"""The benchmark's GraphQL schema over bench_ours' models (strawberry-graphql-django).

Wired as a project would (see example_project/example/schema.py): ``generateUploadUrl`` from
``async_uploads.graphql`` on the Mutation type, ``auto`` for the async file field (mapped to
``AsyncFile`` by importing ``async_uploads.graphql``), the DjangoOptimizerExtension on. Three
schemas differ only in their extensions:

- ``schema``: the optimizer plus strawberry's ``ParserCache`` and ``ValidationCache`` (the
  caching a production schema would enable; the issue allows it);
- ``schema_nocache``: the optimizer only (every request parses and validates its document);
- ``schema_noopt``: the caches without the optimizer (to show what the optimizer costs a mutation);
- ``schema_textcache``: the optimizer, ``ParserCache`` and ``QueryTextValidationCache`` below in
  place of ``ValidationCache`` (a caching-only change: the same validation results, looked up by
  the query text instead of by the parsed document).

Imported by bench_project.urls, so after the apps are loaded (``field_enum`` needs the registry).
"""

from __future__ import annotations

import strawberry
import strawberry_django
from bench_ours import models
from strawberry import auto
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.schema import validate_document
from strawberry_django.optimizer import DjangoOptimizerExtension
from strawberry_django.permissions import IsAuthenticated

from async_uploads.graphql import generate_upload_url, generate_upload_urls


@strawberry_django.type(models.Document)
class DocumentType:
    id: auto
    title: auto
    # The bench model's field is ``file``; the query calls it ``attachment``.
    attachment: auto = strawberry_django.field(field_name="file")


@strawberry_django.type(models.Record)
class RecordType:
    """Section 9f: a file and an image on each record (width and height hinted for the optimizer)."""

    id: auto
    title: auto
    attachment: auto
    image: auto = strawberry_django.field(only=["image", "width", "height"])


# --------------------------------------------------------------------------------------------
# Section 9f's floor: the same values as plain attributes of objects computed once per record
# --------------------------------------------------------------------------------------------


@strawberry.type
class FloorFile:
    """What AsyncFile answers, as plain attribute fields (no resolver, no Info)."""

    key: str
    name: str
    url: str
    download_url: str | None


@strawberry.type
class FloorImage(FloorFile):
    width: int | None
    height: int | None


def _floor_context(info: strawberry.Info) -> dict:
    """URL prefixes, the signer and the permission answer, once per request."""
    from django.core import signing
    from django.urls import reverse

    from async_uploads.storage.filesystem import DOWNLOAD_SALT

    request = info.context.request
    context = request.__dict__.get("_bench_floor")
    if context is None:
        context = request.__dict__["_bench_floor"] = {
            "redirect": request.build_absolute_uri(reverse("async_uploads:download")) + "?",
            "direct": request.build_absolute_uri(reverse("async_uploads:filesystem-download")) + "?token=",
            "signer": signing.Signer(salt=DOWNLOAD_SALT),
            "allowed": request.user.has_perm("bench_ours.view_record"),
        }
    return context


def _floor_values(info: strawberry.Info, file, field_id: str) -> dict:
    import posixpath
    import time
    from hashlib import blake2b

    context = _floor_context(info)
    name = file.name
    query = f"field_id={field_id}&instance_id={file.instance.pk}&_={blake2b(name.encode(), digest_size=8).hexdigest()}"
    download = None
    if context["allowed"]:
        payload = {"k": name, "f": field_id, "p": "d", "e": int(time.time()) + 3600}
        download = context["direct"] + context["signer"].sign_object(payload).replace(":", "%3A")
    return {"key": name, "name": posixpath.basename(name), "url": context["redirect"] + query, "download_url": download}


@strawberry_django.type(models.Record)
class RecordFloorType:
    id: auto
    title: auto

    @strawberry_django.field(only=["attachment"])
    def attachment(self, info: strawberry.Info) -> FloorFile | None:
        file = self.attachment  # type: ignore[attr-defined]
        return FloorFile(**_floor_values(info, file, "bench_ours.Record.attachment")) if file else None

    @strawberry_django.field(only=["image", "width", "height"])
    def image(self, info: strawberry.Info) -> FloorImage | None:
        file = self.image  # type: ignore[attr-defined]
        if not file:
            return None
        return FloorImage(**_floor_values(info, file, "bench_ours.Record.image"), width=self.width, height=self.height)  # type: ignore[attr-defined]


@strawberry.type
class Query:
    documents: list[DocumentType] = strawberry_django.field(extensions=[IsAuthenticated()])
    records: list[RecordType] = strawberry_django.field(extensions=[IsAuthenticated()])
    records_floor: list[RecordFloorType] = strawberry_django.field(extensions=[IsAuthenticated()])


def floor_insert_row(request, filename: str) -> dict:
    """What rows 1f and 8f do in place of issuing an upload URL: the user's permission, one INSERT."""
    import secrets

    if not request.user.has_perm("bench_ours.add_document"):
        raise PermissionError("bench_ours.add_document")
    key = f"temp/{secrets.token_urlsafe(16)}/{filename}"
    from django.db import connection

    with connection.cursor() as cursor:  # one INSERT in autocommit: no signals, no transaction block
        table = connection.ops.quote_name(models.Document._meta.db_table)
        cursor.execute(f"INSERT INTO {table} (title, file) VALUES (%s, %s)", [filename[:100], key[:100]])
    return {"key": key, "uploadUrl": {"url": request.build_absolute_uri("/async-uploads/upload/")}}


@strawberry.type
class FloorIssued:
    key: str
    url: str


@strawberry.type
class Mutation:
    generate_upload_url = generate_upload_url()
    generate_upload_urls = generate_upload_urls()

    @strawberry.mutation
    def floor_insert(self, info: strawberry.Info, filename: str) -> FloorIssued:
        """Row 8f: a minimal strawberry mutation with generateUploadUrl's three statements."""
        row = floor_insert_row(info.context.request, filename)
        return FloorIssued(key=row["key"], url=row["uploadUrl"]["url"])


class QueryTextValidationCache(SchemaExtension):
    """strawberry's ``ValidationCache``, keyed by the query text instead of the parsed document.

    ``ValidationCache`` is an ``lru_cache`` over ``validate_document(schema, document, rules)``,
    so every request hashes the whole document: graphql-core's AST nodes hash field by field,
    locations included, which for the generateUploadUrl document costs more than the rest of the
    cache lookup (run.py row 8t). The text and the parse options determine the document, so the
    text is an equivalent key and hashes in well under a microsecond (str caches its hash).
    Bounded; the oldest entry goes first.
    """

    _cache: dict[tuple, list] = {}
    maxsize = 256

    def on_validate(self):  # type: ignore[override]
        ec = self.execution_context
        if ec.query is None or ec.graphql_document is None:
            yield
            return
        key = (id(ec.schema), ec.query, tuple(sorted(ec.parse_options.items())), ec.validation_rules)
        cache = self._cache
        errors = cache.get(key)
        if errors is None:
            errors = validate_document(ec.schema._schema, ec.graphql_document, ec.validation_rules)
            if len(cache) >= self.maxsize:
                cache.pop(next(iter(cache)))
            cache[key] = errors
        ec.pre_execution_errors = errors
        yield


def _caches() -> list:
    # Factories, as strawberry's docs show: an instance per operation, the LRU caches behind them
    # live at module level and are shared by every request.
    return [lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256)]


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[DjangoOptimizerExtension, *_caches()])
schema_nocache = strawberry.Schema(query=Query, mutation=Mutation, extensions=[DjangoOptimizerExtension])
schema_noopt = strawberry.Schema(query=Query, mutation=Mutation, extensions=_caches())
schema_textcache = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[DjangoOptimizerExtension, lambda: ParserCache(maxsize=256), QueryTextValidationCache],
)
