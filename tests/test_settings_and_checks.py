import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.test.utils import isolate_apps

from async_uploads.checks import check_registries, check_settings
from async_uploads.conf import app_settings
from async_uploads.models import AsyncFileField
from async_uploads.permissions import check_permission, default_resolve_perm_name
from async_uploads.registry import AsyncFieldRegistry
from async_uploads.storage.filesystem import FileSystemAsyncUploadStorage
from tests.testapp.models import Document


def test_defaults():
    assert app_settings.UPLOAD_URL_EXPIRY == 3600
    assert app_settings.DOWNLOAD_URL_EXPIRY == 3600


def test_settings_are_read_lazily_and_follow_override(settings):
    settings.ASYNC_UPLOADS = {"UPLOAD_URL_EXPIRY": 10}
    assert app_settings.UPLOAD_URL_EXPIRY == 10
    assert app_settings.DOWNLOAD_URL_EXPIRY == 3600
    settings.ASYNC_UPLOADS = {"UPLOAD_URL_EXPIRY": 20}
    assert app_settings.UPLOAD_URL_EXPIRY == 20


def test_unknown_keys_are_rejected_by_name(settings):
    settings.ASYNC_UPLOADS = {"UPLOAD_URL_EXPIRE": 10}
    with pytest.raises(ImproperlyConfigured, match="Invalid setting 'UPLOAD_URL_EXPIRE' for ASYNC_UPLOADS"):
        app_settings.UPLOAD_URL_EXPIRY  # noqa: B018
    assert [e.id for e in check_settings()] == ["async_uploads.E010"]


@pytest.mark.parametrize("value", [0, -5, "3600", None, True])
def test_bad_expiry_is_a_system_check_error(settings, value):
    settings.ASYNC_UPLOADS = {"DOWNLOAD_URL_EXPIRY": value}
    errors = check_settings()
    assert [e.id for e in errors] == ["async_uploads.E011"]
    assert "DOWNLOAD_URL_EXPIRY" in errors[0].msg


@pytest.mark.parametrize(
    "name", ["MULTIPART_PART_SIZE", "MULTIPART_THRESHOLD", "MULTIPART_SESSION_EXPIRY", "MULTIPART_CONCURRENCY"]
)
@pytest.mark.parametrize("value", [0, -1, "16 MB", 1.5, None, True])
def test_bad_multipart_settings_are_system_check_errors(settings, name, value):
    settings.ASYNC_UPLOADS = {name: value}
    [message] = check_settings()
    assert message.id == "async_uploads.E020"
    assert message.msg.startswith(f"ASYNC_UPLOADS[{name!r}] must be a positive whole number of ")


def test_good_multipart_settings_pass_the_checks(settings):
    settings.ASYNC_UPLOADS = {
        "MULTIPART_PART_SIZE": 8 * 1024**2,
        "MULTIPART_THRESHOLD": 1,
        "MULTIPART_SESSION_EXPIRY": 3600,
        "MULTIPART_CONCURRENCY": 1,
    }
    assert check_settings() == []


def test_uncallable_or_unimportable_permission_hooks(settings):
    settings.ASYNC_UPLOADS = {"RESOLVE_PERM_NAME": "nowhere.to.be.found"}
    assert [e.id for e in check_settings()] == ["async_uploads.E012"]
    settings.ASYNC_UPLOADS = {"CHECK_PERMISSION": 42}
    assert [e.id for e in check_settings()] == ["async_uploads.E012"]


def test_default_permission_names_follow_django():
    assert default_resolve_perm_name(Document, "create") == "testapp.add_document"
    assert default_resolve_perm_name(Document, "update") == "testapp.change_document"
    assert default_resolve_perm_name(Document, "detail") == "testapp.view_document"
    field = Document._meta.get_field("attachment")
    assert (field.perm_create, field.perm_update, field.perm_detail) == (
        "testapp.add_document",
        "testapp.change_document",
        "testapp.view_document",
    )
    assert field.perm_download == field.perm_detail


def custom_perm_name(model, action):
    return f"{model._meta.app_label}.{model._meta.model_name}_{action}"


def test_permission_names_are_replaceable_by_setting(settings):
    settings.ASYNC_UPLOADS = {"RESOLVE_PERM_NAME": "tests.test_settings_and_checks.custom_perm_name"}
    field = Document._meta.get_field("attachment")
    assert field.perm_create == "testapp.document_create"
    assert field.perm_detail == "testapp.document_detail"


def test_explicit_permissions_and_none():
    from tests.testapp.models import PublicNote

    field = PublicNote._meta.get_field("file")
    assert field.perm_create is None
    assert check_permission(None, None) is True
    assert check_permission(None, "x.y") is False


def test_permission_check_can_be_replaced(settings):
    calls = []
    settings.ASYNC_UPLOADS = {"CHECK_PERMISSION": lambda user, perm, obj: calls.append((perm, obj)) or True}
    assert check_permission("someone", "a.b", "obj") is True
    assert calls == [("a.b", "obj")]


@isolate_apps("tests.testapp")
def test_field_with_a_plain_storage_fails_the_check():
    class Bad(models.Model):
        f = AsyncFileField(storage=FileSystemStorage(), async_field_registry=AsyncFieldRegistry("bad"))

        class Meta:
            app_label = "testapp"

    errors = Bad._meta.get_field("f").check()
    assert [e.id for e in errors] == ["async_uploads.E001"]
    assert "FileSystemStorage" in errors[0].msg
    assert "FileSystemAsyncUploadStorage" in errors[0].hint


@isolate_apps("tests.testapp")
def test_too_short_max_length_and_bad_options_fail_the_check():
    registry = AsyncFieldRegistry("opts")

    class Bad(models.Model):
        short = AsyncFileField(max_length=30, async_field_registry=registry, storage=FileSystemAsyncUploadStorage())
        size = AsyncFileField(max_size=-1, async_field_registry=registry, storage=FileSystemAsyncUploadStorage())
        kinds = AsyncFileField(
            file_restrictions=["", 3], async_field_registry=registry, storage=FileSystemAsyncUploadStorage()
        )

        class Meta:
            app_label = "testapp"

    assert [e.id for e in Bad._meta.get_field("short").check()] == ["async_uploads.E003"]
    assert [e.id for e in Bad._meta.get_field("size").check()] == ["async_uploads.E004"]
    assert [e.id for e in Bad._meta.get_field("kinds").check()] == ["async_uploads.E005"]


def test_project_passes_its_checks():
    assert check_settings() == []
    assert check_registries() == []


@isolate_apps("tests.testapp")
def test_registry_without_urls_warns(monkeypatch):
    registry = AsyncFieldRegistry("unmounted")

    class Unmounted(models.Model):
        f = AsyncFileField(async_field_registry=registry, storage=FileSystemAsyncUploadStorage())

        class Meta:
            app_label = "testapp"

    from django.apps import apps as global_apps

    monkeypatch.setattr(global_apps, "get_models", lambda *a, **k: [Unmounted])
    messages = check_registries()
    assert [m.id for m in messages] == ["async_uploads.W020"]
    assert "get_url_patterns" in messages[0].hint


def test_anonymous_uploads_without_sessions_warn(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "SessionMiddleware" not in m]
    messages = check_registries()
    assert [m.id for m in messages] == ["async_uploads.W021"]
    assert isinstance(messages[0], checks.Warning)


def test_missing_extra_names_the_pip_install():
    from async_uploads.exceptions import AsyncUploadsImproperlyInstalled

    error = AsyncUploadsImproperlyInstalled("boto3", "s3")
    assert isinstance(error, ImproperlyConfigured) and isinstance(error, ImportError)
    assert 'pip install "django-async-uploads[s3]"' in str(error)


@isolate_apps("tests.testapp")
def test_suppress_pillow_check(monkeypatch):
    import sys

    from async_uploads.models import AsyncImageField

    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    registry = AsyncFieldRegistry("pillow")

    class Pictures(models.Model):
        checked = AsyncImageField(async_field_registry=registry, storage=FileSystemAsyncUploadStorage())
        quiet = AsyncImageField(
            async_field_registry=registry, storage=FileSystemAsyncUploadStorage(), suppress_pillow_check=True
        )

        class Meta:
            app_label = "testapp"

    assert [e.id for e in Pictures._meta.get_field("checked").check()] == ["fields.E210"]
    assert Pictures._meta.get_field("quiet").check() == []
