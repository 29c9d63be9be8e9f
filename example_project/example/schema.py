"""The example project's GraphQL schema: documents and photos with async file fields."""

from __future__ import annotations

import strawberry
import strawberry_django
from strawberry import auto
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry_django import mutations
from strawberry_django.optimizer import DjangoOptimizerExtension
from strawberry_django.permissions import HasPerm

from async_uploads.graphql import (
    abort_multipart_upload,
    complete_multipart_upload,
    generate_upload_url,
    generate_upload_urls,
    sign_upload_parts,
    start_multipart_upload,
    uploaded_parts,
)
from example import models


@strawberry_django.type(models.Document)
class DocumentType:
    id: auto
    title: auto
    attachment: auto
    created_at: auto


@strawberry_django.input(models.Document)
class DocumentInput:
    title: auto
    attachment: auto


@strawberry_django.partial(models.Document)
class DocumentPartialInput:
    # Required: without an id strawberry_django's update changes every row of the table.
    id: strawberry.ID
    title: auto
    attachment: auto


@strawberry_django.type(models.Photo)
class PhotoType:
    id: auto
    caption: auto
    # The hint lets the optimizer load the dimension columns with the image (no query per photo).
    image: auto = strawberry_django.field(only=["width", "height"])


@strawberry_django.input(models.Photo)
class PhotoInput:
    caption: auto
    image: auto


@strawberry_django.partial(models.Photo)
class PhotoPartialInput:
    id: strawberry.ID
    caption: auto
    image: auto


# Each field lists only what the viewer may view: without the model's view permission (anonymous
# users never have it; active superusers always do) a list is empty and a single record is null.
# Signing in is not enough: every user of the site would otherwise read every title, key and name.
@strawberry.type
class Query:
    documents: list[DocumentType] = strawberry_django.field(extensions=[HasPerm("example.view_document")])
    photos: list[PhotoType] = strawberry_django.field(extensions=[HasPerm("example.view_photo")])
    document: DocumentType | None = strawberry_django.field(extensions=[HasPerm("example.view_document")])
    photo: PhotoType | None = strawberry_django.field(extensions=[HasPerm("example.view_photo")])
    uploaded_parts = uploaded_parts()


@strawberry.type
class Mutation:
    generate_upload_url = generate_upload_url()
    generate_upload_urls = generate_upload_urls()
    start_multipart_upload = start_multipart_upload()
    sign_upload_parts = sign_upload_parts()
    complete_multipart_upload = complete_multipart_upload()
    abort_multipart_upload = abort_multipart_upload()

    create_document: DocumentType = mutations.create(
        DocumentInput, handle_django_errors=True, extensions=[HasPerm("example.add_document")]
    )
    update_document: DocumentType = mutations.update(
        DocumentPartialInput, handle_django_errors=True, extensions=[HasPerm("example.change_document")]
    )
    delete_document: DocumentType = mutations.delete(
        strawberry_django.NodeInput, handle_django_errors=True, extensions=[HasPerm("example.delete_document")]
    )
    create_photo: PhotoType = mutations.create(
        PhotoInput, handle_django_errors=True, extensions=[HasPerm("example.add_photo")]
    )
    update_photo: PhotoType = mutations.update(
        PhotoPartialInput, handle_django_errors=True, extensions=[HasPerm("example.change_photo")]
    )
    delete_photo: PhotoType = mutations.delete(
        strawberry_django.NodeInput, handle_django_errors=True, extensions=[HasPerm("example.delete_photo")]
    )


# Refuse costly documents before any resolver runs (docs/graphql.md, "Limiting query cost"): every
# alias of downloadUrl signs a URL per record, so a few hundred of them cost seconds. Factories, not
# instances, so each request gets its own extension objects.
LIMITERS = [
    lambda: MaxTokensLimiter(max_token_count=2000),
    lambda: MaxAliasesLimiter(max_alias_count=20),
    lambda: QueryDepthLimiter(max_depth=10),
]

schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[DjangoOptimizerExtension, *LIMITERS])
