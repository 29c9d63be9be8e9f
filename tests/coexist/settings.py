"""A project with this package and the seed's published package installed side by side."""

import tempfile
from pathlib import Path

SECRET_KEY = "coexistence-test-only"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "async_uploads",
    "alliance_platform.storage",
    "tests.coexist.both",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.coexist.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
MEDIA_ROOT = tempfile.mkdtemp(prefix="coexist-media-")
STORAGES = {
    "default": {"BACKEND": "async_uploads.storage.filesystem.FileSystemAsyncUploadStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLIANCE_PLATFORM = {"CORE": {"PROJECT_DIR": Path(__file__).parent}, "STORAGE": {}}
