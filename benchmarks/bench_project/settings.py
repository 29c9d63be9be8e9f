"""One Django project holding both implementations side by side.

``bench_ours`` uses django-async-uploads (app ``async_uploads``), ``bench_ref`` uses the
reference package ``alliance-platform-storage`` (app ``alliance_platform_storage``). Each has
its own temp-file table, URL prefix and media directory.

Database: ``DATABASE_URL`` (e.g. ``postgres://postgres@127.0.0.1:5432/bench``), else a SQLite
file under ``benchmarks/.work``. The harness never touches that database itself: it runs in
Django's test database (``test_<name>``), created and dropped by ``run.py``. ``BENCH_DB_NAME``
points a child server process at that same test database.
"""

import os
from pathlib import Path

import dj_database_url

BENCH_DIR = Path(__file__).resolve().parent.parent
WORK_DIR = Path(os.environ.get("BENCH_WORK_DIR") or BENCH_DIR / ".work")
MEDIA_OURS = WORK_DIR / "media" / "ours"
MEDIA_REF = WORK_DIR / "media" / "ref"
UPLOAD_TMP = WORK_DIR / "upload-tmp"
for _directory in (MEDIA_OURS, MEDIA_REF, UPLOAD_TMP):
    _directory.mkdir(parents=True, exist_ok=True)

SECRET_KEY = "benchmark-only-secret-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    # For run.py row 11 (collectstatic). With DEBUG off its runserver (row 7's server) serves no
    # static files, and it adds no middleware.
    "django.contrib.staticfiles",
    "async_uploads",
    "alliance_platform.storage",
    "bench_ours",
    "bench_ref",
]

# The same stack serves both implementations' views.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "bench_project.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

DATABASES = {
    "default": dj_database_url.config(
        default="sqlite:///" + str(WORK_DIR / "bench.sqlite3"), conn_max_age=600, conn_health_checks=False
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so the upload server process sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(WORK_DIR / "test_bench.sqlite3")}
if os.environ.get("BENCH_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["BENCH_DB_NAME"]

# The reference's migration 0002 runs PostgreSQL-only SQL (a DO $$ block copying a legacy table):
# run only its 0001 (see bench_project/ref_migrations).
MIGRATION_MODULES = {"alliance_platform_storage": "bench_project.ref_migrations"}
# The reference's 0001 migration uses AutoField; the bench apps set their own in their AppConfigs.
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(WORK_DIR / "media" / "default")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = str(WORK_DIR / "media" / "default")
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
# Django's own multipart spooling (used by the reference's upload view) stays on the benchmark's
# disk, like our view's temporary file, so neither pays a cross-filesystem copy.
FILE_UPLOAD_TEMP_DIR = str(UPLOAD_TMP)

ALLIANCE_PLATFORM = {"CORE": {"PROJECT_DIR": BENCH_DIR}, "STORAGE": {}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# One benchmark user issues thousands of upload URLs it never saves: the quotas stay on (their
# check runs on every request, as in production) with limits no row reaches.
ASYNC_UPLOADS = {"MAX_PENDING_UPLOADS": 10**9, "MAX_PENDING_BYTES": 2**62, "MAX_UPLOAD_URLS_PER_REQUEST": 50}
