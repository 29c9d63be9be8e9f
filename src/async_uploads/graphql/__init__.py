"""The GraphQL layer on strawberry-graphql-django.

Importing this module maps :class:`~async_uploads.models.AsyncFileField` and
:class:`~async_uploads.models.AsyncImageField` for strawberry_django's ``auto``: output types
get :class:`AsyncFile` / :class:`AsyncImage`, input and partial types get :class:`AsyncFileInput`.
Add :func:`generate_upload_url` to your ``Mutation`` type for clients to request upload URLs, and
the multipart factories beside it (:func:`start_multipart_upload`, :func:`sign_upload_parts`,
:func:`complete_multipart_upload`, :func:`abort_multipart_upload`; :func:`uploaded_parts` on ``Query``)
for large files.
"""

from __future__ import annotations

try:
    import strawberry_django  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    from async_uploads.exceptions import AsyncUploadsImproperlyInstalled

    raise AsyncUploadsImproperlyInstalled("strawberry-graphql-django", "graphql") from e

from strawberry_django.fields.types import field_type_map, input_field_type_map

from async_uploads.fields import AsyncFileField, AsyncImageField
from async_uploads.graphql.multipart import (
    abort_multipart_upload,
    complete_multipart_upload,
    sign_upload_parts,
    start_multipart_upload,
    uploaded_parts,
)
from async_uploads.graphql.types import (
    AsyncFile,
    AsyncFileInput,
    AsyncImage,
    FileSize,
    NameValue,
    UploadMethod,
    UploadProvider,
    UploadTarget,
)
from async_uploads.graphql.upload_url import (
    MAX_BATCH_SIZE,
    GenerateUploadUrlPayload,
    IssuedUpload,
    field_enum,
    generate_upload_url,
    generate_upload_urls,
    operation_info,
)

__all__ = [
    "MAX_BATCH_SIZE",
    "AsyncFile",
    "AsyncFileInput",
    "AsyncImage",
    "FileSize",
    "GenerateUploadUrlPayload",
    "IssuedUpload",
    "NameValue",
    "UploadMethod",
    "UploadProvider",
    "UploadTarget",
    "abort_multipart_upload",
    "complete_multipart_upload",
    "field_enum",
    "generate_upload_url",
    "generate_upload_urls",
    "operation_info",
    "register_field_class",
    "sign_upload_parts",
    "start_multipart_upload",
    "uploaded_parts",
]


def register_field_class(field_class: type, *, image: bool = False) -> None:
    """Map a subclass of ``AsyncFileField`` / ``AsyncImageField`` for ``auto`` too.

    strawberry_django looks fields up by their exact class, so subclasses need this call.
    """
    # Nullable even for required fields: a field can be empty (a row saved before the field was
    # required, a cleared value), and strawberry_django returns null for an empty file.
    field_type_map[field_class] = (AsyncImage if image else AsyncFile) | None  # type: ignore[assignment]
    input_field_type_map[field_class] = AsyncFileInput


register_field_class(AsyncFileField)
register_field_class(AsyncImageField, image=True)
