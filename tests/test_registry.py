import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.test.utils import isolate_apps
from django.urls import reverse

from async_uploads.models import AsyncFileField
from async_uploads.registry import AsyncFieldRegistry, default_async_field_registry
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage
from tests.testapp.models import ConcreteFromAbstract, Document, OtherRegistryFile, Photo, other_registry


def test_ids_are_readable_and_stable():
    field = Document._meta.get_field("attachment")
    assert default_async_field_registry.generate_id(field) == "testapp.Document.attachment"
    assert default_async_field_registry.get_field("testapp.Document.attachment") is field


def test_every_concrete_field_registers_with_its_registry():
    ids = set(default_async_field_registry.fields_by_id)
    assert {"testapp.Document.attachment", "testapp.Document.extra", "testapp.Photo.image"} <= ids
    assert "testapp.ConcreteFromAbstract.file" in ids
    assert "testapp.OtherRegistryFile.file" not in ids
    assert set(other_registry.fields_by_id) == {"testapp.OtherRegistryFile.file"}
    assert other_registry.get_field("testapp.OtherRegistryFile.file") is OtherRegistryFile._meta.get_field("file")


def test_abstract_models_do_not_register():
    assert not any(fid.startswith("testapp.AbstractBase.") for fid in default_async_field_registry.fields_by_id)
    assert ConcreteFromAbstract._meta.get_field("file").model is ConcreteFromAbstract


def test_each_registry_has_its_own_url_namespace():
    assert default_async_field_registry.url_namespace == "async_uploads"
    assert other_registry.url_namespace == "async_uploads_other"
    assert reverse("async_uploads:generate-upload-url") == "/async-uploads/generate-upload-url/"
    assert reverse("async_uploads_other:generate-upload-url") == "/other-uploads/generate-upload-url/"
    assert reverse("async_uploads:filesystem-upload") == "/async-uploads/upload-file-direct/"


def test_get_url_patterns_returns_patterns_and_namespace_once_per_storage():
    patterns, namespace = default_async_field_registry.get_url_patterns()
    assert namespace == "async_uploads"
    names = [p.name for p in patterns]
    assert sorted(names) == [
        "download",
        "filesystem-download",
        "filesystem-upload",
        "filesystem-upload-part",
        "generate-upload-url",
        "multipart-abort",
        "multipart-complete",
        "multipart-parts",
        "multipart-sign",
        "multipart-start",
    ]


def test_registry_name_must_be_usable_as_namespace():
    with pytest.raises(ImproperlyConfigured, match="must start with a letter"):
        AsyncFieldRegistry("has:colon")


def test_colliding_ids_are_refused():
    registry = AsyncFieldRegistry("collide")
    a = Document._meta.get_field("attachment")

    class Impostor:
        model = Photo
        name = "attachment"

    registry.generate_id = lambda field: "same"  # type: ignore[method-assign]
    registry.register_field(a)
    registry.register_field(a)  # the same field again is fine
    with pytest.raises(ImproperlyConfigured, match="share the async field id"):
        registry.register_field(Impostor())  # type: ignore[arg-type]


@isolate_apps("tests.testapp")
def test_historical_models_from_migrations_are_not_registered():
    registry = AsyncFieldRegistry("fake")

    class Meta:
        app_label = "testapp"

    attrs = {
        "__module__": "__fake__",
        "Meta": Meta,
        "f": AsyncFileField(async_field_registry=registry, storage=FileSystemAsyncUploadStorage()),
    }
    type("HistoricalThing", (models.Model,), attrs)
    assert registry.fields_by_id == {}
