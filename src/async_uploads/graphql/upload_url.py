"""The ``generateUploadUrl`` mutation (and its batch form) for a registry's fields."""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from graphql import GraphQLError
from strawberry_django.fields.types import OperationInfo, OperationMessage
from strawberry_django.resolvers import django_resolver

from async_uploads.codes import ErrorCode
from async_uploads.conf import app_settings
from async_uploads.graphql.types import FileSize, UploadTarget, request_of
from async_uploads.registry import AsyncFieldRegistry, default_async_field_registry
from async_uploads.services import UploadRequestItem, issue_uploads

if TYPE_CHECKING:
    from strawberry.types import Info
    from strawberry.types.field import StrawberryField

__all__ = [
    "MAX_BATCH_SIZE",
    "GenerateUploadUrlPayload",
    "IssuedUpload",
    "field_enum",
    "generate_upload_url",
    "generate_upload_urls",
    "operation_info",
]

#: Most upload URLs one ``generateUploadUrls`` call may ask for when
#: ``ASYNC_UPLOADS["MAX_UPLOAD_URLS_PER_REQUEST"]`` is ``None`` (otherwise that setting is the limit).
MAX_BATCH_SIZE = 50

# The service names its inputs as the REST view does; GraphQL clients know them by these names.
_INPUT_NAMES = {
    "field_id": "field",
    "filename": "filename",
    "content_type": "contentType",
    "size": "size",
    "instance_id": "instanceId",
    "upload_id": "uploadId",
    "part_numbers": "partNumbers",
}


@strawberry.type(description="An upload URL was issued: upload the file to `upload`, then submit `key`.")
class IssuedUpload:
    key: str = strawberry.field(
        description="The temporary key: send it as AsyncFileInput.key in a create or update mutation after uploading."
    )
    upload: UploadTarget


GenerateUploadUrlPayload = Annotated[
    IssuedUpload | OperationInfo,
    strawberry.union(
        "GenerateUploadUrlPayload",
        description="The upload target, or why none was issued (OperationInfo messages carry a code).",
    ),
]


def operation_info(error: ValidationError | PermissionDenied) -> OperationInfo:
    """Return ``error`` as ``OperationInfo``, with input names as the client sent them and a code."""
    if isinstance(error, PermissionDenied):
        message = str(error) or "You do not have permission to do this."
        return OperationInfo(
            messages=[
                OperationMessage(
                    kind=OperationMessage.Kind.PERMISSION, message=message, code=ErrorCode.PERMISSION_DENIED
                )
            ]
        )
    messages = []
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            for e in errors:
                messages.append(
                    OperationMessage(
                        kind=OperationMessage.Kind.VALIDATION,
                        message=_text(e),
                        field=_INPUT_NAMES.get(name, name),
                        code=e.code or ErrorCode.INVALID_INPUT,
                    )
                )
    else:
        for e in error.error_list:
            messages.append(
                OperationMessage(
                    kind=OperationMessage.Kind.VALIDATION, message=_text(e), code=e.code or ErrorCode.INVALID_INPUT
                )
            )
    return OperationInfo(messages=messages)


def _text(error: ValidationError) -> str:
    message = str(error.message)
    return message % error.params if error.params else message


def _enum_member_name(field_id: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", field_id).upper()


def _type_prefix(registry: AsyncFieldRegistry) -> str:
    if registry is default_async_field_registry or registry.name == "default":
        return ""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-]+", registry.name) if part)


_enums: dict[int, type[enum.Enum]] = {}
_inputs: dict[int, type] = {}


def field_enum(registry: AsyncFieldRegistry = default_async_field_registry) -> type[enum.Enum]:
    """Return the ``AsyncUploadField`` enum of ``registry``: one value per registered field.

    Member names are the field ids upper-cased (``example.Document.attachment`` ->
    ``EXAMPLE_DOCUMENT_ATTACHMENT``); values are the ids. Call it once the models are loaded.
    """
    cached = _enums.get(id(registry))
    if cached is not None:
        return cached
    ids = sorted(registry.fields_by_id)
    if not ids:
        raise ImproperlyConfigured(
            f"{registry!r} has no async file fields yet, so the AsyncUploadField enum would be empty. Build the "
            "GraphQL schema after the apps are loaded (import it from a module Django imports after setup, such "
            "as urls.py), and check that the models declare AsyncFileField / AsyncImageField with this registry."
        )
    members: dict[str, str] = {}
    for field_id in ids:
        name = _enum_member_name(field_id)
        if name in members:
            raise ImproperlyConfigured(
                f"The fields {members[name]!r} and {field_id!r} of {registry!r} both map to the GraphQL enum value "
                f"{name}; rename one of them."
            )
        members[name] = field_id
    type_name = f"{_type_prefix(registry)}AsyncUploadField"
    python_enum = enum.Enum(type_name, members)  # type: ignore[misc]
    strawberry_enum = strawberry.enum(
        python_enum, name=type_name, description="The fields a file can be uploaded to (app_label.Model.field)."
    )
    _enums[id(registry)] = strawberry_enum
    return strawberry_enum


def _input_type(registry: AsyncFieldRegistry) -> type:
    cached = _inputs.get(id(registry))
    if cached is not None:
        return cached
    field_type = field_enum(registry)
    namespace: dict[str, Any] = {
        "__annotations__": {
            "field": field_type,
            "filename": str,
            "content_type": str | None,
            "size": FileSize | None,  # type: ignore[operator]
            "instance_id": strawberry.ID | None,
        },
        "field": strawberry.field(description="The field the file is for."),
        "filename": strawberry.field(description="The file's name; its extension is checked against the field."),
        "content_type": strawberry.field(default=None, description="The file's MIME type, as the browser reports it."),
        "size": strawberry.field(default=None, description="The file's size in bytes, checked against max_size."),
        "instance_id": strawberry.field(
            default=None,
            description="The id of the record being edited; omit it for a new record. The permission checked is "
            "the field's perm_update on that record, else perm_create.",
        ),
    }
    name = f"{_type_prefix(registry)}GenerateUploadUrlInput"
    cls = strawberry.input(type(name, (), namespace), name=name, description="A request for an upload URL.")
    _inputs[id(registry)] = cls
    return cls


def _item(data: Any) -> UploadRequestItem:
    return UploadRequestItem(
        field_id=data.field.value,
        filename=data.filename,
        content_type=data.content_type,
        size=data.size,
        instance_id=data.instance_id,
    )


def _answer(info: Info, result: Any) -> IssuedUpload | OperationInfo:
    if isinstance(result, ValidationError | PermissionDenied):  # UploadRejected, UploadPermissionDenied
        return operation_info(result)
    return IssuedUpload(key=result.key, upload=UploadTarget.from_response(info, result.upload))


def generate_upload_url(
    registry: AsyncFieldRegistry = default_async_field_registry,
    *,
    name: str | None = None,
    description: str | None = None,
) -> StrawberryField:
    """Return the ``generateUploadUrl`` mutation field for ``registry``'s fields.

    Use it on your ``Mutation`` type: ``generate_upload_url = generate_upload_url()``. It checks
    the field's permission (``perm_update`` against ``instanceId``'s record, else
    ``perm_create``), the filename, type and size against the field, records the temporary key
    and returns it with the signed upload target; failures are ``OperationInfo`` with a code.
    """
    input_type = _input_type(registry)

    @django_resolver(qs_hook=None)
    def resolve(info: Info, input: Any) -> Any:
        (result,) = issue_uploads(registry, request_of(info), [_item(input)])
        return _answer(info, result)

    return strawberry.mutation(
        resolver=_with_signature(resolve, input_type, GenerateUploadUrlPayload),
        name=name,
        description=description
        or "Check the field's rules and the viewer's permission, record a temporary key and return where to upload.",
    )


def generate_upload_urls(
    registry: AsyncFieldRegistry = default_async_field_registry,
    *,
    name: str | None = None,
    description: str | None = None,
    max_batch_size: int | None = None,
) -> StrawberryField:
    """Return the ``generateUploadUrls`` mutation field: several upload URLs in one round trip.

    Each item is answered on its own, in order: an ``IssuedUpload`` or an ``OperationInfo``
    (``quota_exceeded`` for the items beyond the uploader's quota, ``invalid_input`` for those
    beyond ``MAX_UPLOAD_URLS_PER_REQUEST``, counted over every field and alias of the request).
    More than ``max_batch_size`` items (default: ``ASYNC_UPLOADS["MAX_UPLOAD_URLS_PER_REQUEST"]``,
    or :data:`MAX_BATCH_SIZE` when that is ``None``) is an error for the whole call (``invalid_input``).
    """
    input_type = _input_type(registry)

    @django_resolver(qs_hook=None)
    def resolve(info: Info, input: Any) -> Any:
        # Read at call time, so a changed setting (override_settings) applies.
        limit = max_batch_size
        if limit is None:
            limit = app_settings.MAX_UPLOAD_URLS_PER_REQUEST or MAX_BATCH_SIZE
        if len(input) > limit:
            raise GraphQLError(
                f"At most {limit} upload URLs can be requested at once, got {len(input)}.",
                extensions={"code": ErrorCode.INVALID_INPUT.value},
            )
        results = issue_uploads(registry, request_of(info), [_item(item) for item in input])
        return [_answer(info, result) for result in results]

    return strawberry.mutation(
        resolver=_with_signature(resolve, list[input_type], list[GenerateUploadUrlPayload]),  # type: ignore[valid-type]
        name=name,
        description=description
        or "Request several upload URLs at once (a form with several files); each item is answered on its own.",
    )


def _with_signature(func: Any, input_annotation: Any, return_annotation: Any) -> Any:
    """Give ``func`` real annotations so strawberry reads the argument and return types from them."""
    from strawberry.types import Info

    def resolver(info: Info, input: Any) -> Any:
        return func(info, input)

    resolver.__annotations__ = {"info": Info, "input": input_annotation, "return": return_annotation}
    resolver.__name__ = func.__name__
    return resolver
