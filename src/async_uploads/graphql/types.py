"""GraphQL types of async file fields: the ``AsyncFileInput`` clients submit and the types they read."""

from __future__ import annotations

import asyncio
import datetime
import enum
import inspect
import logging
import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.core.signals import setting_changed
from django.utils.encoding import iri_to_uri
from graphql import GraphQLError, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema
from strawberry.annotation import StrawberryAnnotation
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY
from strawberry.types import Info  # strawberry reads resolver annotations at runtime
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.field import StrawberryField
from strawberry.utils.inspect import in_async_context
from strawberry_django.resolvers import django_resolver, resolving_async
from strawberry_django.utils.requests import get_request

from async_uploads.codes import ErrorCode
from async_uploads.conf import app_settings
from async_uploads.fields import download_redirect_base, download_redirect_query
from async_uploads.inputs import RawFileInput
from async_uploads.models import AsyncTempFile
from async_uploads.permissions import default_check_permission
from async_uploads.registry import request_reversed

if TYPE_CHECKING:
    from django.db.models.fields.files import FieldFile
    from django.http import HttpRequest
    from strawberry.types.arguments import InputContext

__all__ = [
    "AsyncFile",
    "AsyncFileInput",
    "AsyncImage",
    "FileSize",
    "NameValue",
    "UploadMethod",
    "UploadProvider",
    "UploadTarget",
    "absolute_url",
    "request_of",
]

#: Largest integer a JavaScript number holds exactly; the bound of ``FileSize``.
MAX_SAFE_INTEGER = 2**53 - 1


def _parse_file_size(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("FileSize must be a whole number of bytes, not a boolean.")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit():
            raise ValueError(f"FileSize must be a whole number of bytes, got {value!r}.")
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"FileSize must be a whole number of bytes, got {value!r}.")
    if not 0 <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"FileSize must be between 0 and {MAX_SAFE_INTEGER} bytes, got {value}.")
    return value


FileSize = NewType("FileSize", int)

# A library cannot reach its users' StrawberryConfig(scalar_map=...), so the scalar joins the
# registry strawberry builds every schema from, as strawberry's own scalars do.
DEFAULT_SCALAR_REGISTRY[FileSize] = strawberry.scalar(
    name="FileSize",
    description=(
        "A size in bytes: a whole number from 0 to 2^53 - 1, so it is exact in a JavaScript number "
        "(GraphQL's Int stops at 2 GiB). Sent and received as a JSON number; a string of digits is accepted too."
    ),
    serialize=int,
    parse_value=_parse_file_size,
)


def request_of(info: Info) -> HttpRequest:
    """Return the Django request of ``info``'s operation."""
    return get_request(info)


def absolute_url(info: Info, url: str) -> str:
    """Return ``url`` made absolute against the request (URLs that already are stay as they are)."""
    return request_of(info).build_absolute_uri(url)


@strawberry.enum(description="How the browser sends the file to the upload target.")
class UploadMethod(enum.Enum):
    POST = "POST"
    PUT = "PUT"


@strawberry.enum(description="Which storage the upload target belongs to; clients pick their upload code by it.")
class UploadProvider(enum.Enum):
    FILESYSTEM = "filesystem"
    S3 = "s3"
    AZURE = "azure"
    OTHER = "other"


_PROVIDERS = {p.value: p for p in UploadProvider}


@strawberry.type(description="One form field or HTTP header.")
class NameValue:
    name: str
    value: str


@strawberry.type(description="Where and how the browser uploads the file.")
class UploadTarget:
    url: str = strawberry.field(description="The URL to send the file to.")
    method: UploadMethod = strawberry.field(description="The HTTP method of the upload request.")
    provider: UploadProvider
    fields: list[NameValue] = strawberry.field(
        description="Form fields to send, in this order, before the file (multipart POST only)."
    )
    headers: list[NameValue] = strawberry.field(description="HTTP headers the upload request must carry.")
    file_field_name: str | None = strawberry.field(
        description="Name of the multipart field that carries the file (POST); null for PUT, whose body is the file."
    )
    expires_at: datetime.datetime | None = strawberry.field(
        description="When the URL stops accepting the upload (null when the storage does not say)."
    )

    @classmethod
    def from_response(cls, info: Info, upload: Mapping[str, Any]) -> UploadTarget:
        """Build the GraphQL value from a storage's ``GenerateUploadUrlResponse``."""
        method = str(upload.get("method") or "POST").upper()
        provider = _PROVIDERS.get(str(upload.get("provider") or "other"), UploadProvider.OTHER)
        return cls(
            url=absolute_url(info, upload["url"]),
            method=UploadMethod(method),
            provider=provider,
            fields=[NameValue(name=k, value=str(v)) for k, v in (upload.get("fields") or {}).items()],
            headers=[NameValue(name=k, value=str(v)) for k, v in (upload.get("headers") or {}).items()],
            file_field_name=upload.get("fileFieldName") or ("file" if method == "POST" else None),
            expires_at=upload.get("expiresAt"),
        )


@strawberry.input(
    description=(
        "The value of an async file field in create and update mutations: the key the file was "
        "uploaded to (from generateUploadUrl), or the field's current key to keep it. Send null to clear the field."
    )
)
class AsyncFileInput:
    key: str = strawberry.field(description="The temporary key from generateUploadUrl, or the field's current key.")
    name: str | None = strawberry.field(default=None, description="The file's original name.")
    width: int | None = strawberry.field(
        default=None, description="Width of an image in pixels; fills the field's width_field."
    )
    height: int | None = strawberry.field(
        default=None, description="Height of an image in pixels; fills the field's height_field."
    )


def _file_input_from_graphql(cls: type, value: Mapping[str, Any], context: InputContext) -> RawFileInput:
    # Strawberry hands us the raw input with the operation's info: keep the request with the value
    # so that assigning it to the model checks the key's uploader. Parsing and errors happen on
    # assignment, inside the mutation, where they become field errors in OperationInfo.
    values = {k: v for k, v in value.items() if v is not None}
    request = request_of(context.info) if context.info is not None else None
    return RawFileInput(values, request=request)


AsyncFileInput.__strawberry_definition__.from_input = _file_input_from_graphql  # type: ignore[attr-defined]


def _then(value: Any, fn: Any) -> Any:
    """Apply ``fn`` to ``value``, or to what it resolves to when it is awaitable (async execution)."""
    if inspect.isawaitable(value):

        async def later() -> Any:
            return fn(await value)

        return later()
    return fn(value)


def _settle_sync(root: FieldFile) -> FieldFile:
    # A record returned by a create/update mutation was read inside the mutation's transaction,
    # before its upload moved from the temporary key (that happens once the transaction commits).
    # Read the column again so clients get the permanent key, never the deleted temporary one.
    if root.__dict__.get("_async_uploads_settled"):
        return root  # another subfield read it meanwhile
    field: Any = root.field
    instance = root.instance
    if instance.pk is not None:
        current = field.model._base_manager.filter(pk=instance.pk).values_list(field.attname, flat=True).first()
        if current is not None and current != root.name:
            root.name = current
    root.__dict__["_async_uploads_settled"] = True
    return root


_settle_async = django_resolver(_settle_sync, qs_hook=None)


def _unsettled(root: FieldFile) -> bool:
    field: Any = root.field
    return not root.__dict__.get("_async_uploads_settled") and field.storage.is_temporary_path(root.name)


def _check_expiry(field: Any, expires_in: int | None) -> int | None:
    # The field's own download_params["expire"] is its limit too: a client may shorten a URL's
    # life, never make it outlive what the field allows.
    limit = int(app_settings.DOWNLOAD_URL_EXPIRY)
    own = field.download_params.get("expire")
    if own:
        limit = min(limit, int(own))
    if expires_in is None:
        return None
    if not 1 <= expires_in <= limit:
        raise GraphQLError(
            f"expiresIn must be between 1 and {limit} seconds for this field (its download_params['expire'], "
            f"at most ASYNC_UPLOADS['DOWNLOAD_URL_EXPIRY']), got {expires_in}.",
            extensions={"code": ErrorCode.INVALID_INPUT.value},
        )
    return expires_in


# --------------------------------------------------------------------------------------------
# What the file values of one request share
# --------------------------------------------------------------------------------------------

_STATE_ATTR = "_async_uploads_graphql_state"
#: Bumped on every setting_changed: a request's state built before a change is built again.
_settings_generation = [0]


def _settings_changed(**kwargs: Any) -> None:
    _settings_generation[0] += 1


setting_changed.connect(_settings_changed)

_NO_PERM: Any = object()

#: The characters iri_to_uri() leaves alone (quote()'s unreserved ones and its ``safe`` list).
_URI_SAFE = re.compile(r"[A-Za-z0-9_.~\-/#%\[\]=:;$&()+,!?*@']*")


class _SyncBatch:
    """Run the sync work (ORM, permission hooks, storage) of many async-resolved values in one hop.

    Under async execution graphql-core calls the resolvers of every record of a list in one
    pass before it awaits anything; each ``submit()`` of that pass joins one ``sync_to_async``
    call, which runs the jobs in order on the thread the ORM uses, as ``django_resolver`` would.
    """

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, tuple[Any, ...], asyncio.Future[Any]]] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def submit(self, fn: Any, *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self.jobs:
            task = loop.create_task(self._run())  # starts once the current pass has queued its jobs
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        self.jobs.append((fn, args, future))
        return future

    async def _run(self) -> None:
        jobs, self.jobs = self.jobs, []

        def work() -> list[tuple[bool, Any]]:
            token = resolving_async.set(True)  # nested django_resolver calls stay on this thread
            try:
                done: list[tuple[bool, Any]] = []
                for fn, args, _ in jobs:
                    try:
                        done.append((True, fn(*args)))
                    except Exception as e:
                        done.append((False, e))
                return done
            finally:
                resolving_async.reset(token)

        try:
            results = await sync_to_async(work, thread_sensitive=True)()
        except BaseException as e:
            for _, _, future in jobs:
                if not future.done():
                    future.set_exception(e)
            raise
        for (ok, value), (_, _, future) in zip(results, jobs, strict=True):
            if not future.done():
                future.set_result(value) if ok else future.set_exception(value)


class _RequestState:
    """What every file value of one GraphQL request shares, computed once per request.

    The absolute URL prefixes (``reverse()`` and ``build_absolute_uri``; the storages' own
    ``cached_reverse()`` calls answer from :attr:`reversed` meanwhile), each field's resolved
    ``perm_detail``, the viewer, and with the default ``CHECK_PERMISSION`` the viewer's global
    answer for a permission: the same for every record, so asked once. An object-level answer
    (a backend that grants ``perm`` on some records only) and any custom ``CHECK_PERMISSION`` are
    still asked per record.
    """

    def __init__(self, request: HttpRequest | None) -> None:
        self.request: Any = request
        self.generation = _settings_generation[0]
        self.origin: str | None = None
        self.redirect_heads: dict[int, tuple[str, str]] = {}
        self.reversed: dict[str, str] = {}
        self.perms: dict[int, Any] = {}
        self.granted: dict[str, bool] = {}
        self.checker = app_settings.CHECK_PERMISSION
        self.default_checker = self.checker is default_check_permission
        self.user_loaded = False
        self.user: Any = None
        self.batch = _SyncBatch()

    def absolute(self, url: str) -> str:
        """``request.build_absolute_uri(url)``, without re-reading the scheme and host for each URL."""
        if url.startswith("/") and not url.startswith("//"):
            path = url.partition("?")[0].partition("#")[0]
            if "/./" not in path and "/../" not in path:
                if self.origin is None:
                    self.origin = self.request.build_absolute_uri("/")[:-1]
                # build_absolute_uri() is iri_to_uri(scheme and host + url); iri_to_uri quotes
                # character by character, so the two halves can be quoted apart, and it leaves
                # a URL of URI characters as it is.
                return self.origin + (url if _URI_SAFE.fullmatch(url) else iri_to_uri(url))
        return self.request.build_absolute_uri(url)

    def redirect_url(self, root: FieldFile) -> str:
        """The absolute ``FieldFile.url`` of ``root``."""
        name = root._check_url()  # type: ignore[attr-defined]
        field: Any = root.field
        head = self.redirect_heads.get(id(field))
        if head is None:
            registry = field.async_field_registry
            head = self.redirect_heads[id(field)] = (
                self.absolute(download_redirect_base(registry)) + "?",
                registry.generate_id(field),
            )
        return head[0] + download_redirect_query(head[1], root.instance.pk, name)

    def viewer(self) -> Any:
        if not self.user_loaded:
            self.user = getattr(self.request, "user", None)
            self.user_loaded = True
        return self.user

    def perm_of(self, field: Any) -> str | None:
        perm = self.perms.get(id(field), _NO_PERM)
        if perm is _NO_PERM:
            perm = self.perms[id(field)] = field.perm_detail
        return perm

    def allowed(self, field: Any, obj: Any) -> bool:
        """``check_permission(user, field.perm_detail, obj)``, asking only once what cannot differ by record."""
        perm = self.perm_of(field)
        if perm is None:
            return True
        user = self.viewer()
        if not self.default_checker:
            return bool(self.checker(user, perm, obj))
        # default_check_permission: the global answer first (the same for every record), then obj.
        if user is None:
            return False
        granted = self.granted.get(perm)
        if granted is None:
            granted = self.granted[perm] = bool(user.has_perm(perm))
        return granted or (obj is not None and bool(user.has_perm(perm, obj)))


def _state(info: Info | GraphQLResolveInfo) -> _RequestState:
    request = get_request(info)  # type: ignore[arg-type]  # either info has the context
    if request is None:  # an operation run without an HTTP request: nothing to share
        return _RequestState(request)
    state = request.__dict__.get(_STATE_ATTR)
    if state is None or state.generation != _settings_generation[0]:
        state = request.__dict__[_STATE_ATTR] = _RequestState(request)
    return state


def _signed_download_url(state: _RequestState, root: FieldFile, expires_in: int | None) -> str | None:
    """The signed download URL of ``root`` (sync: it may query, ask a permission hook, or read the object)."""
    field: Any = root.field
    if _unsettled(root):
        _settle_sync(root)
    if not state.allowed(field, root.instance):
        return None
    if field.storage.is_temporary_path(root.name) and AsyncTempFile.awaits_verification(str(root.name)):
        return None  # the background task has not verified it yet: nothing is served until it has
    params = field.download_params
    if expires_in is not None:
        params = {**params, "expire": expires_in}
    memo = request_reversed.set(state.reversed)  # the storage's reverse() calls, once per request
    try:
        url = field.storage.generate_download_url(
            root.name, field.async_field_registry.generate_id(field), registry=field.async_field_registry, **params
        )
    except PermissionDenied:  # pragma: no cover - a storage may refuse to sign
        return None
    finally:
        request_reversed.reset(memo)
    return state.absolute(url)


# --------------------------------------------------------------------------------------------
# The output types' fields
# --------------------------------------------------------------------------------------------


class _FileValueField(StrawberryField):
    """A field of ``AsyncFile`` computed from its source, the ``FieldFile``, by ``compute``.

    Without ``with_info`` it is a basic field to strawberry (no resolver): it gets no ``Info``
    and costs little more than an attribute read. With ``with_info``, ``compute(source, state,
    kwargs)`` also gets the request's :class:`_RequestState`; its arguments are ``arguments``.
    """

    compute: Any
    with_info: bool

    def get_result(self, source: Any, info: Info | None, args: list[Any], kwargs: Any) -> Any:
        if not self.with_info:
            return self.compute(source)
        return self.compute(source, _state(info), kwargs)  # type: ignore[arg-type]

    @property
    def is_basic_field(self) -> bool:
        return not self.with_info and not self.extensions

    def __copy__(self) -> Any:
        new = super().__copy__()
        new.compute, new.with_info = self.compute, self.with_info
        return new


def _file_field(
    compute: Any,
    description: str,
    *,
    with_info: bool = False,
    arguments: list[StrawberryArgument] | None = None,
) -> Any:
    field = _FileValueField(description=description)
    field.compute, field.with_info = compute, with_info
    field.init = field.repr = field.compare = False  # no dataclass __init__ argument: a computed value
    if arguments is not None:
        field.arguments = arguments
    return field


_PREPARED_ATTR = "_async_uploads_prepared"


def _direct_resolver(field: _FileValueField, arguments: Mapping[str, Any]) -> Any:
    """A graphql-core resolver of ``field`` that computes it from the source and graphql-core's info.

    It gives what strawberry's resolver of the field gives, without building a strawberry
    ``Info`` and converting the arguments for each value (graphql-core has coerced them
    already, and these fields take only scalars); about half the cost of the field.
    """
    names = dict(zip(arguments, (a.python_name for a in field.arguments), strict=True))
    compute = field.compute

    def resolve(source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        return compute(source, _state(info), {names[k]: v for k, v in kwargs.items()})

    resolve._is_default = True  # type: ignore[attr-defined]  # as strawberry marks a resolver-less field
    return resolve


def _prepare_schema(schema: GraphQLSchema) -> None:
    """Give the file fields of ``schema`` that need the request (``url``, ``downloadUrl``) direct resolvers."""
    for graphql_type in schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for graphql_field in graphql_type.fields.values():
            field = graphql_field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if isinstance(field, _FileValueField) and field.with_info and not field.extensions:
                graphql_field.resolve = _direct_resolver(field, graphql_field.args)
    schema.__dict__[_PREPARED_ATTR] = True


def _key(root: FieldFile) -> Any:
    if _unsettled(root):
        return _then(_settle_async(root), lambda f: str(f.name))
    return str(root.name)


def _name(root: FieldFile) -> Any:
    if _unsettled(root):
        return _then(_settle_async(root), lambda f: posixpath.basename(str(f.name)))
    return posixpath.basename(str(root.name))


def _pending(root: FieldFile) -> bool:
    field: Any = root.field
    return bool(field.storage.is_temporary_path(root.name))


def _move_pending(root: FieldFile) -> Any:
    if _unsettled(root):
        return _then(_settle_async(root), _pending)
    return _pending(root)


def _url(root: FieldFile, state: _RequestState, kwargs: Any) -> Any:
    if _unsettled(root):
        return _then(_settle_async(root), state.redirect_url)
    return state.redirect_url(root)


def _download_url(root: FieldFile, state: _RequestState, kwargs: Any) -> Any:
    expires_in = _check_expiry(root.field, kwargs.get("expires_in"))
    if in_async_context() and not resolving_async.get():
        # The ORM, the permission hook and the storage are sync: every value of this pass
        # shares one sync_to_async call.
        return state.batch.submit(_signed_download_url, state, root, expires_in)
    return _signed_download_url(state, root, expires_in)


@strawberry.type(description="A file held by an async file field.")
class AsyncFile:
    key: str = _file_field(_key, "The storage key of the file; send it back in AsyncFileInput to keep the file.")
    name: str = _file_field(_name, "The file's name (the last part of its key).")
    url: str = _file_field(
        _url,
        "The download URL: it checks the viewer's permission when opened (with the session cookie) "
        "and redirects to a short-lived signed URL.",
        with_info=True,
    )
    download_url: str | None = _file_field(
        _download_url,
        "A signed URL that serves the file directly (for <img src> or clients without cookies), valid "
        "for expiresIn seconds (default and maximum: the field's download expiry, at most the DOWNLOAD_URL_EXPIRY "
        "setting). Null when the "
        "viewer lacks the field's detail permission, and while a background task has not verified the upload yet.",
        with_info=True,
        arguments=[
            StrawberryArgument(
                python_name="expires_in",
                graphql_name=None,
                type_annotation=StrawberryAnnotation(int | None),
                default=None,
            )
        ],
    )
    move_pending: bool = _file_field(
        _move_pending,
        "True while the file still waits at its temporary key for its move to its permanent name (a "
        "background task queued or running, or a failed move waiting for retry_async_file_moves); "
        "url and downloadUrl serve it from there meanwhile. key and name change when the move finishes.",
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: GraphQLResolveInfo) -> bool:
        # graphql-core asks this of every file value before it resolves the value's fields: the
        # first time in a schema, the fields that need the request get their direct resolvers.
        if not info.schema.__dict__.get(_PREPARED_ATTR):
            _prepare_schema(info.schema)
        return True


logger = logging.getLogger("async_uploads")
_warned_deferred: set[tuple[str, str]] = set()


@django_resolver(qs_hook=None)
def _load_deferred(root: FieldFile, column: str) -> Any:
    field: Any = root.field
    key = (field.model._meta.label, field.name)
    if key not in _warned_deferred:
        _warned_deferred.add(key)
        logger.warning(
            "%s.%s was loaded without its %s column, so reading it costs a query per record. With "
            "strawberry_django's optimizer, declare the field as "
            '%s: auto = strawberry_django.field(only=["%s", "%s"]).',
            field.model._meta.label,
            field.name,
            column,
            field.name,
            field.width_field or "",
            field.height_field or "",
        )
    # Load every deferred dimension column of the field at once: one query per record, not one
    # per column (width and height are usually selected together).
    instance = root.instance
    deferred = instance.get_deferred_fields()
    columns = [c for c in (field.width_field, field.height_field) if c and c in deferred]
    if len(columns) > 1:
        instance.refresh_from_db(fields=columns)
    return getattr(instance, column)


def _dimension(root: FieldFile, attr: str) -> Any:
    column = getattr(root.field, attr, None)
    if not column:
        return None
    if column in root.instance.__dict__:
        value = root.instance.__dict__[column]
        return int(value) if value is not None else None
    return _load_deferred(root, column)


def _width(root: FieldFile) -> Any:  # may be awaitable (deferred column)
    return _dimension(root, "width_field")


def _height(root: FieldFile) -> Any:
    return _dimension(root, "height_field")


@strawberry.type(description="An image held by an async image field.")
class AsyncImage(AsyncFile):
    width: int | None = _file_field(_width, "Width in pixels, from the field's width_field (null without one).")
    height: int | None = _file_field(_height, "Height in pixels, from the field's height_field (null without one).")
