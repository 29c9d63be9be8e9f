"""Uploads in parts: ``startMultipartUpload``, ``signUploadParts``, ``completeMultipartUpload``,
``abortMultipartUpload`` and the ``uploadedParts`` query field, for a registry's fields."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from django.core.exceptions import PermissionDenied, ValidationError
from graphql import GraphQLError
from strawberry_django.fields.types import OperationInfo
from strawberry_django.resolvers import django_resolver

from async_uploads import services
from async_uploads.codes import ErrorCode
from async_uploads.graphql.types import FileSize, NameValue, UploadMethod, absolute_url, request_of
from async_uploads.graphql.upload_url import _type_prefix, _with_signature, field_enum, operation_info
from async_uploads.registry import AsyncFieldRegistry, default_async_field_registry

if TYPE_CHECKING:
    from strawberry.types import Info
    from strawberry.types.field import StrawberryField

__all__ = [
    "AbortMultipartUploadInput",
    "AbortMultipartUploadPayload",
    "AbortedMultipartUpload",
    "CompleteMultipartUploadInput",
    "CompleteMultipartUploadPayload",
    "CompletedMultipartUpload",
    "MultipartUpload",
    "SignUploadPartsInput",
    "SignUploadPartsPayload",
    "SignedUploadPart",
    "SignedUploadParts",
    "StartMultipartUploadPayload",
    "UploadedPart",
    "abort_multipart_upload",
    "complete_multipart_upload",
    "sign_upload_parts",
    "start_multipart_upload",
    "uploaded_parts",
]


@strawberry.type(description="An upload in parts was started: sign its parts, send them, then complete it.")
class MultipartUpload:
    key: str = strawberry.field(description="The temporary key; after completion, submit it in AsyncFileInput.key.")
    upload_id: str = strawberry.field(description="The id of this upload in parts; every later call names it.")
    part_size: FileSize = strawberry.field(description="Bytes of every part but the last (the last is the rest).")
    part_count: int = strawberry.field(description="How many parts: exactly ceil(size / partSize).")
    expires_at: datetime.datetime = strawberry.field(description="When the session closes if not completed.")


@strawberry.type(
    description="Where and how to send one part: its bytes as the raw body, with exactly this method, URL and headers."
)
class SignedUploadPart:
    part_number: int
    url: str
    method: UploadMethod
    headers: list[NameValue] = strawberry.field(description="HTTP headers the part request must carry, exactly.")


@strawberry.type(description="The signed parts, in the order asked.")
class SignedUploadParts:
    parts: list[SignedUploadPart]


@strawberry.type(description="The parts were assembled and the object verified: submit `key` in AsyncFileInput.")
class CompletedMultipartUpload:
    key: str


@strawberry.type(description="The upload in parts was aborted; nothing of it is left in storage.")
class AbortedMultipartUpload:
    key: str


@strawberry.type(description="A part storage holds for an open upload in parts.")
class UploadedPart:
    part_number: int
    size: FileSize


@strawberry.input(description="Which parts of an open upload in parts to sign (at most 100).")
class SignUploadPartsInput:
    key: str
    upload_id: str
    part_numbers: list[int] = strawberry.field(description="1-based part numbers within 1..partCount, at most 100.")


@strawberry.input(description="The upload in parts to complete.")
class CompleteMultipartUploadInput:
    key: str
    upload_id: str


@strawberry.input(description="The upload in parts to abort.")
class AbortMultipartUploadInput:
    key: str
    upload_id: str


StartMultipartUploadPayload = Annotated[
    MultipartUpload | OperationInfo,
    strawberry.union("StartMultipartUploadPayload", description="The session, or why none was started."),
]
SignUploadPartsPayload = Annotated[
    SignedUploadParts | OperationInfo,
    strawberry.union("SignUploadPartsPayload", description="The signed parts, or why none were signed."),
]
CompleteMultipartUploadPayload = Annotated[
    CompletedMultipartUpload | OperationInfo,
    strawberry.union("CompleteMultipartUploadPayload", description="The key to submit, or why it was refused."),
]
AbortMultipartUploadPayload = Annotated[
    AbortedMultipartUpload | OperationInfo,
    strawberry.union("AbortMultipartUploadPayload", description="The aborted key, or why it was not aborted."),
]

_start_inputs: dict[int, type] = {}


def _start_input(registry: AsyncFieldRegistry) -> type:
    cached = _start_inputs.get(id(registry))
    if cached is not None:
        return cached
    namespace: dict[str, Any] = {
        "__annotations__": {
            "field": field_enum(registry),
            "filename": str,
            "content_type": str | None,
            "size": FileSize,
            "instance_id": strawberry.ID | None,
        },
        "field": strawberry.field(description="The field the file is for."),
        "filename": strawberry.field(description="The file's name; its extension is checked against the field."),
        "content_type": strawberry.field(default=None, description="The file's MIME type, as the browser reports it."),
        "size": strawberry.field(description="The file's size in bytes: the part plan is cut from it."),
        "instance_id": strawberry.field(
            default=None, description="The id of the record being edited; omit it for a new record."
        ),
    }
    name = f"{_type_prefix(registry)}StartMultipartUploadInput"
    cls = strawberry.input(type(name, (), namespace), name=name, description="A request to upload a file in parts.")
    _start_inputs[id(registry)] = cls
    return cls


def _mutation(resolve: Any, input_type: Any, payload: Any, name: str | None, description: str) -> StrawberryField:
    return strawberry.mutation(
        resolver=_with_signature(django_resolver(resolve, qs_hook=None), input_type, payload),
        name=name,
        description=description,
    )


def start_multipart_upload(
    registry: AsyncFieldRegistry = default_async_field_registry, *, name: str | None = None
) -> StrawberryField:
    """Return the ``startMultipartUpload`` mutation field for ``registry``'s fields.

    The same checks as ``generateUploadUrl`` (permission, type, size, quotas; ``size`` required);
    answers the session's ``{key, uploadId, partSize, partCount, expiresAt}``.
    """

    def resolve(info: Info, input: Any) -> MultipartUpload | OperationInfo:
        try:
            started = services.start_multipart_upload(
                registry,
                request_of(info),
                field_id=input.field.value,
                filename=input.filename,
                content_type=input.content_type,
                size=input.size,
                instance_id=input.instance_id,
            )
        except (ValidationError, PermissionDenied) as e:
            return operation_info(e)
        session = started.session
        return MultipartUpload(
            key=session.key,
            upload_id=session.upload_id,
            part_size=FileSize(session.part_size),
            part_count=session.part_count,
            expires_at=session.expires_at,
        )

    return _mutation(
        resolve,
        _start_input(registry),
        StartMultipartUploadPayload,
        name,
        "Check the field's rules and the viewer's permission and start an upload in parts.",
    )


def sign_upload_parts(
    registry: AsyncFieldRegistry = default_async_field_registry, *, name: str | None = None
) -> StrawberryField:
    """Return the ``signUploadParts`` mutation field: where to send each of at most 100 parts."""

    def resolve(info: Info, input: Any) -> SignedUploadParts | OperationInfo:
        try:
            targets = services.sign_upload_parts(
                registry, request_of(info), key=input.key, upload_id=input.upload_id, part_numbers=input.part_numbers
            )
        except (ValidationError, PermissionDenied) as e:
            return operation_info(e)
        return SignedUploadParts(
            parts=[
                SignedUploadPart(
                    part_number=t.number,
                    url=absolute_url(info, t.url),
                    method=UploadMethod(t.method),
                    headers=[NameValue(name=k, value=v) for k, v in t.headers.items()],
                )
                for t in targets
            ]
        )

    return _mutation(
        resolve,
        SignUploadPartsInput,
        SignUploadPartsPayload,
        name,
        "Sign parts of an open upload in parts (at most 100 per call).",
    )


def complete_multipart_upload(
    registry: AsyncFieldRegistry = default_async_field_registry, *, name: str | None = None
) -> StrawberryField:
    """Return the ``completeMultipartUpload`` mutation field: check the parts, assemble and verify the object."""

    def resolve(info: Info, input: Any) -> CompletedMultipartUpload | OperationInfo:
        try:
            temp_file = services.complete_multipart_upload(
                registry, request_of(info), key=input.key, upload_id=input.upload_id
            )
        except (ValidationError, PermissionDenied) as e:
            return operation_info(e)
        return CompletedMultipartUpload(key=temp_file.key)

    return _mutation(
        resolve,
        CompleteMultipartUploadInput,
        CompleteMultipartUploadPayload,
        name,
        "Check every part arrived with its planned size, assemble the object and verify it as a single upload.",
    )


def abort_multipart_upload(
    registry: AsyncFieldRegistry = default_async_field_registry, *, name: str | None = None
) -> StrawberryField:
    """Return the ``abortMultipartUpload`` mutation field: discard every part of an open upload."""

    def resolve(info: Info, input: Any) -> AbortedMultipartUpload | OperationInfo:
        try:
            key = services.abort_multipart_upload(registry, request_of(info), key=input.key, upload_id=input.upload_id)
        except (ValidationError, PermissionDenied) as e:
            return operation_info(e)
        return AbortedMultipartUpload(key=key)

    return _mutation(
        resolve,
        AbortMultipartUploadInput,
        AbortMultipartUploadPayload,
        name,
        "Abort an upload in parts; nothing of it is left in storage.",
    )


def uploaded_parts(
    registry: AsyncFieldRegistry = default_async_field_registry, *, name: str | None = None
) -> StrawberryField:
    """Return the ``uploadedParts(key, uploadId)`` query field: the parts storage holds, for resuming.

    A refusal is a GraphQL error whose ``extensions.code`` is the error code.
    """
    from strawberry.types import Info

    @django_resolver(qs_hook=None)
    def resolve(info: Info, key: str, upload_id: str) -> list[UploadedPart]:
        try:
            parts = services.list_uploaded_parts(registry, request_of(info), key=key, upload_id=upload_id)
        except (ValidationError, PermissionDenied) as e:
            message = operation_info(e).messages[0]
            raise GraphQLError(
                message.message, extensions={"code": str(message.code or ErrorCode.INVALID_INPUT)}
            ) from e
        return [UploadedPart(part_number=p.number, size=FileSize(p.size)) for p in parts]

    def resolver(info: Info, key: str, upload_id: str) -> Any:
        return resolve(info, key, upload_id)

    resolver.__annotations__ = {"info": Info, "key": str, "upload_id": str, "return": list[UploadedPart]}
    return strawberry.field(  # type: ignore[return-value]
        resolver=resolver,
        name=name,
        description="The parts storage holds for an open upload in parts: send only the others to resume.",
    )
