"""A strawberry schema over the test models, served sync and async by tests/urls.py."""

from __future__ import annotations

import strawberry
import strawberry_django
from strawberry import auto
from strawberry.types import Info
from strawberry_django import mutations
from strawberry_django.optimizer import DjangoOptimizerExtension
from strawberry_django.utils.requests import get_request

from async_uploads.graphql import (
    abort_multipart_upload,
    complete_multipart_upload,
    generate_upload_url,
    generate_upload_urls,
    sign_upload_parts,
    start_multipart_upload,
    uploaded_parts,
)
from tests.testapp import models


@strawberry_django.type(models.Document)
class DocumentType:
    id: auto
    title: auto
    attachment: auto
    extra: auto


@strawberry_django.input(models.Document)
class DocumentInput:
    title: auto
    attachment: auto
    extra: auto


@strawberry_django.partial(models.Document)
class DocumentPartialInput:
    # Required: without an id strawberry_django's update changes every row of the table.
    id: strawberry.ID
    title: auto
    attachment: auto
    extra: auto


@strawberry_django.type(models.Photo)
class PhotoType:
    id: auto
    image: auto = strawberry_django.field(only=["width", "height"])


@strawberry_django.type(models.Photo, name="PhotoNoHintsType")
class PhotoNoHintsType:
    id: auto
    image: auto


@strawberry_django.input(models.Photo)
class PhotoInput:
    image: auto


@strawberry_django.partial(models.Photo)
class PhotoPartialInput:
    id: strawberry.ID
    image: auto


@strawberry_django.type(models.PublicNote)
class PublicNoteType:
    id: auto
    file: auto


@strawberry_django.input(models.PublicNote)
class PublicNoteInput:
    file: auto


@strawberry.type
class Query:
    documents: list[DocumentType] = strawberry_django.field()
    document: DocumentType | None = strawberry_django.field()
    photos: list[PhotoType] = strawberry_django.field()
    photos_without_hints: list[PhotoNoHintsType] = strawberry_django.field()
    public_notes: list[PublicNoteType] = strawberry_django.field()
    uploaded_parts = uploaded_parts()

    @strawberry_django.field(description="The signed-in user's name (null for anonymous); loads request.user.")
    def viewer(self, info: Info) -> str | None:
        user = get_request(info).user
        return user.get_username() if user.is_authenticated else None


@strawberry.type
class Mutation:
    generate_upload_url = generate_upload_url()
    generate_upload_urls = generate_upload_urls()
    start_multipart_upload = start_multipart_upload()
    sign_upload_parts = sign_upload_parts()
    complete_multipart_upload = complete_multipart_upload()
    abort_multipart_upload = abort_multipart_upload()
    create_document: DocumentType = mutations.create(DocumentInput, handle_django_errors=True)
    update_document: DocumentType = mutations.update(DocumentPartialInput, handle_django_errors=True)
    create_photo: PhotoType = mutations.create(PhotoInput, handle_django_errors=True)
    update_photo: PhotoType = mutations.update(PhotoPartialInput, handle_django_errors=True)
    create_public_note: PublicNoteType = mutations.create(PublicNoteInput, handle_django_errors=True)


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[DjangoOptimizerExtension])
