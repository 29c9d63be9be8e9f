"""Wiring of the GraphQL layer: the missing extra, enum names per registry, subclasses of the fields."""

import subprocess
import sys

import pytest
import strawberry
import strawberry_django
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import isolate_apps
from strawberry import auto

from async_uploads.graphql import field_enum, generate_upload_url, register_field_class
from async_uploads.registry import AsyncFieldRegistry
from tests.testapp.models import other_registry


def test_missing_extra_names_the_pip_command():
    probe = (
        "import sys; sys.modules['strawberry_django'] = None\n"
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'; django.setup()\n"
        "from async_uploads.exceptions import AsyncUploadsImproperlyInstalled\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n"
        "    import async_uploads.graphql\n"
        "except AsyncUploadsImproperlyInstalled as e:\n"
        "    assert isinstance(e, ImproperlyConfigured) and isinstance(e, ImportError)\n"
        "    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'pip install "django-async-uploads[graphql]"' in result.stdout


def test_enum_values_are_field_ids_upper_cased():
    enum = field_enum()
    assert enum.TESTAPP_DOCUMENT_ATTACHMENT.value == "testapp.Document.attachment"
    assert enum.TESTAPP_PHOTO_IMAGE.value == "testapp.Photo.image"
    # Fields of another registry are not in the default one's enum.
    assert "TESTAPP_OTHERREGISTRYFILE_FILE" not in enum.__members__
    assert field_enum() is enum


def test_another_registry_gets_its_own_type_names():
    make_field = generate_upload_url

    @strawberry.type
    class Query:
        ok: bool = True

    @strawberry.type
    class Mutation:
        # Inside the class body the first line rebinds the name, so call the function by another name.
        generate_other_upload_url = make_field(other_registry)
        generate_upload_url = make_field()

    sdl = strawberry.Schema(query=Query, mutation=Mutation).as_str()
    assert "enum OtherAsyncUploadField {\n  TESTAPP_OTHERREGISTRYFILE_FILE\n}" in sdl
    assert "generateOtherUploadUrl(input: OtherGenerateUploadUrlInput!): GenerateUploadUrlPayload!" in sdl


def test_an_empty_registry_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="has no async file fields"):
        generate_upload_url(AsyncFieldRegistry("empty"))


@isolate_apps("tests.testapp")
def test_subclasses_are_mapped_once_registered():
    from django.db import models

    from async_uploads.models import AsyncFileField

    class MyFileField(AsyncFileField):
        pass

    class Thing(models.Model):
        file = MyFileField(upload_to="things/", blank=True, async_field_registry=AsyncFieldRegistry("things"))

        class Meta:
            app_label = "testapp"

    register_field_class(MyFileField)

    @strawberry_django.type(Thing)
    class ThingType:
        file: auto

    @strawberry_django.input(Thing)
    class ThingInput:
        file: auto

    @strawberry.type
    class Query:
        things: list[ThingType] = strawberry_django.field()

    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def noop(self, data: ThingInput) -> bool:
            return True

    sdl = strawberry.Schema(query=Query, mutation=Mutation).as_str()
    assert "type ThingType {\n  file: AsyncFile\n}" in sdl
    assert "input ThingInput {\n  file: AsyncFileInput\n}" in sdl
