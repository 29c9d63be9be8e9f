"""GraphQL types of async file fields: the ``AsyncFileInput`` clients submit and the types they read."""

from __future__ import annotations

import datetime
import enum
import inspect
import logging
import posixpath
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from django.core.exceptions import PermissionDenied
from graphql import GraphQLError
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY
from strawberry.types import Info  # strawberry reads resolver annotations at runtime
from strawberry_django.resolvers import django_resolver
from strawberry_django.utils.requests import get_request

from async_uploads.codes import ErrorCode
from async_uploads.conf import app_settings
from async_uploads.inputs import RawFileInput
from async_uploads.permissions import check_permission

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
        provider = str(upload.get("provider") or "other")
        known = {p.value for p in UploadProvider}
        return cls(
            url=absolute_url(info, upload["url"]),
            method=UploadMethod(method),
            provider=UploadProvider(provider if provider in known else "other"),
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


def _settled(root: FieldFile) -> Any:
    """Return ``root`` with its permanent key (maybe as an awaitable): no query unless it holds a temporary key."""
    return _settle_async(root) if _unsettled(root) else root


def _field_id(root: FieldFile) -> str:
    field = root.field
    return field.async_field_registry.generate_id(field)  # type: ignore[attr-defined]


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


@django_resolver(qs_hook=None)
def _signed_download_url(info: Info, root: FieldFile, expires_in: int | None) -> str | None:
    field: Any = root.field
    if _unsettled(root):
        _settle_sync(root)
    user = getattr(request_of(info), "user", None)
    if not check_permission(user, field.perm_detail, root.instance):
        return None
    params = dict(field.download_params)
    if expires_in is not None:
        params["expire"] = expires_in
    try:
        url = field.storage.generate_download_url(
            root.name, _field_id(root), registry=field.async_field_registry, **params
        )
    except PermissionDenied:  # pragma: no cover - a storage may refuse to sign
        return None
    return absolute_url(info, url)


@strawberry.type(description="A file held by an async file field.")
class AsyncFile:
    @strawberry.field(description="The storage key of the file; send it back in AsyncFileInput to keep the file.")
    def key(self, root: strawberry.Parent[Any]) -> str:
        return _then(_settled(root), lambda f: str(f.name))

    @strawberry.field(description="The file's name (the last part of its key).")
    def name(self, root: strawberry.Parent[Any]) -> str:
        return _then(_settled(root), lambda f: posixpath.basename(str(f.name)))

    @strawberry.field(
        description=(
            "The download URL: it checks the viewer's permission when opened (with the session cookie) "
            "and redirects to a short-lived signed URL."
        )
    )
    def url(self, root: strawberry.Parent[Any], info: Info) -> str:
        return _then(_settled(root), lambda f: absolute_url(info, f.url))

    @strawberry.field(
        description=(
            "A signed URL that serves the file directly (for <img src> or clients without cookies), valid "
            "for expiresIn seconds (default and maximum: the field's download expiry, at most the DOWNLOAD_URL_EXPIRY "
            "setting). Null when the "
            "viewer lacks the field's detail permission."
        )
    )
    def download_url(self, root: strawberry.Parent[Any], info: Info, expires_in: int | None = None) -> str | None:
        url = _signed_download_url(info, root, _check_expiry(root.field, expires_in))
        return url  # type: ignore[return-value]  # awaitable under async execution


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


@strawberry.type(description="An image held by an async image field.")
class AsyncImage(AsyncFile):
    @strawberry.field(description="Width in pixels, from the field's width_field (null without one).")
    def width(self, root: strawberry.Parent[Any]) -> int | None:  # may be awaitable (deferred column)
        return _dimension(root, "width_field")

    @strawberry.field(description="Height in pixels, from the field's height_field (null without one).")
    def height(self, root: strawberry.Parent[Any]) -> int | None:
        return _dimension(root, "height_field")
