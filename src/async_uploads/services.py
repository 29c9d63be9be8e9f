"""The upload-URL and download operations, shared by the REST views and the GraphQL layer."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, SuspiciousFileOperation, ValidationError
from django.db import connections, models, router, transaction
from django.utils import timezone

from async_uploads import restrictions
from async_uploads.acceptance import verify_temp_file
from async_uploads.codes import ErrorCode
from async_uploads.conf import app_settings
from async_uploads.exceptions import UploadPermissionDenied, UploadRejected
from async_uploads.models import AsyncTempFile, UploadSession
from async_uploads.names import is_text
from async_uploads.permissions import check_permission
from async_uploads.sizes import human_size, too_large
from async_uploads.storage.base import MultipartUpload, PartTarget, UploadedPart, UploadRequest
from async_uploads.storage.parts import PartPlan

if TYPE_CHECKING:
    from django.http import HttpRequest

    from async_uploads.fields import AsyncFileMixin
    from async_uploads.registry import AsyncFieldRegistry
    from async_uploads.storage.base import GenerateUploadUrlResponse

__all__ = [
    "MAX_PARTS_PER_SIGN",
    "IssuedUpload",
    "PendingUploads",
    "StartedUpload",
    "UploadRequestItem",
    "abort_multipart_upload",
    "abort_session",
    "complete_multipart_upload",
    "get_field_or_reject",
    "get_instance_or_reject",
    "issue_upload",
    "issue_uploads",
    "list_uploaded_parts",
    "pending_uploads",
    "resolve_download_url",
    "sign_upload_parts",
    "start_multipart_upload",
]

#: Longest filename accepted from a client.
MAX_FILENAME_LENGTH = 1000
#: Largest declared size that fits the database column (a signed 64-bit integer).
MAX_DECLARED_SIZE = 2**63 - 1
# Requests for upload URLs seen so far on one HTTP request (all GraphQL fields and aliases of it).
_REQUEST_COUNTER_ATTR = "_async_uploads_upload_url_requests"


@dataclass
class IssuedUpload:
    temp_file: AsyncTempFile
    upload: GenerateUploadUrlResponse

    @property
    def key(self) -> str:
        return self.temp_file.key


def get_field_or_reject(registry: AsyncFieldRegistry, field_id: Any) -> AsyncFileMixin:
    """Return the field registered as ``field_id``, or raise ``UploadRejected`` (``invalid_input``)."""
    if not field_id or not isinstance(field_id, str):
        raise UploadRejected({"field_id": ["This field is required."]}, code=ErrorCode.INVALID_INPUT)
    field = registry.get_field(field_id)
    if field is None:
        raise UploadRejected({"field_id": [f"Unknown field id {field_id!r}."]}, code=ErrorCode.INVALID_INPUT)
    return field


def get_instance_or_reject(
    field: AsyncFileMixin, instance_id: Any, *, user: Any = None, perm: str | None = None
) -> models.Model | None:
    """Return the record ``instance_id`` of ``field``'s model (``None`` when not given).

    A malformed id raises ``UploadRejected`` (``invalid_input``). A missing record raises
    ``UploadRejected`` (``not_found``) for a ``user`` holding ``perm`` (or when no ``perm`` is
    given), and ``UploadPermissionDenied`` otherwise, so nobody learns which ids exist without
    being allowed to see them.
    """
    if instance_id is None or instance_id == "":
        return None
    pk_field = field.model._meta.pk
    if pk_field is None:  # pragma: no cover - every concrete model has one
        raise UploadRejected({"instance_id": ["This model has no primary key."]}, code=ErrorCode.INVALID_INPUT)
    try:
        if not isinstance(instance_id, str | int) or isinstance(instance_id, bool):
            raise ValidationError("bad type")
        pk = pk_field.to_python(instance_id)
        pk_field.run_validators(pk)
    except (ValidationError, TypeError, ValueError, OverflowError) as e:
        raise UploadRejected(
            {"instance_id": [f"{instance_id!r} is not a valid id for {field.model._meta.verbose_name}."]},
            code=ErrorCode.INVALID_INPUT,
        ) from e
    try:
        obj = next(iter(field.model._default_manager.filter(pk=pk)[:1]), None)
    except (ValueError, TypeError, OverflowError) as e:  # e.g. an integer too large for the column
        raise UploadRejected(
            {"instance_id": [f"{instance_id!r} is not a valid id."]}, code=ErrorCode.INVALID_INPUT
        ) from e
    if obj is None:
        if perm is not None and not check_permission(user, perm, None):
            raise UploadPermissionDenied("You do not have permission to use this record.")
        raise UploadRejected(
            {"instance_id": [f"No {field.model._meta.verbose_name} with id {instance_id!r}."]}, code=ErrorCode.NOT_FOUND
        )
    return obj


def _parse_size(size: Any) -> int | None:
    if size is None or size == "":
        return None
    if isinstance(size, bool):
        raise UploadRejected({"size": ["size must be a whole number of bytes."]}, code=ErrorCode.INVALID_INPUT)
    try:
        value = int(size)
    except (TypeError, ValueError, OverflowError) as e:
        raise UploadRejected({"size": ["size must be a whole number of bytes."]}, code=ErrorCode.INVALID_INPUT) from e
    if value < 0 or (isinstance(size, float) and size != value):
        raise UploadRejected({"size": ["size must be a whole number of bytes."]}, code=ErrorCode.INVALID_INPUT)
    if value > MAX_DECLARED_SIZE:
        raise UploadRejected(
            {"size": [f"size must be at most {MAX_DECLARED_SIZE} bytes."]}, code=ErrorCode.INVALID_INPUT
        )
    return value


def _parse_md5(value: Any) -> str | None:
    """Return ``value`` when it is a base64 MD5 digest (``Content-MD5``), ``None`` when empty."""
    if value is None or value == "":
        return None
    import base64
    import binascii

    try:
        ok = isinstance(value, str) and len(base64.b64decode(value, validate=True)) == 16
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise UploadRejected(
            {"content_md5": ["content_md5 must be the base64 of the file's 16-byte MD5 digest (as in Content-MD5)."]},
            code=ErrorCode.INVALID_INPUT,
        )
    return str(value)


@dataclass
class UploadRequestItem:
    """One request for an upload URL, as a client sent it (values not checked yet)."""

    field_id: Any
    filename: Any
    content_type: Any = None
    size: Any = None
    instance_id: Any = None
    fields: Any = None
    content_md5: Any = None


@dataclass
class _Checked:
    """An item that passed every check but the quota: what is recorded and signed for it."""

    field: AsyncFileMixin
    field_id: str
    filename: str
    content_type: str
    declared_size: int | None
    md5: str | None
    fields: dict[str, str]
    instance: models.Model | None
    key: str


def issue_upload(
    registry: AsyncFieldRegistry,
    request: HttpRequest,
    *,
    field_id: Any,
    filename: Any,
    content_type: Any = None,
    size: Any = None,
    instance_id: Any = None,
    fields: Any = None,
    content_md5: Any = None,
) -> IssuedUpload:
    """Check a request for an upload URL, record the temporary key and sign the upload target.

    ``content_md5`` (optional, base64 MD5 of the file) is bound into the upload target where the
    backend supports it (S3, Azure), so storage refuses a body that does not match.

    The uploader (the user, or the session of an anonymous client) may hold at most
    ``MAX_PENDING_UPLOADS`` uploads, of ``MAX_PENDING_BYTES`` together, not yet saved to a
    record; one HTTP request may ask for at most ``MAX_UPLOAD_URLS_PER_REQUEST`` URLs.

    Raises ``UploadRejected`` (codes ``invalid_input``, ``not_found``, ``invalid_file_type``,
    ``file_too_large``, ``quota_exceeded``) or ``UploadPermissionDenied`` (``permission_denied``);
    nothing is recorded when it raises.
    """
    item = UploadRequestItem(field_id, filename, content_type, size, instance_id, fields, content_md5)
    (result,) = issue_uploads(registry, request, [item])
    if isinstance(result, IssuedUpload):
        return result
    raise result


def issue_uploads(
    registry: AsyncFieldRegistry, request: HttpRequest, items: Sequence[UploadRequestItem]
) -> list[IssuedUpload | UploadRejected | UploadPermissionDenied]:
    """Answer several requests for upload URLs of one uploader, each on its own, in order.

    Each answer is what :func:`issue_upload` would return or raise for the item, asked in this
    order: the quotas count the items accepted before it. The accepted items are recorded in one
    statement and counted against the quotas once, in one transaction (on SQLite, and on
    PostgreSQL outside ``atomic()``, one item under the quotas is recorded in one round trip that
    also counts: :func:`_insert_within_quotas`); if
    signing fails for one of them, the exception propagates and nothing is recorded for any.
    """
    answers: list[IssuedUpload | UploadRejected | UploadPermissionDenied | _Checked] = []
    for item in items:
        try:
            answers.append(_check_item(registry, request, item))
        except (UploadRejected, UploadPermissionDenied) as e:
            answers.append(e)
    checked = [a for a in answers if isinstance(a, _Checked)]
    if not checked:
        return answers  # type: ignore[return-value]
    # Everything the transaction below needs is read first: on SQLite its first statement must be
    # the INSERT, which takes the database's write lock and so orders parallel requests.
    _ensure_session_key(request)
    rows = [
        AsyncTempFile.new_for_field(
            c.field,
            c.filename,
            request=request,
            instance=c.instance,
            size=c.declared_size,
            content_type=c.content_type,
            key=c.key,
        )
        for c in checked
    ]
    using = router.db_for_write(AsyncTempFile)
    if len(rows) == 1 and _insert_within_quotas(request, checked[0], rows[0], using):
        try:
            upload = _sign(registry, checked[0])
        except BaseException:
            AsyncTempFile.objects.using(using).filter(pk=rows[0].pk)._raw_delete(using)  # type: ignore[attr-defined]
            raise
        return [IssuedUpload(temp_file=rows[0], upload=upload) if isinstance(a, _Checked) else a for a in answers]
    issued: dict[int, IssuedUpload | UploadRejected] = {}
    with transaction.atomic(using=using):
        _lock_uploader(request, using)
        if len(rows) == 1:
            rows[0].save(using=using, force_insert=True)
        else:
            AsyncTempFile.objects.using(using).bulk_create(rows)
        # Counted with the new rows: the refused ones are taken back below.
        refusals = _quota_refusals(request, [(c.field, c.declared_size) for c in checked], using)
        if refusals:
            refused_keys = [rows[i].key for i in refusals]
            AsyncTempFile.objects.using(using).filter(key__in=refused_keys)._raw_delete(using)  # type: ignore[attr-defined]
        # Signed last: a refused item signs nothing, and a storage that fails to sign leaves no
        # key behind (the exception rolls the rows back).
        for i, (c, row) in enumerate(zip(checked, rows, strict=True)):
            if i in refusals:
                issued[i] = refusals[i]
                continue
            issued[i] = IssuedUpload(temp_file=row, upload=_sign(registry, c))
    position = iter(range(len(checked)))
    return [issued[next(position)] if isinstance(a, _Checked) else a for a in answers]


def _sign(registry: AsyncFieldRegistry, c: _Checked) -> Any:
    return c.field.storage.sign_upload(
        UploadRequest(
            key=c.key,
            field_id=c.field_id,
            filename=c.filename,
            content_type=c.content_type or None,
            size=c.declared_size,
            max_size=c.field.max_size_bytes,
            content_md5=c.md5,
            instance=c.instance,
            fields=c.fields,
            registry=registry,
        )
    )


def _insert_within_quotas(request: HttpRequest, c: _Checked, row: AsyncTempFile, using: str) -> bool:
    """Record one upload in one round trip that holds it to the quotas; return whether it was recorded.

    ``INSERT ... SELECT ... WHERE <under the quotas>`` counts and inserts in one statement. It is
    safe against parallel requests of the uploader only where nothing else can write between the
    count and the insert:

    - On SQLite a statement that writes runs under the database's write lock from its start, so
      the statement alone is enough, with no transaction of its own.
    - On PostgreSQL in autocommit mode at READ COMMITTED (PostgreSQL's and Django's default) with
      psycopg 3's client-side binding cursor (Django's default), the uploader's lock
      (:func:`_uploader_lock`) and the statement go in one message: the server runs the two as
      one implicit transaction, the lock held until the insert commits, and the insert, a
      statement of its own, counts with a snapshot taken once it holds the lock.

    Everywhere else (MariaDB/MySQL, psycopg 2, server-side binding, another isolation level,
    inside ``atomic()``, an uploader that cannot be locked, no quota set) it answers ``False``
    before writing anything and the caller takes the transaction path; on SQLite with no quota
    set the statement is a plain insert. It counts as :func:`pending_uploads` does: an upload of
    undeclared size as its field's ``max_size`` (read now, per async field of the project), one
    of a field no model has any more as the whole ``MAX_PENDING_BYTES`` (never less than the
    exact count, which says 0). Over a quota it records nothing and answers ``False``: the caller
    then takes the transaction path, which counts exactly and words the refusal.
    """
    connection = connections[using]
    max_count, max_bytes = app_settings.MAX_PENDING_UPLOADS, app_settings.MAX_PENDING_BYTES
    quotas = max_count is not None or max_bytes is not None
    lock = None
    if connection.features.has_select_for_update:
        if not (quotas and _one_message_is_safe(connection)):
            return False
        lock = _uploader_lock(request, using)
        if lock is None:
            return False
    user = getattr(request, "user", None)
    by_user = user is not None and user.is_authenticated
    uploader = getattr(user, "pk", None) if by_user else getattr(getattr(request, "session", None), "session_key", None)
    if uploader is None:
        return False
    opts = AsyncTempFile._meta
    fields = [f for f in opts.local_concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
    column = opts.get_field("user" if by_user else "session_key")
    who = column.get_db_prep_value(uploader, connection)  # type: ignore[union-attr]
    params: list[Any] = [*values]
    async_fields = _async_fields()
    if max_bytes is not None:  # what an upload of undeclared size counts for, per field, in held's sum
        for _, field in async_fields:
            limit = field.max_size_bytes
            params.append(limit if limit is not None else max_bytes)
        params.append(max_bytes)
    if quotas:
        params += [who, who]
    if max_count is not None:
        params.append(max_count)
    if max_bytes is not None:
        params += [_counted_bytes(c.field, c.declared_size), max_bytes]
    sql = _quota_insert_sql(connection, by_user, max_count is not None, max_bytes is not None, async_fields)
    with connection.cursor() as cursor:
        if lock is None:
            cursor.execute(sql, params)
            if cursor.rowcount != 1:
                return False
            row.pk = cursor.lastrowid
        else:
            lock_sql, lock_param = lock
            pk_column = connection.ops.quote_name(str(opts.pk.column))  # type: ignore[union-attr]
            cursor.execute(f"{lock_sql}; {sql} RETURNING {pk_column}", [lock_param, *params])
            cursor.nextset()  # psycopg 3 keeps each statement's result, the lock's first
            inserted = cursor.fetchone()
            if inserted is None:
                return False
            row.pk = inserted[0]
    row._state.adding, row._state.db = False, using
    return True


def _one_message_is_safe(connection: Any) -> bool:
    """Whether ``connection`` may send the uploader's lock and the counting insert in one message.

    PostgreSQL through psycopg 3, in autocommit mode, at READ COMMITTED, with cursors that bind
    parameters on the client: the query then goes as one text, the two statements run as one
    implicit transaction and the second takes its snapshot after the first returned. (At
    REPEATABLE READ the snapshot of the first would serve both; server-side binding,
    ``OPTIONS["server_side_binding"]`` or a ``cursor_factory`` of the project's, prepares the
    query, and a prepared statement holds one command; psycopg 2 keeps only a message's last
    result and is not tested here.)
    """
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return False
    from django.db.backends.postgresql.psycopg_any import IsolationLevel, is_psycopg3

    if not is_psycopg3:
        return False
    import psycopg

    connection.ensure_connection()  # the backend sets isolation_level when it connects
    return connection.isolation_level == IsolationLevel.READ_COMMITTED and issubclass(
        connection.connection.cursor_factory, psycopg.ClientCursor
    )


_ASYNC_FIELDS: list[tuple[int, AsyncFileMixin]] | None = None


def _async_fields() -> list[tuple[int, AsyncFileMixin]]:
    """Every async file field of the project's models, proxies included, with its model's content type id."""
    global _ASYNC_FIELDS
    if _ASYNC_FIELDS is None:
        from django.apps import apps

        from async_uploads.fields import AsyncFileMixin

        found: list[tuple[int, AsyncFileMixin]] = []
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if isinstance(field, AsyncFileMixin) and field.name.isidentifier():
                    ct = ContentType.objects.get_for_model(model, for_concrete_model=False)
                    found.append((ct.pk, field))
        _ASYNC_FIELDS = found
    return _ASYNC_FIELDS


_QUOTA_INSERT_SQL: dict[tuple[str, bool, bool, bool, int], str] = {}


def _quota_insert_sql(
    connection: Any, by_user: bool, count: bool, size: bool, async_fields: list[tuple[int, AsyncFileMixin]]
) -> str:
    """The statement of :func:`_insert_within_quotas`, written once per database and uploader kind."""
    cache_key = (connection.alias, by_user, count, size, len(async_fields))
    sql = _QUOTA_INSERT_SQL.get(cache_key)
    if sql is not None:
        return sql
    q = connection.ops.quote_name
    opts, sopts = AsyncTempFile._meta, UploadSession._meta
    fields = [f for f in opts.local_concrete_fields if not f.primary_key]
    table, sessions = q(opts.db_table), q(sopts.db_table)

    def uploader(o: Any) -> str:
        user_col, session_col = q(_column(o, "user")), q(_column(o, "session_key"))
        return f"{user_col} = %s" if by_user else f"{user_col} IS NULL AND {session_col} = %s"

    pending = f"{uploader(opts)} AND {q(_column(opts, 'object_pk'))} IS NULL"
    open_sessions = f"{uploader(sopts)} AND {q(_column(sopts, 'state'))} = '{UploadSession.State.OPEN.value}'"
    declared, s_declared = q(_column(opts, "declared_size")), q(_column(sopts, "declared_size"))
    # One pass over each table: the uploader's pending rows and open sessions, counted and summed
    # in a derived table each (held, opened), which the conditions then compare.
    held, opened, conditions = [], [], []
    # Only quoted names of this app's own tables go into the text; every value is a parameter.
    if count:
        held.append("COUNT(*) AS n")
        opened.append("COUNT(*) AS n")
        conditions.append("held.n + opened.n < %s")
    if size:
        ct_col, name_col = q(_column(opts, "content_type")), q(_column(opts, "field_name"))
        # A field's name is a Python identifier (checked above): it goes into the text as a literal;
        # the sizes are parameters, read per call.
        undeclared = " ".join(
            f"WHEN {ct_col} = {int(ct_id)} AND {name_col} = '{field.name}' THEN %s" for ct_id, field in async_fields
        )
        held.append(f"COALESCE(SUM(CASE WHEN {declared} IS NOT NULL THEN {declared} {undeclared} ELSE %s END), 0) AS b")
        opened.append(f"COALESCE(SUM({s_declared}), 0) AS b")
        conditions.append("held.b + opened.b + %s <= %s")
    source = ""
    if conditions:
        source = (
            f" FROM (SELECT {', '.join(held)} FROM {table} WHERE {pending}) AS held, "  # noqa: S608
            f"(SELECT {', '.join(opened)} FROM {sessions} WHERE {open_sessions}) AS opened "
            f"WHERE {' AND '.join(conditions)}"
        )
    columns, values = ", ".join(q(f.column) for f in fields), ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) SELECT {values}{source}"
    _QUOTA_INSERT_SQL[cache_key] = sql
    return sql


def _check_item(registry: AsyncFieldRegistry, request: HttpRequest, item: UploadRequestItem) -> _Checked:
    """Run every check of one item but the quota (which needs the database's count)."""
    _count_request(request)
    field = get_field_or_reject(registry, item.field_id)
    filename, content_type, fields = item.filename, item.content_type, item.fields
    _check_filename_and_type(filename, content_type)
    declared_size = _parse_size(item.size)
    md5 = _parse_md5(item.content_md5)
    if fields is not None and (
        not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    ):
        raise UploadRejected({"params": ["params must be an object of string values."]}, code=ErrorCode.INVALID_INPUT)
    obj = _authorize_upload(registry, request, field, item.instance_id)
    _check_against_field(field, filename, content_type, declared_size)
    try:
        key = field.storage.generate_temporary_path(filename, max_length=field.max_length)
    except SuspiciousFileOperation as e:
        raise UploadRejected({"filename": [str(e)]}, code=ErrorCode.INVALID_INPUT) from e
    ContentType.objects.get_for_model(field.model, for_concrete_model=False)  # cached before the transaction
    return _Checked(
        field=field,
        field_id=registry.generate_id(field),
        filename=filename,
        content_type=content_type or "",
        declared_size=declared_size,
        md5=md5,
        fields=dict(fields or {}),
        instance=obj,
        key=key,
    )


def _ensure_session_key(request: HttpRequest) -> None:
    """Give an anonymous uploader's session its key, outside any transaction (a refusal must not roll it back)."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None) if user is None or not user.is_authenticated else None
    if session is not None and session.session_key is None:
        session.save()


def _check_filename_and_type(filename: Any, content_type: Any) -> None:
    """Raise ``UploadRejected`` (``invalid_input``) for a missing or malformed filename or content type."""
    if not isinstance(filename, str) or not filename.strip():
        raise UploadRejected({"filename": ["This field is required."]}, code=ErrorCode.INVALID_INPUT)
    if len(filename) > MAX_FILENAME_LENGTH or "\x00" in filename:
        raise UploadRejected(
            {"filename": [f"A filename must have at most {MAX_FILENAME_LENGTH} characters and no NUL."]},
            code=ErrorCode.INVALID_INPUT,
        )
    if not is_text(filename):
        raise UploadRejected({"filename": ["The filename is not valid text."]}, code=ErrorCode.INVALID_INPUT)
    if content_type is not None and (
        not isinstance(content_type, str)
        or len(content_type) > 255
        or "\x00" in content_type
        or not is_text(content_type)
        or (content_type and not restrictions.is_mime_type(content_type))
    ):
        raise UploadRejected(
            {"content_type": ["content_type must be one MIME type, such as image/png (no list)."]},
            code=ErrorCode.INVALID_INPUT,
        )


def _authorize_upload(
    registry: AsyncFieldRegistry, request: HttpRequest, field: AsyncFileMixin, instance_id: Any
) -> models.Model | None:
    """Return the record ``instance_id`` (``None``: a new one) once the uploader may upload to ``field`` for it.

    ``perm_update`` on that record, else ``perm_create``; an anonymous uploader needs a session.
    Raises ``UploadRejected`` or ``UploadPermissionDenied``.
    """
    user = getattr(request, "user", None)
    obj = get_instance_or_reject(field, instance_id, user=user, perm=field.perm_update)
    perm = field.perm_update if obj is not None else field.perm_create
    if not check_permission(user, perm, obj):
        raise UploadPermissionDenied(f"You do not have permission to upload to {registry.generate_id(field)}.")
    if (user is None or not user.is_authenticated) and not hasattr(request, "session"):
        raise UploadPermissionDenied(
            "Anonymous uploads need a session to tie the upload to its uploader; enable "
            "django.contrib.sessions.middleware.SessionMiddleware."
        )
    return obj


def _check_against_field(field: AsyncFileMixin, filename: str, content_type: Any, declared_size: int | None) -> None:
    """Raise ``UploadRejected`` when the name or type fits no ``file_restrictions`` or the size is over ``max_size``."""
    if not field.is_valid_filetype(filename, content_type or None):
        allowed = ", ".join(field.file_restrictions)
        raise UploadRejected(
            {"filename": [f"{filename!r} is not an accepted file type; accepted: {allowed}."]},
            code=ErrorCode.INVALID_FILE_TYPE,
        )
    limit = field.max_size_bytes
    if declared_size is not None and limit is not None and declared_size > limit:
        raise UploadRejected(
            {"size": [too_large(declared_size, limit)]},
            code=ErrorCode.FILE_TOO_LARGE,
        )


def _count_request(request: HttpRequest) -> None:
    """Count a request for an upload URL on ``request``; refuse it beyond ``MAX_UPLOAD_URLS_PER_REQUEST``.

    Refused requests count too: the bound is on the work one HTTP request can cause, however many
    GraphQL fields or aliases it spreads it over.
    """
    bound = app_settings.MAX_UPLOAD_URLS_PER_REQUEST
    seen = getattr(request, _REQUEST_COUNTER_ATTR, 0)
    if bound is not None and seen >= bound:
        raise UploadRejected(
            f"At most {bound} upload URLs can be requested in one request (all generateUploadUrl and "
            "generateUploadUrls fields and aliases together); ask for the others in another request.",
            code=ErrorCode.INVALID_INPUT,
        )
    setattr(request, _REQUEST_COUNTER_ATTR, seen + 1)


def _lock_uploader(request: HttpRequest, using: str) -> None:
    """Serialise requests for upload URLs of one uploader, where the database can do it cheaply.

    The uploader (the user; for an anonymous client, its database-backed session) is locked until
    the transaction ends, so a parallel request counts this one's upload: on PostgreSQL with a
    transaction-level advisory lock, on MariaDB/MySQL by locking its row. SQLite has no such
    locks; there the INSERT that follows takes the database's write lock, which orders parallel
    requests as well.
    """
    lock = _uploader_lock(request, using)
    if lock is None:
        return
    sql, param = lock
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [param])
        cursor.fetchall()


def _uploader_lock(request: HttpRequest, using: str) -> tuple[str, Any] | None:
    """The statement that locks ``request``'s uploader until the transaction ends, and its parameter.

    The uploader is the user; for an anonymous client, its row in a database-backed session
    engine's table. On PostgreSQL the lock is ``pg_advisory_xact_lock`` on a key naming that row:
    it writes nothing (a ``FOR UPDATE`` on the row writes the row's lock into it and costs about
    ten times as much), and other writers of the row do not wait for it. Elsewhere the row itself
    is locked (``SELECT ... FOR UPDATE``). ``None`` on SQLite (no such locks), for an anonymous
    client whose session engine is not database-backed or that has no session key, and when the
    row lives in another database than ``using``.
    """
    connection = connections[using]
    if not connection.features.has_select_for_update:
        return None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        model: type[models.Model] = get_user_model()  # request.user is a lazy object: not type(user)
        lookup: dict[str, Any] = {"pk": user.pk}
    else:
        session = getattr(request, "session", None)
        get_model = getattr(session, "get_model_class", None)  # database-backed session engines
        if session is None or get_model is None or not session.session_key:
            return None
        model = get_model()
        lookup = {"session_key": session.session_key}
    if router.db_for_write(model) != using:
        return None
    ((column, value),) = lookup.items()
    opts = model._meta
    field = opts.pk if column == "pk" else opts.get_field(column)
    value = field.get_db_prep_value(value, connection)  # type: ignore[union-attr]
    if connection.vendor == "postgresql":
        return _ADVISORY_LOCK_SQL, f"async_uploads:{opts.label_lower}:{column}:{value}"
    return _lock_sql(connection, model, column), value


#: A 64-bit key from the text, held until the end of the transaction (PostgreSQL 11+).
_ADVISORY_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


_LOCK_SQL: dict[tuple[str, str, str], str] = {}


def _lock_sql(connection: Any, model: type[models.Model], lookup: str) -> str:
    """``SELECT pk FROM <model's table> WHERE <lookup> = %s FOR UPDATE``, written once per database and model."""
    cache_key = (connection.alias, model._meta.label, lookup)
    sql = _LOCK_SQL.get(cache_key)
    if sql is None:
        q = connection.ops.quote_name
        opts = model._meta
        sql = (
            f"SELECT {q(_column(opts, 'pk'))} FROM {q(opts.db_table)} "  # noqa: S608 (quoted names; the value is a parameter)
            f"WHERE {q(_column(opts, lookup))} = %s {connection.ops.for_update_sql()}"
        )
        _LOCK_SQL[cache_key] = sql
    return sql


@dataclass
class PendingUploads:
    """What an uploader holds: uploads issued but not yet saved to a record."""

    count: int
    #: Declared sizes added up; an upload without one counts as its field's ``max_size``, or as
    #: ``MAX_PENDING_BYTES`` when the field has none (an unbounded upload could fill it alone).
    bytes: int


def pending_uploads(request: HttpRequest, *, using: str | None = None) -> PendingUploads:
    """Return the uploads ``request``'s uploader holds that no record has taken yet (one query).

    Rows a record claimed (``object_pk`` set, also when its move failed) and rows the cleanup
    deleted do not count. Open multipart sessions count by their declared size.
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        by_user, param = True, user.pk
    else:
        session = getattr(request, "session", None)
        param = session.session_key if session is not None else None
        if not param:
            return PendingUploads(0, 0)
        by_user = False
    using = using or router.db_for_read(AsyncTempFile)
    connection = connections[using]
    column = AsyncTempFile._meta.get_field("user" if by_user else "session_key")
    count = total = 0
    with connection.cursor() as cursor:
        value = column.get_db_prep_value(param, connection)  # type: ignore[union-attr]
        cursor.execute(_pending_sql(connection, by_user), [value, value])
        for content_type_id, field_name, n, declared, undeclared in cursor.fetchall():
            count += n
            total += int(declared or 0)
            if undeclared:
                total += undeclared * _undeclared_size(content_type_id, field_name)
    return PendingUploads(count, total)


_PENDING_SQL: dict[tuple[str, bool], str] = {}


def _column(opts: Any, name: str) -> str:
    """The database column of the concrete field ``name`` (``pk``: the primary key)."""
    field = opts.pk if name == "pk" else opts.get_field(name)
    return str(field.column)


def _pending_sql(connection: Any, by_user: bool) -> str:
    """The quota statement, written once per database vendor (the ORM would build it per request).

    Per field: the uploader's unclaimed rows, their declared sizes added up, and how many have no
    declared size; then, in the same statement, the uploader's open multipart sessions and their
    declared sizes. It reads the indexes ``asynctemp_user_pending_idx`` / ``asynctemp_session_pending_idx``
    and ``asyncsession_user_state_idx`` / ``asyncsession_session_idx``.
    """
    cache_key = (connection.vendor, by_user)
    sql = _PENDING_SQL.get(cache_key)
    if sql is None:
        q = connection.ops.quote_name
        opts = AsyncTempFile._meta
        col = {name: q(_column(opts, name)) for name in ("content_type", "field_name", "declared_size")}
        user_col, session_col = q(_column(opts, "user")), q(_column(opts, "session_key"))
        object_col = q(_column(opts, "object_pk"))
        uploader = f"{user_col} = %s" if by_user else f"{user_col} IS NULL AND {session_col} = %s"
        # Only quoted names of this app's own table go into the text; the uploader is a parameter.
        sql = (
            f"SELECT {col['content_type']}, {col['field_name']}, COUNT(*), SUM({col['declared_size']}), "  # noqa: S608
            f"SUM(CASE WHEN {col['declared_size']} IS NULL THEN 1 ELSE 0 END) "
            f"FROM {q(opts.db_table)} WHERE {uploader} AND {object_col} IS NULL "
            f"GROUP BY {col['content_type']}, {col['field_name']}"
        )
        sopts = UploadSession._meta
        scol = {name: q(_column(sopts, name)) for name in ("content_type", "field_name", "declared_size", "state")}
        s_user, s_session = q(_column(sopts, "user")), q(_column(sopts, "session_key"))
        s_uploader = f"{s_user} = %s" if by_user else f"{s_user} IS NULL AND {s_session} = %s"
        sql += (
            f" UNION ALL SELECT {scol['content_type']}, {scol['field_name']}, COUNT(*), "  # noqa: S608
            f"SUM({scol['declared_size']}), 0 FROM {q(sopts.db_table)} "
            f"WHERE {s_uploader} AND {scol['state']} = '{UploadSession.State.OPEN.value}' "
            f"GROUP BY {scol['content_type']}, {scol['field_name']}"
        )
        _PENDING_SQL[cache_key] = sql
    return sql


def _undeclared_size(content_type_id: int, field_name: str) -> int:
    """Return the bytes an upload without a declared size counts for."""
    model = ContentType.objects.get_for_id(content_type_id).model_class()
    try:
        field = model._meta.get_field(field_name) if model is not None else None
    except FieldDoesNotExist:
        field = None
    if field is None:
        return 0  # the field is gone: its uploads can no longer be saved, the cleanup removes them
    limit = getattr(field, "max_size_bytes", None)
    return limit if limit is not None else (app_settings.MAX_PENDING_BYTES or 0)


def _counted_bytes(field: AsyncFileMixin, declared_size: int | None) -> int:
    """The bytes an upload counts for in ``MAX_PENDING_BYTES`` (see :class:`PendingUploads`)."""
    if declared_size is not None:
        return declared_size
    limit = field.max_size_bytes
    return limit if limit is not None else (app_settings.MAX_PENDING_BYTES or 0)


def _check_quota(request: HttpRequest, field: AsyncFileMixin, declared_size: int | None, using: str) -> None:
    """Raise ``UploadRejected`` (``quota_exceeded``) when the uploader, this upload included, is over a quota."""
    refusals = _quota_refusals(request, [(field, declared_size)], using)
    if refusals:
        raise refusals[0]


def _quota_refusals(
    request: HttpRequest, uploads: list[tuple[AsyncFileMixin, int | None]], using: str
) -> dict[int, UploadRejected]:
    """Return the new uploads (by position) that would bring the uploader over a quota, counted in order.

    Called with the new uploads already recorded: the one count includes them, and each is then
    measured against what the uploader held before it plus the new ones accepted before it.
    """
    max_count, max_bytes = app_settings.MAX_PENDING_UPLOADS, app_settings.MAX_PENDING_BYTES
    if max_count is None and max_bytes is None:
        return {}
    pending = pending_uploads(request, using=using)
    sizes = [_counted_bytes(field, declared) for field, declared in uploads]
    held_count = pending.count - len(uploads)
    held_bytes = pending.bytes - sum(sizes)
    free = (
        "Save the forms that use your earlier uploads, or wait until unsaved uploads are removed by the "
        "periodic cleanup, then try again."
    )
    refusals: dict[int, UploadRejected] = {}
    for i, ((field, declared_size), counted) in enumerate(zip(uploads, sizes, strict=True)):
        if max_count is not None and held_count + 1 > max_count:
            refusals[i] = UploadRejected(
                f"You have {held_count} uploads that are not saved to a record yet, and at most {max_count} "
                f"are allowed. {free}",
                code=ErrorCode.QUOTA_EXCEEDED,
            )
            continue
        if max_bytes is not None and held_bytes + counted > max_bytes:
            if declared_size is not None:
                this = f"This upload ({human_size(declared_size)})"
            elif field.max_size_bytes is not None:
                this = (
                    f"This upload (counted as {human_size(field.max_size_bytes)}, the field's max_size, as no size was "
                    "declared)"
                )
            else:
                this = "This upload (of undeclared size to a field without max_size, so counted as the whole limit)"
            refusals[i] = UploadRejected(
                f"{this} would bring your uploads not saved to a record yet to "
                f"{human_size(held_bytes + counted, unlike=max_bytes)}, and at most {human_size(max_bytes)} are "
                f"allowed. {free}",
                code=ErrorCode.QUOTA_EXCEEDED,
            )
            continue
        held_count += 1
        held_bytes += counted
    return refusals


def resolve_download_url(
    registry: AsyncFieldRegistry, request: HttpRequest, *, field_id: Any, instance_id: Any, **params: Any
) -> str:
    """Check the viewer may read the file and return its signed download URL.

    Raises ``UploadRejected`` (``invalid_input`` / ``not_found``; ``verification_pending`` while
    the background task has not verified the upload the record holds) or ``UploadPermissionDenied``.
    """
    field = get_field_or_reject(registry, field_id)
    if instance_id is None or instance_id == "":
        raise UploadRejected({"instance_id": ["This field is required."]}, code=ErrorCode.INVALID_INPUT)
    user = getattr(request, "user", None)
    obj = get_instance_or_reject(field, instance_id, user=user, perm=field.perm_detail)
    if not check_permission(user, field.perm_detail, obj):
        raise UploadPermissionDenied("You do not have permission to download this file.")
    value = getattr(obj, field.attname)
    if not value:
        raise UploadRejected({"instance_id": [f"No file is set for {field.name}."]}, code=ErrorCode.NOT_FOUND)
    if field.storage.is_temporary_path(value.name) and AsyncTempFile.awaits_verification(value.name):
        raise UploadRejected(
            {"instance_id": ["This file is still being checked; try again in a moment."]},
            code=ErrorCode.VERIFICATION_PENDING,
        )
    return field.storage.generate_download_url(
        value.name, registry.generate_id(field), registry=registry, **{**field.download_params, **params}
    )


# --------------------------------------------------------------------------- uploads in parts

#: Most parts one call may sign.
MAX_PARTS_PER_SIGN = 100


@dataclass
class StartedUpload:
    """A multipart session was opened: send its parts, then complete it."""

    session: UploadSession
    plan: PartPlan

    @property
    def key(self) -> str:
        return self.session.key


def start_multipart_upload(
    registry: AsyncFieldRegistry,
    request: HttpRequest,
    *,
    field_id: Any,
    filename: Any,
    content_type: Any = None,
    size: Any = None,
    instance_id: Any = None,
) -> StartedUpload:
    """Check a request to upload a file in parts, as :func:`issue_upload` does, and open its session.

    ``size`` is required: the part plan is cut from it, the quotas count it while the session is
    open, and completion checks the parts add up to it. Raises what :func:`issue_upload` raises;
    nothing is recorded, and no upload is left open in storage, when it raises.
    """
    _count_request(request)
    field = get_field_or_reject(registry, field_id)
    _check_filename_and_type(filename, content_type)
    declared_size = _parse_size(size)
    if declared_size is None or declared_size < 1:
        raise UploadRejected(
            {"size": ["An upload in parts needs the file's size in bytes (at least 1)."]}, code=ErrorCode.INVALID_INPUT
        )
    storage = field.storage
    if not storage.capabilities.multipart:
        raise UploadRejected(
            {
                "field_id": [
                    f"The storage of {registry.generate_id(field)} takes no uploads in parts; use generateUploadUrl."
                ]
            },
            code=ErrorCode.INVALID_INPUT,
        )
    obj = _authorize_upload(registry, request, field, instance_id)
    _check_against_field(field, filename, content_type, declared_size)
    try:
        plan = storage.plan_upload(declared_size)
    except ValueError as e:
        raise UploadRejected({"size": [str(e)]}, code=ErrorCode.FILE_TOO_LARGE) from e
    try:
        key = storage.generate_temporary_path(filename, max_length=field.max_length)
    except SuspiciousFileOperation as e:
        raise UploadRejected({"filename": [str(e)]}, code=ErrorCode.INVALID_INPUT) from e
    content_type_obj = ContentType.objects.get_for_model(field.model, for_concrete_model=False)
    _ensure_session_key(request)
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    session_key = "" if user_id is not None else (getattr(getattr(request, "session", None), "session_key", "") or "")
    using = router.db_for_write(UploadSession)
    fid = registry.generate_id(field)
    with transaction.atomic(using=using):
        _lock_uploader(request, using)
        session = UploadSession.objects.using(using).create(
            key=key,
            upload_id="",
            original_filename=filename,
            declared_content_type=content_type or "",
            declared_size=declared_size,
            part_size=plan.part_size,
            part_count=plan.part_count,
            expires_at=timezone.now() + datetime.timedelta(seconds=int(app_settings.MULTIPART_SESSION_EXPIRY)),
            content_type=content_type_obj,
            field_name=field.name,
            instance_pk=None if obj is None else str(obj.pk),
            user_id=user_id,
            session_key=session_key,
        )
        _check_quota(request, field, declared_size, using)
        # Started in storage last: a refusal starts nothing, and a failure rolls the row back.
        session.upload_id = storage.create_multipart_upload(
            UploadRequest(
                key=key,
                field_id=fid,
                filename=filename,
                content_type=content_type or None,
                size=declared_size,
                max_size=field.max_size_bytes,
                instance=obj,
                registry=registry,
            )
        )
        UploadSession.objects.using(using).filter(pk=session.pk).update(upload_id=session.upload_id)
    return StartedUpload(session=session, plan=plan)


def _not_found() -> UploadRejected:
    return UploadRejected(
        {"upload_id": ["No upload in parts with this key and upload id was started by you."]}, code=ErrorCode.NOT_FOUND
    )


def _closed(session: UploadSession) -> UploadRejected:
    state = "past its expiry" if session.state == UploadSession.State.OPEN else session.state
    return UploadRejected(f"This upload in parts is {state}; start a new one.", code=ErrorCode.UPLOAD_SESSION_CLOSED)


def _session_for(
    registry: AsyncFieldRegistry, request: HttpRequest, key: Any, upload_id: Any
) -> tuple[UploadSession, AsyncFileMixin, MultipartUpload]:
    """Return the session ``key`` / ``upload_id`` of this uploader in ``registry``, once its permission holds again.

    Unknown, of another uploader or of another registry's field: ``not_found`` (nobody learns which
    sessions exist). The field's permission is checked as when it started.
    """
    if not isinstance(key, str) or not key or not isinstance(upload_id, str) or not upload_id:
        raise UploadRejected({"key": ["key and uploadId are required."]}, code=ErrorCode.INVALID_INPUT)
    if "\x00" in key or "\x00" in upload_id or not is_text(key) or not is_text(upload_id):
        raise _not_found()  # no session has such a key, and PostgreSQL cannot even compare it
    session = UploadSession.get_by_key(key)
    if session is None or session.upload_id != upload_id or not session.is_owned_by(request):
        raise _not_found()
    try:
        field = session.get_field()
    except (LookupError, FieldDoesNotExist) as e:
        raise _not_found() from e
    fid = registry.generate_id(field)
    registered = registry.get_field(fid)
    if registered is None or not session.is_for_field(registered):
        raise _not_found()
    _authorize_upload(registry, request, registered, session.instance_pk)
    upload = MultipartUpload(
        key=session.key,
        upload_id=session.upload_id,
        field_id=fid,
        plan=PartPlan(size=session.declared_size, part_size=session.part_size, part_count=session.part_count),
        content_type=session.declared_content_type or None,
        registry=registry,
    )
    return session, registered, upload


def _require_open(session: UploadSession) -> None:
    if session.state != UploadSession.State.OPEN or session.expires_at <= timezone.now():
        raise _closed(session)


def sign_upload_parts(
    registry: AsyncFieldRegistry, request: HttpRequest, *, key: Any, upload_id: Any, part_numbers: Any
) -> list[PartTarget]:
    """Return where to send each of ``part_numbers`` (1 to :data:`MAX_PARTS_PER_SIGN` of ``1..partCount``).

    Each target is valid for ``UPLOAD_URL_EXPIRY`` seconds, never past the session's expiry.
    Raises ``UploadRejected`` (``invalid_input`` for bad part numbers, ``not_found``,
    ``upload_session_closed``) or ``UploadPermissionDenied``.
    """
    session, field, upload = _session_for(registry, request, key, upload_id)
    _require_open(session)
    if (
        not isinstance(part_numbers, list | tuple)
        or not part_numbers
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in part_numbers)
    ):
        raise UploadRejected(
            {"part_numbers": ["partNumbers must be a non-empty list of part numbers."]}, code=ErrorCode.INVALID_INPUT
        )
    if len(part_numbers) > MAX_PARTS_PER_SIGN:
        raise UploadRejected(
            {
                "part_numbers": [
                    f"At most {MAX_PARTS_PER_SIGN} parts can be signed in one call, got {len(part_numbers)}."
                ]
            },
            code=ErrorCode.INVALID_INPUT,
        )
    outside = [n for n in part_numbers if not 1 <= n <= session.part_count]
    if outside:
        raise UploadRejected(
            {"part_numbers": [f"Part {outside[0]} is outside 1..{session.part_count}."]}, code=ErrorCode.INVALID_INPUT
        )
    if len(set(part_numbers)) != len(part_numbers):
        raise UploadRejected({"part_numbers": ["A part number is repeated."]}, code=ErrorCode.INVALID_INPUT)
    left = int((session.expires_at - timezone.now()).total_seconds())
    expire = max(1, min(int(app_settings.UPLOAD_URL_EXPIRY), left))
    return field.storage.sign_upload_parts(upload, list(part_numbers), expire)


def list_uploaded_parts(
    registry: AsyncFieldRegistry, request: HttpRequest, *, key: Any, upload_id: Any
) -> list[UploadedPart]:
    """Return the parts storage holds for an open session (for resuming: send only the others)."""
    session, field, upload = _session_for(registry, request, key, upload_id)
    _require_open(session)
    return field.storage.list_uploaded_parts(upload)


def complete_multipart_upload(
    registry: AsyncFieldRegistry, request: HttpRequest, *, key: Any, upload_id: Any
) -> AsyncTempFile:
    """Check every part is there with the planned sizes, assemble the object and verify it as a single upload.

    A part missing, one more than planned, or a size that differs from the plan is ``invalid_input``
    and changes nothing (the session stays open: send the part again, then complete). The
    assembled object is verified as at acceptance (``invalid_file_type``, ``file_too_large``,
    ``invalid_image``); a refused object is deleted and the session aborted. Returns the
    temporary file recorded for the key, to submit in ``AsyncFileInput``.
    """
    session, field, upload = _session_for(registry, request, key, upload_id)
    _require_open(session)
    using = router.db_for_write(UploadSession)
    storage = field.storage
    with transaction.atomic(using=using):
        # Claimed first: of two completions of one session, one goes on.
        if (
            not UploadSession.objects.using(using)
            .filter(pk=session.pk, state=UploadSession.State.OPEN)
            .update(state=UploadSession.State.COMPLETED)
        ):
            raise _closed(session)
        parts = storage.list_uploaded_parts(upload)
        _check_parts(upload.plan, parts)
        storage.complete_multipart_upload(upload, parts)
        temp_file = AsyncTempFile.create_for_field(
            field,
            session.original_filename,
            request=request,
            instance=get_instance_or_reject(field, session.instance_pk),
            size=session.declared_size,
            content_type=session.declared_content_type,
            key=session.key,
        )
    try:
        verify_temp_file(field, temp_file)
    except UploadRejected:
        with transaction.atomic(using=using):
            AsyncTempFile.objects.using(using).filter(pk=temp_file.pk).delete()
            UploadSession.objects.using(using).filter(pk=session.pk).update(state=UploadSession.State.ABORTED)
        storage.delete(session.key)
        raise
    AsyncTempFile.objects.using(using).filter(pk=temp_file.pk).update(uploaded_at=timezone.now())
    return temp_file


def _check_parts(plan: PartPlan, parts: list[UploadedPart]) -> None:
    numbers = [p.number for p in parts]
    missing = sorted(set(range(1, plan.part_count + 1)) - set(numbers))
    extra = sorted(n for n in set(numbers) if not 1 <= n <= plan.part_count)
    if missing or extra:
        said = []
        if missing:
            said.append(f"parts {_ranges(missing)} are missing")
        if extra:
            said.append(f"parts {_ranges(extra)} are not in the plan of {plan.part_count}")
        raise UploadRejected(
            f"The upload cannot be completed: {' and '.join(said)}. Send the missing parts (uploadedParts lists "
            "those that arrived), or abort.",
            code=ErrorCode.INVALID_INPUT,
        )
    wrong = [p for p in parts if p.size != plan.part_length(p.number)]
    total = sum(p.size for p in parts)
    if wrong or total != plan.size:
        first = wrong[0] if wrong else None
        detail = (
            f"part {first.number} is {first.size} bytes but {plan.part_length(first.number)} were planned"
            if first
            else f"the parts add up to {total} bytes"
        )
        raise UploadRejected(
            f"The upload cannot be completed: {detail}, and {plan.size} bytes were declared. Send that part again.",
            code=ErrorCode.INVALID_INPUT,
        )


def _ranges(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def abort_multipart_upload(registry: AsyncFieldRegistry, request: HttpRequest, *, key: Any, upload_id: Any) -> str:
    """Abort an open session and remove every part it left in storage; aborting again is harmless.

    A completed session cannot be aborted (``upload_session_closed``): its object is an upload
    like any other, which the cleanup removes unless a record takes it. Returns the key.
    """
    session, field, upload = _session_for(registry, request, key, upload_id)
    if session.state == UploadSession.State.COMPLETED:
        raise _closed(session)
    abort_session(session, field.storage, upload)
    return session.key


def abort_session(session: UploadSession, storage: Any, upload: MultipartUpload | None = None) -> None:
    """Mark ``session`` aborted and discard its parts in ``storage`` (what abort and the cleanup both do)."""
    if upload is None:
        upload = MultipartUpload(
            key=session.key,
            upload_id=session.upload_id,
            field_id="",
            plan=PartPlan(size=session.declared_size, part_size=session.part_size, part_count=session.part_count),
        )
    UploadSession.objects.filter(pk=session.pk).exclude(state=UploadSession.State.COMPLETED).update(
        state=UploadSession.State.ABORTED
    )
    if session.upload_id:
        storage.abort_multipart_upload(upload)
