"""Settings of the test project. DATABASE_URL picks the database (SQLite when unset)."""

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-secret-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "async_uploads",
    "django_tasks_db",  # background moves: the database task backend and its worker
    "django_rq",  # background moves: the RQ task backend's queues and worker
    "tests.testapp",
    "tests.cloudapp",  # cloud backend tests; no migrations
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

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

# An empty DATABASE_URL (the SQLite leg of scripts/test-matrix.sh) means SQLite too.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'test.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not os.environ.get("ASYNC_UPLOADS_TEST_DB_NAME"):
    # A file (in memory where /dev/shm is), not SQLite's in-memory database: the background move
    # tests run task workers in other processes, which open the same database.
    _db_dir = tempfile.mkdtemp(prefix="async-uploads-db-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    atexit.register(shutil.rmtree, _db_dir, True)
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_db_dir, "test.sqlite3")}
# A worker process started by a test opens the test's database (tests/workers.py sets it).
if os.environ.get("ASYNC_UPLOADS_TEST_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["ASYNC_UPLOADS_TEST_DB_NAME"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].setdefault("OPTIONS", {})["charset"] = "utf8mb4"
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}

MEDIA_ROOT = os.environ.get("ASYNC_UPLOADS_TEST_MEDIA") or tempfile.mkdtemp(prefix="async-uploads-media-")
MEDIA_URL = "/media/"
STATIC_URL = "/static/"

STORAGES = {
    "default": {"BACKEND": "async_uploads.storage.filesystem.FileSystemAsyncUploadStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"async_uploads": {"handlers": ["null"], "propagate": True}},
}

# Background moves (tests/test_background_moves.py): the database backend is the default; RQ runs
# on the Redis server of 127.0.0.1 in a database of its own per xdist worker, which the tests flush.
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
RQ_QUEUE = "async-uploads-test"
RQ_QUEUES = {
    RQ_QUEUE: {
        "HOST": "127.0.0.1",
        "PORT": 6379,
        "DB": int(os.environ.get("ASYNC_UPLOADS_TEST_REDIS_DB") or 10 + int(_xdist if _xdist.isdigit() else 0)),
        "DEFAULT_TIMEOUT": 60,
    }
}
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]},
    "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [RQ_QUEUE]},
}
# A worker process started by a test gets the test's ASYNC_UPLOADS (tests/workers.py sets it).
if os.environ.get("ASYNC_UPLOADS_TEST_SETTINGS"):
    ASYNC_UPLOADS = json.loads(os.environ["ASYNC_UPLOADS_TEST_SETTINGS"])
