#!/usr/bin/env bash
# Build the wheel, check that what only a wheel can lose (migrations, templates, py.typed) ships,
# then run the suite against the installed wheel instead of the source tree.
set -euo pipefail
VENV=${VENV:-.venv}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$VENV/bin/python" -m pip wheel -q --no-deps -w "$out" . >/dev/null
wheel=$(ls "$out"/django_async_uploads-*.whl)
"$VENV/bin/python" - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = [
    "async_uploads/py.typed",
    "async_uploads/migrations/0001_initial.py",
    "async_uploads/templates/async_uploads/widgets/async_file_input.html",
    "async_uploads/management/commands/cleanup_async_temp_files.py",
    "async_uploads/management/commands/retry_async_file_moves.py",
    "async_uploads/management/commands/async_uploads_cors.py",
]
missing = [n for n in needed if n not in names]
if missing:
    sys.exit(f"the wheel lacks: {missing}")
print(f"wheel ok: {sys.argv[1].rsplit('/', 1)[-1]} ({len(names)} files)")
PY
python3 -m venv "$out/venv"
"$out/venv/bin/python" -m pip install -q --upgrade "pip>=25.1"
"$out/venv/bin/python" -m pip install -q "$wheel[image,s3,azure]" --group dev
# The tests import the package from site-packages: the src/ layout keeps the tree off sys.path.
"$out/venv/bin/python" -c "import async_uploads, sys; assert 'site-packages' in async_uploads.__file__, async_uploads.__file__; print('suite runs against', async_uploads.__file__)"
"$out/venv/bin/python" -m pytest -q -n 2 -p no:cacheprovider
