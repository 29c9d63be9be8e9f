"""Example project: SQLite and filesystem storage unless the environment says otherwise.

``DJANGO_SECRET_KEY`` is the secret key (it signs sessions and download tokens); ``DJANGO_DEBUG``
is ``1`` (the default: this is a development project) or ``0``. ``make run`` passes a key made once
per checkout (``example_project/.run/secret_key``). Without the variable, DEBUG on uses a random
key for this process and says so; DEBUG off refuses to start.
"""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0, not {os.environ[name]!r}.")


DEBUG = env_flag("DJANGO_DEBUG", default=True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG=0 the example needs a secret key of its own "
            "(it signs sessions and download URLs): set DJANGO_SECRET_KEY to a long random string."
        )
    # A fixed key in a template is a key everyone knows: anyone could forge sessions and download
    # tokens. Without one, this process makes its own (sessions do not outlive it).
    SECRET_KEY = get_random_secret_key()
    print(
        "example: DJANGO_SECRET_KEY is not set; using a random key for this process only "
        "(`make run` keeps one per checkout in example_project/.run/secret_key).",
        file=sys.stderr,
    )
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "strawberry_django",  # for its export_schema command (make schema)
    "async_uploads",
    "django_tasks_db",  # the background moves' task backend; `make run` starts its worker (db_worker)
    "example",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = None

DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "/static/"
MEDIA_ROOT = os.environ.get("EXAMPLE_MEDIA_ROOT", str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "async_uploads.storage.filesystem.FileSystemAsyncUploadStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# EXAMPLE_STORAGE=s3 or azure puts the uploads in a bucket / container instead (docs/backends.md).
# `make run` (scripts/run-example.sh) then starts moto's server / Azurite unless AWS_S3_ENDPOINT_URL /
# AZURE_CONNECTION_STRING name one, and `manage.py setup_example_storage` creates the bucket /
# container and applies the CORS rules the demo page's uploads need.
EXAMPLE_STORAGE = os.environ.get("EXAMPLE_STORAGE", "filesystem")
if EXAMPLE_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "async_uploads.storage.s3.S3AsyncUploadStorage",
        "OPTIONS": {
            "bucket_name": os.environ.get("EXAMPLE_S3_BUCKET", "example-uploads"),
            "region_name": os.environ.get("AWS_S3_REGION_NAME", "us-east-1"),
            # e.g. http://127.0.0.1:5000 for `moto_server`; unset for AWS itself
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
        },
    }
elif EXAMPLE_STORAGE == "azure":
    STORAGES["default"] = {
        "BACKEND": "async_uploads.storage.azure.AzureAsyncUploadStorage",
        "OPTIONS": {
            "azure_container": os.environ.get("EXAMPLE_AZURE_CONTAINER", "example-uploads"),
            # e.g. Azurite's: DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=...;
            # BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;
            "connection_string": os.environ.get("AZURE_CONNECTION_STRING"),
        },
    }

# Uploads of 1 MiB or more move to their permanent names in a background task (docs/background.md),
# run by the database backend's worker that `make run` starts beside the server; smaller ones move
# in the request. EXAMPLE_BACKGROUND_MOVE_MIN_SIZE=0 sends every move to the worker.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
ASYNC_UPLOADS = {
    "UPLOAD_URL_EXPIRY": 3600,
    "DOWNLOAD_URL_EXPIRY": 600,
    "MOVE_IN_BACKGROUND": True,
    "BACKGROUND_MOVE_MIN_SIZE": int(os.environ.get("EXAMPLE_BACKGROUND_MOVE_MIN_SIZE") or 1024 * 1024),
    # The demo page sends files of 5 MiB or more in parts (the package's default threshold is 100 MiB,
    # more than these fields accept), 5 MiB per part: S3's smallest. EXAMPLE_MULTIPART_PART_SIZE can
    # make parts smaller on the filesystem and Azure (S3 keeps 5 MiB).
    "MULTIPART_THRESHOLD": int(os.environ.get("EXAMPLE_MULTIPART_THRESHOLD") or 5 * 1024 * 1024),
    "MULTIPART_PART_SIZE": int(os.environ.get("EXAMPLE_MULTIPART_PART_SIZE") or 5 * 1024 * 1024),
}

LOGIN_URL = "/admin/login/"
