#!/usr/bin/env bash
# Build the wheel, check that what only a wheel can lose (migrations, templates, py.typed) ships,
# then run the suite against the installed wheel instead of the source tree, and check the
# wheel alone (no extras) works as far as it should.
# WHEEL=path checks that wheel instead of building one; WHEEL_SUITE=0 leaves the suite out (CI runs
# it in a matrix leg on the same wheel: scripts/ci-matrix.sh).
set -euo pipefail
VENV=${VENV:-.venv}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if [ -n "${WHEEL:-}" ]; then
  wheel=$WHEEL
else
  "$VENV/bin/python" -m pip wheel -q --no-deps -w "$out" . >/dev/null
  wheel=$(ls "$out"/django_async_uploads-*.whl)
fi
"$VENV/bin/python" - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = [
    "async_uploads/py.typed",
    "async_uploads/migrations/0001_initial.py",
    "async_uploads/templates/async_uploads/widgets/async_file_input.html",
    "async_uploads/static/async_uploads/async-file-input.js",
    "async_uploads/static/async_uploads/async-file-input.css",
    "async_uploads/management/commands/cleanup_async_temp_files.py",
    "async_uploads/management/commands/retry_async_file_moves.py",
    "async_uploads/management/commands/async_uploads_cors.py",
]
missing = [n for n in needed if n not in names]
if missing:
    sys.exit(f"the wheel lacks: {missing}")
print(f"wheel ok: {sys.argv[1].rsplit('/', 1)[-1]} ({len(names)} files)")
PY
if [ "${WHEEL_SUITE:-1}" != 0 ]; then
  python3 -m venv "$out/venv"
  "$out/venv/bin/python" -m pip install -q --upgrade "pip>=25.1"
  "$out/venv/bin/python" -m pip install -q "$wheel[image,s3,azure,drf,tasks]" --group dev
  # The tests import the package from site-packages: the src/ layout keeps the tree off sys.path.
  "$out/venv/bin/python" -c "import async_uploads, sys; assert 'site-packages' in async_uploads.__file__, async_uploads.__file__; print('suite runs against', async_uploads.__file__)"
  "$out/venv/bin/python" -m pytest -q -n 2 -p no:cacheprovider
fi

# The package with no extras at all: the core imports and passes Django's checks, and each
# optional layer names the pip extra that brings it.
python3 -m venv "$out/base"
"$out/base/bin/python" -m pip install -q --upgrade "pip>=25.1"
"$out/base/bin/python" -m pip install -q "$wheel"
(cd "$out" && "$out/base/bin/python" - <<'PY')
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "async_uploads"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    STORAGES={"default": {"BACKEND": "async_uploads.storage.filesystem.FileSystemAsyncUploadStorage"}},
    ROOT_URLCONF=__name__,
    SECRET_KEY="base-install-check",
)
django.setup()
from django.core.management import call_command

import async_uploads.forms, async_uploads.models, async_uploads.staticfiles  # noqa: E401,F401
import async_uploads.views  # noqa: F401
from async_uploads.exceptions import AsyncUploadsImproperlyInstalled

urlpatterns = []
call_command("check", fail_level="ERROR")
call_command("migrate", verbosity=0)
try:
    import async_uploads.graphql  # noqa: F401
except AsyncUploadsImproperlyInstalled as e:
    assert 'pip install "django-async-uploads[graphql]"' in str(e), e
else:
    raise SystemExit("async_uploads.graphql imported without strawberry-graphql-django")
for module, extra in (
    ("async_uploads.storage.s3", "s3"),
    ("async_uploads.storage.azure", "azure"),
    ("async_uploads.rest_framework", "drf"),
):
    try:
        __import__(module)
    except AsyncUploadsImproperlyInstalled as e:
        assert f'pip install "django-async-uploads[{extra}]"' in str(e), e
    else:
        raise SystemExit(f"{module} imported without its extra")
from async_uploads.tasks import tasks_api

try:
    tasks_api()
except AsyncUploadsImproperlyInstalled as e:
    assert 'pip install "django-async-uploads[tasks]"' in str(e), e
else:
    if django.VERSION < (6,):
        raise SystemExit("the Tasks API was found without the tasks extra")
print("base install ok: core without extras; the graphql, s3, azure, drf and tasks layers name their extras")
PY
